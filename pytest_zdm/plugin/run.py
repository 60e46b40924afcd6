"""The run's lifecycle across processes: its directory and port plan, its environment, its end.

The controller decides the run directory and the target's plan in ``pytest_configure`` and hands them to
xdist workers; the first process that needs the environment starts it (through the supervisor), and the
controller stops it exactly once in ``pytest_unconfigure``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm import redact
from pytest_zdm.environment import ZdmEnv, attach_running, start_or_attach, stop_environment
from pytest_zdm.errors import SettingError, ZdmError
from pytest_zdm.gate.rehearsal import Rehearsal
from pytest_zdm.gate.summary import VerificationSummary
from pytest_zdm.plugin import disruption, stability
from pytest_zdm.plugin.options import settings_from
from pytest_zdm.report.signoff import SignOff, WorkerNotes
from pytest_zdm.settings import Settings, paths
from pytest_zdm.targets import target_class

SETTINGS_KEY = pytest.StashKey[Settings]()

RUN_KEY = pytest.StashKey["RunContext"]()

ENV_KEY = pytest.StashKey["ZdmEnv | ZdmError"]()

#: The run's shared driver sessions, by what they reach (origin, target, proxy).
SESSIONS_KEY = pytest.StashKey[dict[str, Any]]()

SUMMARY_KEY = pytest.StashKey[VerificationSummary]()

SEEN_BASELINE_KEY = pytest.StashKey[int]()

_KEEP_RUN_DIRS = 10


@dataclass(frozen=True)
class RunContext:
    """What every process of one run (controller and xdist workers) agrees on."""

    run_id: str
    run_dir: str
    plan: dict[str, Any]
    owner_pid: int
    controller: bool
    attached: bool = False

    @property
    def baseline_path(self) -> Path:
        """Where the session's proxy-stability baseline is kept (sessions may share an environment)."""
        return Path(self.run_dir) / f"stability-baseline-{self.run_id}.json"


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings (a bad value is a usage error) and agree on the run directory."""
    try:
        settings = settings_from(config)
        cls = target_class(settings.zdm_target)
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and "zdm_run" in workerinput:
            ctx = RunContext(**workerinput["zdm_run"])
        elif settings.zdm_attach is not None:
            _check_attach(settings)
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]  # own keyspaces per session
            attached = str(settings.zdm_attach.resolve())
            ctx = RunContext(run_id, attached, {}, os.getpid(), controller=True, attached=True)
        else:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            ctx = RunContext(
                run_id=run_id,
                run_dir=str(settings.zdm_run_dir / run_id),
                plan=dict(cls.plan(settings)),  # a target checks its own settings here (e.g. zdm.toml)
                owner_pid=os.getpid(),
                controller=True,
            )
            _prune_old_runs(settings.zdm_run_dir)
        if workerinput is None:
            _check_paths(settings)
        rehearsal = Rehearsal.load(settings.zdm_rehearsal) if settings.zdm_rehearsal else None
    except ZdmError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS_KEY] = settings
    redact.register_settings(settings)
    config.stash[RUN_KEY] = ctx
    if ctx.controller:
        summary = VerificationSummary()
        config.stash[SUMMARY_KEY] = summary
        config.pluginmanager.register(summary, "zdm-verification-summary")
        config.pluginmanager.register(
            SignOff(
                config, settings, summary, Path(ctx.run_dir), ctx.run_id, plan=ctx.plan, rehearsal=rehearsal
            ),
            "zdm-signoff",
        )
    else:
        config.pluginmanager.register(WorkerNotes(config), "zdm-worker-notes")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Xdist controller: hand the run directory, port plan and owner pid to each worker."""
    ctx = node.config.stash[RUN_KEY]
    node.workerinput["zdm_run"] = {**asdict(ctx), "controller": False}


