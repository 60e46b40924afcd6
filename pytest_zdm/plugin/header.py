"""What the terminal shows: the report header before anything starts, the environment at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm.model import EnvironmentInfo
from pytest_zdm.phases import describe
from pytest_zdm.plugin.run import RUN_KEY, SETTINGS_KEY, SUMMARY_KEY
from pytest_zdm.targets import target_class


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Target, endpoints and versions, before anything starts."""
    settings = config.stash[SETTINGS_KEY]
    ctx = config.stash[RUN_KEY]
    gate_line = []
    if settings.zdm_gate is not None:
        gate_line.append(
            f"zdm: gate: entering phase {describe(settings.zdm_gate)}; proxy expected in its phase "
            f"{settings.zdm_phase} configuration; verdict to {settings.zdm_gate_file}"
        )
    if ctx.attached:
        return [f"zdm: attached to the running environment in {ctx.run_dir} (it is left running)", *gate_line]
    lines = [f"zdm: target {settings.zdm_target}, run dir {ctx.run_dir}", *gate_line]
    lines += target_class(settings.zdm_target).report_header(settings, ctx.plan)
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say what was verified, what environment the run used, and whether it is still running."""
    ctx = config.stash.get(RUN_KEY, None)
    if ctx is None or not ctx.controller:
        return
    run_dir = Path(ctx.run_dir)
    env_file = run_dir / "env.json"
    summary = config.stash.get(SUMMARY_KEY, None)
    gating = config.stash[SETTINGS_KEY].zdm_gate is not None
    if summary is not None and (gating or env_file.exists() or (run_dir / "failed.txt").exists()):
        summary.write(terminalreporter)
    if not env_file.exists():
        if (run_dir / "failed.txt").exists():
            terminalreporter.section("zdm environment")
            reason = (run_dir / "failed.txt").read_text(errors="replace").splitlines() or ["(no reason)"]
            terminalreporter.write_line(f"did not start: {reason[0]} (logs in {run_dir})")
            for line in reason[1:]:  # the log tails, printed once here rather than with every check
                terminalreporter.write_line(line)
        return
    info = EnvironmentInfo.from_json(json.loads(env_file.read_text()))
    settings = config.stash[SETTINGS_KEY]
    terminalreporter.section("zdm environment")
    for line in info.describe():
        terminalreporter.write_line(line)
    if not target_class(info.target).owns_environment:
        terminalreporter.write_line(
            f"reached at fixed endpoints: nothing was started or stopped; run dir {run_dir}"
        )
    elif ctx.attached:
        terminalreporter.write_line(f"attached (--zdm-attach): left running; logs in {run_dir}")
    elif settings.zdm_keep:
        terminalreporter.write_line(
            f"left running (--zdm-keep); logs in {run_dir}; stop it with: zdm-verify down {run_dir}"
        )
    else:
        terminalreporter.write_line(f"stopped at the end of the run; logs kept in {run_dir}")
