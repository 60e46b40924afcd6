"""Issue 18, process identity: a pid is acted on only when it is the process the framework started.

``zdm-verify down DIR`` killed whatever process had the pid written in ``DIR/supervisor.pid`` (reused
after a reboot, or a stale run directory), and ``down --all`` killed a stale registry entry's pid although
its start time did not match. The stand-in for the innocent process here is an unrelated ``sleep``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pytest_zdm.environment import attach_running, stop_environment
from pytest_zdm.errors import StartupError
from pytest_zdm.runtime import leftovers
from pytest_zdm.runtime.wait import wait_until
from pytest_zdm.settings import resolve


@pytest.fixture
def innocent() -> Iterator[subprocess.Popen[bytes]]:
    """A process that has nothing to do with pytest-zdm (stopped by its pid at the end)."""
    proc = subprocess.Popen(["sleep", "600"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _down(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_zdm.cli", "down", *args, f"--zdm-cache-dir={cache}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _started(pid: int) -> float:
    started = leftovers.process_started(pid)
    assert started is not None, f"pid {pid} is gone"
    return started


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.3)
    return proc.poll() is None


def _run_dir(tmp_path: Path, supervisor_pid: str) -> Path:
    run_dir = tmp_path / "runs" / "20260101-000000-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "request.json").write_text("{}")
    (run_dir / "env.json").write_text(json.dumps({"target": "local"}))
    (run_dir / "supervisor.pid").write_text(supervisor_pid)
    return run_dir


@pytest.mark.parametrize("recorded", ["bare pid (older runs)", "pid and start time"])
def test_down_spares_a_process_that_reused_the_supervisors_pid(
    tmp_path: Path, innocent: subprocess.Popen[bytes], recorded: str
) -> None:
    started = _started(innocent.pid)
    text = str(innocent.pid)
    if recorded == "pid and start time":  # the pid matches, the start time does not: a reused pid
        text = json.dumps({"pid": innocent.pid, "since_boot": started - 3600})
    run_dir = _run_dir(tmp_path, text)
    result = _down(str(run_dir), cache=tmp_path / "cache")
    assert _alive(innocent), f"down killed an unrelated process: {result.stdout} {result.stderr}"
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"already stopped: {run_dir}", result.stdout
    assert "Traceback" not in result.stderr


def test_down_all_spares_a_registry_entry_whose_start_time_differs(
    tmp_path: Path, innocent: subprocess.Popen[bytes]
) -> None:
    cache = tmp_path / "cache"
    started = _started(innocent.pid)
    run_dir = _run_dir(tmp_path, json.dumps({"pid": innocent.pid, "since_boot": started - 3600}))
    entry = leftovers.LiveEntry(str(run_dir), innocent.pid, started - 3600, owner_pid=None, keep=True)
    leftovers.register(cache, entry)
    result = _down("--all", cache=cache)
    assert _alive(innocent), f"down --all killed an unrelated process: {result.stdout}"
    assert result.returncode == 0 and f"already stopped: {run_dir}" in result.stdout, result.stdout


def test_down_all_spares_a_process_with_the_right_start_time_that_is_no_supervisor(
    tmp_path: Path, innocent: subprocess.Popen[bytes]
) -> None:
    """Start times have a resolution of a clock tick: the command line must be a supervisor's of that run."""
    cache = tmp_path / "cache"
    started = _started(innocent.pid)
    run_dir = _run_dir(tmp_path, json.dumps({"pid": innocent.pid, "since_boot": started}))
    leftovers.register(cache, leftovers.LiveEntry(str(run_dir), innocent.pid, started, None, keep=True))
    result = _down("--all", cache=cache)
    assert _alive(innocent), f"down --all killed an unrelated process: {result.stdout}"
    result = _down(str(run_dir), cache=cache)
    assert _alive(innocent), f"down killed an unrelated process: {result.stdout}"


@dataclasses.dataclass(frozen=True)
class _EntryOfRelease01:
    """The registry entry as release 0.1 reads it (``LiveEntry(**json)``, a wall-clock start)."""

    run_dir: str
    supervisor_pid: int
    supervisor_started: float
    owner_pid: int | None
    keep: bool