def _emitter(config: pytest.Config) -> Any:
    """Progress lines that reach the terminal even from inside a captured fixture or an xdist worker."""
    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    worker = hasattr(config, "workerinput")

    def emit(message: str) -> None:
        line = f"[pytest-zdm] {message}"
        cm = capman.global_and_fixture_disabled() if capman else None
        if cm is not None:
            cm.__enter__()
        try:
            if reporter is not None and not worker:
                reporter.ensure_newline()
                reporter.write_line(line)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        finally:
            if cm is not None:
                cm.__exit__(None, None, None)

    return emit


def environment(config: pytest.Config) -> ZdmEnv:
    """The run's environment for this process, started on first use; a start failure is remembered."""
    cached = config.stash.get(ENV_KEY, None)
    if isinstance(cached, ZdmEnv):
        return cached
    if isinstance(cached, ZdmError):
        raise cached
    ctx = config.stash[RUN_KEY]
    try:
        if ctx.attached:
            env = attach_running(Path(ctx.run_dir), config.stash[SETTINGS_KEY])
        else:
            env = start_or_attach(
                Path(ctx.run_dir),
                config.stash[SETTINGS_KEY],
                plan=ctx.plan,
                owner_pid=ctx.owner_pid,
                progress=_emitter(config),
            )
    except ZdmError as exc:
        config.stash[ENV_KEY] = exc
        raise
    config.stash[ENV_KEY] = env
    redact.register(*(c.password for c in env.credentials.values()))
    baseline = ctx.baseline_path
    if not baseline.exists():
        with disruption.hold(Path(ctx.run_dir) / "baseline.lock", exclusive=True):
            if not baseline.exists():
                stability.save(stability.take_baseline(env), baseline)
    return env


def pytest_unconfigure(config: pytest.Config) -> None:
    """Controller only: stop the environment exactly once (unless --zdm-keep)."""
    ctx = config.stash.get(RUN_KEY, None)
    settings = config.stash.get(SETTINGS_KEY, None)
    if ctx is None or settings is None or not ctx.controller or settings.zdm_keep or ctx.attached:
        return
    stop_environment(Path(ctx.run_dir))


def _check_paths(settings: Settings) -> None:
    """Where this run will write, checked now: one line naming the setting, never a late traceback."""
    if settings.zdm_attach is None:
        paths.directory("zdm_run_dir", settings.zdm_run_dir)
        paths.directory("zdm_cache_dir", settings.zdm_cache_dir)
    if settings.zdm_gate is not None:
        paths.writable_file("zdm_gate_file", settings.zdm_gate_file)


def _check_attach(settings: Settings) -> None:
    """An attached run uses the environment as it runs: another target or zdm.toml would be ignored."""
    assert settings.zdm_attach is not None
    run_dir = settings.zdm_attach
    try:
        running = json.loads((run_dir / "env.json").read_text()).get("target")
        started = json.loads((run_dir / "request.json").read_text()).get("settings", {})
    except (OSError, ValueError, AttributeError):
        return  # not a running environment: attaching says so, in one line, when the run starts
    given = settings.sources
    if given.get("zdm_target", "default") != "default" and settings.zdm_target != running:
        raise SettingError(
            f"zdm_attach: the environment in {run_dir} runs target {running!r}; expected no other zdm_target "
            f"with it, got {settings.zdm_target!r} ({given['zdm_target']})"
        )
    config = started.get("zdm_static_config")
    if given.get("zdm_static_config", "default") != "default" and (
        running != "static" or str(settings.zdm_static_config) != str(config)
    ):
        raise SettingError(
            f"zdm_attach: the environment in {run_dir} was started with its own configuration; expected "
            f"no zdm_static_config with it, got {settings.zdm_static_config} ({given['zdm_static_config']})"
        )


def _prune_old_runs(base: Path) -> None:
    """Keep the newest run directories; older ones (only those this framework made) are removed."""
    if not base.is_dir():
        return
    runs = sorted(p for p in base.iterdir() if (p / "request.json").exists() and (p / "stopped").exists())
    for old in runs[:-_KEEP_RUN_DIRS]:
        shutil.rmtree(old, ignore_errors=True)
