"""What is collected: the built-in suites beside the user's tests, Allure labels, the gate's required checks.

The built-in suites ship inside the package (:mod:`pytest_zdm.suites`). When a run chooses a zdm target or a
gate (``--zdm-target``, ``--zdm-gate``, or ``zdm_target`` in the ini file) and pytest is given no test paths,
they are added to what pytest collects, beside the paths from ``testpaths`` or the current directory; given
explicit paths, pytest collects only those, as usual (the gate still requires the built-in checks, so a run
that leaves them out cannot PASS).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_zdm.gate import verdict as gate
from pytest_zdm.plugin.run import SETTINGS_KEY
from pytest_zdm.report import allure as allure_results


def _target_chosen(config: pytest.Config) -> bool:
    settings = config.stash[SETTINGS_KEY]
    return settings.sources.get("zdm_target", "default") != "default" or settings.zdm_gate is not None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Add the built-in suites to a run that chose a target and named no test paths."""
    settings = config.stash[SETTINGS_KEY]
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if settings.zdm_builtin_suites and not explicit and _target_chosen(config):
        suites = str(gate.builtin_suites())
        if suites not in (str(Path(a).resolve()) for a in config.args):
            config.args.append(suites)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Destructive checks last, Allure labels; in the gate's collect-only subprocess, the required checks."""
    manifest = os.environ.get(gate.MANIFEST_ENV)
    if manifest and config.option.collectonly:
        gate.write_manifest(Path(manifest), items)
        return
    settings = config.stash[SETTINGS_KEY]
    # Checks that stop or restart nodes and the proxy run last (a stable sort keeps every other order): a
    # JVM restarted a minute before stalls for seconds on a busy machine, and the measurements after it
    # (seen: the performance suite, collected after error recovery, counting 155 origin client timeouts)
    # would judge the restart instead of the migration's steady state.
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("zdm_destructive") is not None)
    allure_results.add_labels(config, items, settings.zdm_gate, settings.zdm_phase)