def test_the_registry_is_shared_safely_with_release_0_1(
    tmp_path: Path, innocent: subprocess.Popen[bytes]
) -> None:
    """One machine, two releases, one registry: neither may take the other's live supervisor for dead.

    Release 0.1 compares a wall-clock start; given this release's start since boot it would kill a live
    environment. It cannot read this release's entry (and skips what it cannot read); this release reads
    0.1's entries and matches their wall-clock start.
    """
    cache = tmp_path / "cache"
    run_dir = _run_dir(tmp_path, str(innocent.pid))
    written = leftovers.register(
        cache, leftovers.LiveEntry(str(run_dir), innocent.pid, _started(innocent.pid), None, keep=True)
    )
    with pytest.raises(TypeError):
        _EntryOfRelease01(**json.loads(written.read_text()))
    written.unlink()
    legacy = leftovers.registry_dir(cache) / f"{innocent.pid}-1.json"
    wall_clock = psutil.Process(innocent.pid).create_time()
    legacy.write_text(
        json.dumps(dataclasses.asdict(_EntryOfRelease01(str(run_dir), innocent.pid, wall_clock, None, True)))
    )
    [(_, entry)] = leftovers.entries(cache)
    assert leftovers.process_alive(entry.supervisor_pid, entry.supervisor_since_boot)
    assert leftovers.sweep(cache) == [] and legacy.exists(), "a live 0.1 entry was swept"
    assert _alive(innocent)


def test_stop_environment_and_attach_never_take_a_stranger_for_the_supervisor(
    tmp_path: Path, innocent: subprocess.Popen[bytes]
) -> None:
    run_dir = _run_dir(tmp_path, str(innocent.pid))
    assert stop_environment(run_dir, timeout=2) is False
    assert _alive(innocent)
    settings = resolve(cli={}, ini={}, environ={}, rootdir=tmp_path)
    with pytest.raises(StartupError, match="no running supervisor"):
        attach_running(run_dir, settings)


def test_the_identity_check_knows_its_own_supervisor(tmp_path: Path) -> None:
    """The positive case: a process started as the spawner starts a supervisor is recognised."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code = "import time; time.sleep(600)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "-m", leftovers.SUPERVISOR_MODULE, str(run_dir)], cwd=tmp_path
    )
    try:
        # Popen returns after the fork, possibly before the exec: until then the child's command line is
        # pytest's own (the CI saw that once). A supervisor's identity is checked long after its exec.
        wait_until(lambda: leftovers.SUPERVISOR_MODULE in psutil.Process(proc.pid).cmdline(), timeout=10,
                   what="the child's exec")  # fmt: skip
        started = _started(proc.pid)
        assert leftovers.Identity.of_supervisor(proc.pid, started, run_dir).alive()
        wall_clock = psutil.Process(proc.pid).create_time()  # as earlier versions recorded it
        assert leftovers.Identity.of_supervisor(proc.pid, wall_clock, run_dir).alive()
        assert leftovers.Identity.of_supervisor(proc.pid, None, run_dir).alive()
        assert not leftovers.Identity.of_supervisor(proc.pid, started - 5, run_dir).alive()
        assert not leftovers.Identity.of_supervisor(proc.pid, started, tmp_path / "other").alive()
        assert not leftovers.Identity.of_supervisor(os.getpid(), None, run_dir).alive()
    finally:
        proc.kill()
        proc.wait()


def test_a_step_of_the_wall_clock_does_not_make_a_live_process_look_gone(
    innocent: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor checks its owner every half second: an NTP step must not stop the environment.

    Linux recomputes the boot time it reports (``btime``) from the wall clock, so after a step every
    process's ``create_time()`` moves with it. The step is seeded where psutil reads the boot time; with
    start times taken from ``create_time()`` (as before) the owner looked gone after it.
    """
    import psutil._pslinux as pslinux

    started = _started(innocent.pid)
    before = psutil.Process(innocent.pid).create_time()
    stepped = pslinux.boot_time() + 5.0
    monkeypatch.setattr(pslinux, "boot_time", lambda: stepped)
    assert psutil.Process(innocent.pid).create_time() - before == pytest.approx(5.0), "the step is seeded"
    assert leftovers.process_alive(innocent.pid, started)
    assert leftovers.process_started(innocent.pid) == started
    assert not leftovers.process_alive(innocent.pid, started - 1.0), "another start is still told apart"


def test_a_start_time_is_read_past_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    """``/proc/PID/stat`` puts the command name, which a process may set to anything, before the fields."""
    code = (
        "import ctypes, sys, time; "
        "ctypes.CDLL(None).prctl(15, b'x) 1 2 (y', 0, 0, 0); "  # PR_SET_NAME
        "sys.stdout.write('named\\n'); sys.stdout.flush(); time.sleep(600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"named\n"
        assert psutil.Process(proc.pid).name() == "x) 1 2 (y"
        by_psutil = psutil.Process(proc.pid).create_time() - psutil.boot_time()
        assert _started(proc.pid) == pytest.approx(by_psutil, abs=0.02)
        assert leftovers.process_alive(proc.pid, _started(proc.pid))
    finally:
        proc.kill()
        proc.wait()
