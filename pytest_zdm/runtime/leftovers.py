"""A registry of live environments, so a run after a crashed one can find and end what it left behind.

Three layers make sure nothing outlives its run: children die with the supervisor (``PR_SET_PDEATHSIG``),
the supervisor stops everything when the pytest process that owns it disappears, and this registry lets the
next run (or ``zdm-verify down --stale``) kill any process still marked with the run directory of a
supervisor that is gone. Only processes carrying this framework's marker are ever touched.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

#: Every process the framework starts carries this variable with its run directory as value.
RUN_MARKER = "PYTEST_ZDM_RUN_MARKER"


@dataclass(frozen=True)
class LiveEntry:
    """One supervisor that was alive when it registered."""

    run_dir: str
    supervisor_pid: int
    supervisor_started: float
    owner_pid: int | None
    keep: bool


def registry_dir(cache_dir: Path) -> Path:
    """Where live entries are kept (one JSON file per run)."""
    return cache_dir / "live"


def register(cache_dir: Path, entry: LiveEntry) -> Path:
    """Record a live supervisor; returns the entry file to remove at a clean stop."""
    directory = registry_dir(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{entry.supervisor_pid}-{int(entry.supervisor_started)}.json"
    path.write_text(json.dumps(asdict(entry)))
    return path


def entries(cache_dir: Path) -> list[tuple[Path, LiveEntry]]:
    """All registered entries (unreadable files are skipped)."""
    found = []
    for path in sorted(registry_dir(cache_dir).glob("*.json")):
        try:
            found.append((path, LiveEntry(**json.loads(path.read_text()))))
        except (OSError, ValueError, TypeError):
            continue
    return found


def process_alive(pid: int, started: float | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, was started at ``started`` (no PID reuse)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def marked_processes(run_dir: str) -> list[psutil.Process]:
    """Processes started by the framework for ``run_dir`` (found by their environment marker)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(RUN_MARKER) == run_dir:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def kill_marked(run_dir: str) -> list[int]:
    """SIGKILL every process marked with ``run_dir``; returns their pids."""
    killed = []
    for proc in marked_processes(run_dir):
        try:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            killed.append(proc.pid)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs([p for p in marked_processes(run_dir)], timeout=10)
    return killed


def sweep(cache_dir: Path) -> list[str]:
    """End what dead supervisors left behind; returns one line per run cleaned up."""
    cleaned = []
    for path, entry in entries(cache_dir):
        if process_alive(entry.supervisor_pid, entry.supervisor_started):
            continue  # alive: it watches its owner and stops by itself
        pids = kill_marked(entry.run_dir)
        if pids:
            cleaned.append(f"killed {len(pids)} leftover process(es) of {entry.run_dir}: {pids}")
        path.unlink(missing_ok=True)
    return cleaned


def unregister(path: Path) -> None:
    """Remove an entry at a clean stop."""
    path.unlink(missing_ok=True)


def current_process_started() -> float:
    """Start time of this process as psutil reports it (the registry's guard against PID reuse)."""
    return float(psutil.Process(os.getpid()).create_time())


def process_started(pid: int) -> float | None:
    """Start time of ``pid``, or None if it does not exist."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
