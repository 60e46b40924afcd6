"""Target registry: ``--zdm-target`` names map to :class:`~pytest_zdm.targets.base.Target` classes.

The names are :data:`pytest_zdm.settings.TARGET_NAMES` (the one list). Each name is a package here that
exports ``TARGETS`` (``kind`` lives in the ``kube`` package: a kind cluster is a Kubernetes cluster with a
naming convention). Packages are imported when a target is used, so a target's dependencies (docker-py,
the kubernetes client) load only then.
"""

from __future__ import annotations

import importlib

from pytest_zdm.errors import SettingError
from pytest_zdm.settings import TARGET_NAMES
from pytest_zdm.targets.base import Target

_PACKAGE = {"kind": "kube"}


def target_class(name: str) -> type[Target]:
    """The class behind a target name."""
    if name not in TARGET_NAMES:
        raise SettingError(f"zdm_target: expected one of {', '.join(TARGET_NAMES)}, got {name!r}")
    module = importlib.import_module(f"pytest_zdm.targets.{_PACKAGE.get(name, name)}")
    targets: dict[str, type[Target]] = module.TARGETS
    return targets[name]
