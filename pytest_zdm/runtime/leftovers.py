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
#: The module a supervisor runs as (``python -m pytest_zdm.environment.supervisor RUN_DIR``).
SUPERVISOR_MODULE = "pytest_zdm.environment.supervisor"


@dataclass(frozen=True)
class Identity:
    """A process as the framework started it: pid, start time, and (a supervisor) its command line.

    A pid alone names whatever process holds it now: after a reboot, or long after a run directory was
    left behind, that is someone else's process. Before the framework signals a pid it checks that the
    process still is the one it started: same start time (when recorded) and, for a supervisor, the
    command line of a supervisor of that very run directory. The start time is the kernel's, counted
    from boot (see :func:`process_started`), so a step of the wall clock does not make a live owner look
    gone.
    """

    pid: int
    started: float | None = None
    run_dir: str | None = None

    @classmethod
    def of_supervisor(cls, pid: int, started: float | None, run_dir: Path | str) -> Identity:
        """The supervisor of ``run_dir``."""
        return cls(pid, started, os.path.abspath(run_dir))

    def process(self) -> psutil.Process | None:
        """The running process when it is this one; None when gone, a zombie or another process."""
        try:
            proc = psutil.Process(self.pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            if self.started is not None and not _started_at(proc, self.started):
                return None
            if self.run_dir is not None and not _supervises(proc, self.run_dir):
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            return None

    def alive(self) -> bool:
        """Whether this very process still runs."""
        return self.process() is not None

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if this very process still runs (psutil re-checks the pid's reuse); True if sent."""
        proc = self.process()
        if proc is None:
            return False
        try:
            proc.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return True


def _started_at(proc: psutil.Process, recorded: float) -> bool:
    """Whether ``proc`` started at ``recorded`` (seconds since boot; epoch seconds from older versions)."""
    if recorded > _EPOCH_RECORDS:  # written by a version that recorded the wall-clock start
        return abs(proc.create_time() - recorded) < 1.0
    started = process_started(proc.pid)
    return started is not None and abs(started - recorded) < _TICK_TOLERANCE


def _supervises(proc: psutil.Process, run_dir: str) -> bool:
    """Whether ``proc``'s command line is ``... -m pytest_zdm.environment.supervisor <run_dir>``."""
    cmd = proc.cmdline()
    if SUPERVISOR_MODULE not in cmd or not cmd or cmd.index(SUPERVISOR_MODULE) == len(cmd) - 1:
        return False
    given = cmd[-1]
    if not os.path.isabs(given):  # started with a relative path: relative to the process's own cwd
        given = os.path.join(proc.cwd(), given)
    return os.path.abspath(given) == run_dir


@dataclass(frozen=True)
class LiveEntry:
    """One supervisor that was alive when it registered.

    The registry is shared by every pytest-zdm on the machine, older releases included. Its start time is
    kept as ``supervisor_since_boot``: a release that recorded (and compares) wall-clock start times
    (``supervisor_started``, 0.1) cannot read such an entry and leaves it alone, instead of taking the
    supervisor for dead and killing its environment; entries of those releases are still read here.
    """

    run_dir: str
    supervisor_pid: int
    supervisor_since_boot: float
    owner_pid: int | None
    keep: bool

    def identity(self) -> Identity:
        """The supervisor this entry names, as it must still be to be signalled."""
        return Identity.of_supervisor(self.supervisor_pid, self.supervisor_since_boot, self.run_dir)

    @classmethod
    def from_json(cls, text: str) -> LiveEntry:
        """An entry as written by this or an earlier release."""
        fields = json.loads(text)
        if "supervisor_started" in fields:  # an earlier release: a wall-clock start, told apart by its size
            fields["supervisor_since_boot"] = fields.pop("supervisor_started")
        return cls(**fields)


def registry_dir(cache_dir: Path) -> Path:
    """Where live entries are kept (one JSON file per run)."""
    return cache_dir / "live"


def register(cache_dir: Path, entry: LiveEntry) -> Path:
    """Record a live supervisor; returns the entry file to remove at a clean stop."""
    directory = registry_dir(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{entry.supervisor_pid}-{int(entry.supervisor_since_boot)}.json"
    path.write_text(json.dumps(asdict(entry)))
    return path


def entries(cache_dir: Path) -> list[tuple[Path, LiveEntry]]:
    """All registered entries (unreadable files are skipped)."""
    found = []
    for path in sorted(registry_dir(cache_dir).glob("*.json")):
        try:
            found.append((path, LiveEntry.from_json(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return found


def process_alive(pid: int, started: float | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, was started at ``started`` (no PID reuse)."""
    return Identity(pid, started).alive()


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
        # Alive by pid and start time is enough to spare it: sparing is the safe mistake.
        if process_alive(entry.supervisor_pid, entry.supervisor_since_boot):
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
    """Start time of this process (see :func:`process_started`): the registry's guard against PID reuse."""
    started = process_started(os.getpid())
    assert started is not None  # this process exists
    return started


def process_started(pid: int, procfs: str = "/proc") -> float | None:
    """When ``pid`` started, in seconds since boot, or None if it does not exist.

    Read from the kernel's ``starttime`` (``/proc/PID/stat``, clock ticks since boot), which never
    changes for a process. psutil's ``create_time()`` adds the boot time, which Linux recomputes from the
    wall clock, so an NTP step moves it: the supervisor checks its owner every half second and would take
    a live owner for gone (and stop the environment) after a step of a second.
    """
    try:
        stat = Path(procfs, str(pid), "stat").read_text()
    except OSError:  # no such process (or no procfs)
        return None
    # Fields after the command name, which is in parentheses and may hold spaces and parentheses itself:
    # state is field 3, starttime field 22.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[22 - 3]) / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Start times above this are wall-clock (epoch) seconds recorded by earlier versions (2001 on).
_EPOCH_RECORDS = 1e9
#: Two reads of one process's start give the same ticks; half a tick absorbs float rounding.
_TICK_TOLERANCE = 0.5 / _CLOCK_TICKS
