"""What a kubelet and containerd change on the host, read and undone: kernel settings, mounts, cgroups.

Used by :mod:`tooling.kube_cluster` to put the machine back as it was at stop, and to say what is left.
Everything here acts on paths and PIDs it is given or finds under the cluster's own directories; nothing
is found by a process name.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

import psutil

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def read_sysctl(key: str) -> str | None:
    """A kernel setting (``vm/overcommit_memory``), or None when it does not exist here."""
    try:
        return (Path("/proc/sys") / key).read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    """Set a kernel setting back."""
    (Path("/proc/sys") / key).write_text(value + "\n")


def port_holders(port: int) -> str:
    """Which processes listen on ``port`` (for the error that says it is taken)."""
    holders = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            try:
                holders.add(f"pid {conn.pid} ({psutil.Process(conn.pid).name()})")
            except psutil.NoSuchProcess:
                continue
    return ", ".join(sorted(holders)) or "an unknown process"


def terminate(proc: psutil.Process, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``: this process only (never a group or a name)."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            return
        psutil.wait_procs([proc], timeout=10)
    except psutil.NoSuchProcess:
        return


def terminate_pid(pid: int) -> None:
    """:func:`terminate` by PID (gone already is fine)."""
    try:
        terminate(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return


def kubepods_cgroups() -> list[Path]:
    """The ``kubepods`` cgroup of each cgroup v1 hierarchy (the kubelet's cgroupfs driver makes them)."""
    return sorted(_CGROUP_ROOT.glob("*/kubepods"))


def pod_pids() -> list[int]:
    """Processes still inside a ``kubepods`` cgroup (a pod's container outliving its runtime)."""
    pids: set[int] = set()
    for procs in _CGROUP_ROOT.glob("*/kubepods/**/cgroup.procs"):
        try:
            pids.update(int(line) for line in procs.read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(pid for pid in pids if psutil.pid_exists(pid))


def remove_cgroups(before: Iterable[str]) -> None:
    """Remove the ``kubepods`` trees made since start, deepest first (empty once their pods are gone)."""
    kept = set(before)
    for top in kubepods_cgroups():
        if str(top) in kept:
            continue
        remove_empty_tree(top)


def mounts_under(directories: Iterable[Path]) -> list[str]:
    """Mount points at or below ``directories``, from /proc/self/mounts."""
    roots = [str(d.resolve()) for d in directories]
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
    return [m for m in points if any(m == root or m.startswith(root + "/") for root in roots)]


def unmount_under(directories: Iterable[Path]) -> None:
    """Unmount everything at or below ``directories``, deepest first (lazily when busy)."""
    directories = list(directories)
    for _ in range(5):  # the kubelet bind-mounts its root onto itself: a mount may hide others
        points = mounts_under(directories)
        if not points:
            return
        for point in sorted(set(points), key=len, reverse=True):
            done = subprocess.run(["umount", point], capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def remove_empty_tree(path: Path) -> None:
    """Remove the empty directories of a tree, deepest first; anything not empty stays."""
    if not path.is_dir():
        return
    subdirs = sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for sub in [*subdirs, path]:
        try:
            sub.rmdir()
        except OSError:
            continue
