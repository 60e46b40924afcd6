"""pytest-zdm: verify a Cassandra zero-downtime migration through zdm-proxy before each phase change.

Installed, it is a pytest plugin (``pytest --zdm-target=NAME``) with built-in suites
(:mod:`pytest_zdm.suites`) and a phase-change gate. The names below are its public API, for a team's own
checks and tools; they load on first use, so ``import pytest_zdm`` (which every pytest run in an
environment with the plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("pytest-zdm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

#: Public name -> module that defines it.
_API = {
    "Clusters": "pytest_zdm.assertions",
    "compare": "pytest_zdm.consistency",
    "Report": "pytest_zdm.consistency",
    "ZdmEnv": "pytest_zdm.environment",
    "ZdmError": "pytest_zdm.errors",
    "SettingError": "pytest_zdm.errors",
    "ProvisionError": "pytest_zdm.errors",
    "StartupError": "pytest_zdm.errors",
    "ControlError": "pytest_zdm.errors",
    "lint_file": "pytest_zdm.lint",
    "lint_settings": "pytest_zdm.lint",
    "Control": "pytest_zdm.model",
    "CqlEndpoint": "pytest_zdm.model",
    "Credentials": "pytest_zdm.model",
    "EnvironmentInfo": "pytest_zdm.model",
    "PHASES": "pytest_zdm.phases",
    "Settings": "pytest_zdm.settings",
    "check_ledger": "pytest_zdm.workload",
    "run_workload": "pytest_zdm.workload",
}
__all__ = ["__version__", *sorted(_API)]

if TYPE_CHECKING:
    from pytest_zdm.assertions import Clusters as Clusters
    from pytest_zdm.consistency import Report as Report
    from pytest_zdm.consistency import compare as compare
    from pytest_zdm.environment import ZdmEnv as ZdmEnv
    from pytest_zdm.errors import ControlError as ControlError
    from pytest_zdm.errors import ProvisionError as ProvisionError
    from pytest_zdm.errors import SettingError as SettingError
    from pytest_zdm.errors import StartupError as StartupError
    from pytest_zdm.errors import ZdmError as ZdmError
    from pytest_zdm.lint import lint_file as lint_file
    from pytest_zdm.lint import lint_settings as lint_settings
    from pytest_zdm.model import Control as Control
    from pytest_zdm.model import CqlEndpoint as CqlEndpoint
    from pytest_zdm.model import Credentials as Credentials
    from pytest_zdm.model import EnvironmentInfo as EnvironmentInfo
    from pytest_zdm.phases import PHASES as PHASES
    from pytest_zdm.settings import Settings as Settings
    from pytest_zdm.workload import check_ledger as check_ledger
    from pytest_zdm.workload import run_workload as run_workload


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_zdm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
