"""Loopback ports for the servers the framework starts, chosen so that runs never take each other's.

A port picked by binding port 0 comes from the kernel's ephemeral range, the range it also draws the source
port of every outgoing connection from, and it is free for anyone again as soon as the probe socket closes.
A Cassandra node binds its ports seconds later, a container's even later: in that window another run on the
machine (an xdist worker's environment, a nested run) could pick the same port. Two defences:

- ports come from outside the ephemeral range (port-for's "good" ports: not ephemeral, not assigned by IANA,
  away from range borders), so no outgoing connection and no ``bind(0)`` is ever handed one;
- a port in use by an environment is *reserved* by this process with a lock on its byte of one per-user lock
  file (``fcntl.lockf``), which every other process honours until :func:`release_ports` or this process's
  end (the kernel drops a dead process's locks: no stale reservation survives a crash).

What a foreign program binds meanwhile is still possible; :func:`held_by` lets a start-up confirm that the
port it waited for is served by the process it started, not by a stranger answering in its place.
"""

from __future__ import annotations

import fcntl
import functools
import os
import random
import socket
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import port_for
import psutil

LOOPBACK = "127.0.0.1"

_mutex = threading.RLock()  # reserve_ports releases what it took when it runs out
_state: dict[str, object] = {"pid": None, "fd": None}
_reserved: set[int] = set()  # ports this process holds a lock on


def lock_path() -> Path:
    """The per-user file whose bytes stand for ports (byte N locked: port N is reserved)."""
    return Path(tempfile.gettempdir()) / f"pytest-zdm-ports-{os.getuid()}.lock"


@functools.lru_cache(maxsize=1)
def _candidates() -> tuple[int, ...]:
    return tuple(sorted(port_for.available_good_ports()))


def is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` and it can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def accepts_connections(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts a TCP connection on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_ports(count: int, *, avoid: Iterable[int] = ()) -> list[int]:
    """``count`` distinct ports outside the ephemeral range, free and reserved by no one right now.

    Nothing is reserved: for a plan shown before anything starts (:func:`reserve_ports` takes them).
    """
    taken = set(avoid)
    found: list[int] = []
    for port in _shuffled():
        if len(found) == count:
            break
        if port not in taken and is_free(port) and not _reserved_elsewhere(port):
            found.append(port)
    if len(found) < count:
        raise OSError(f"no {count} free loopback ports outside the ephemeral range")
    return found


def reserve_ports(count: int, *, prefer: Sequence[int] = ()) -> list[int]:
    """Reserve ``count`` ports for this process: ``prefer[i]`` when free and unreserved, else a fresh one.

    The result keeps the order of ``prefer`` (a planned port that someone took is replaced in place).
    Release them with :func:`release_ports` when the servers using them stop.
    """
    wanted = list(prefer)[:count]
    result: list[int] = []
    with _mutex:
        fd = _lock_fd()
        for port in wanted:
            result.append(port if port not in result and _take(fd, port) else 0)
        pool = iter(_shuffled())
        for index in range(count):
            if index < len(result) and result[index]:
                continue
            port = next((p for p in pool if p not in result and _take(fd, p)), 0)
            if not port:
                release_ports([p for p in result if p])
                raise OSError(f"no {count} free loopback ports outside the ephemeral range")
            if index < len(result):
                result[index] = port
            else:
                result.append(port)
    return result


def release_ports(ports: Iterable[int]) -> None:
    """Give back ports reserved by :func:`reserve_ports` (others are ignored)."""
    with _mutex:
        fd = _lock_fd()
        for port in ports:
            if port in _reserved:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, port, os.SEEK_SET)
                _reserved.discard(port)


def held_by(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on TCP ``port`` (not merely whether someone answers there)."""
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(s.status == psutil.CONN_LISTEN and s.laddr and s.laddr.port == port for s in sockets)


def holder(port: int) -> str:
    """Who listens on ``port``, for an error message: ``pid N (name)``, or ``another process``."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def _shuffled() -> list[int]:
    ports = list(_candidates())
    random.shuffle(ports)
    return ports


def _lock_fd() -> int:
    """The lock file's descriptor in this process (reopened after a fork: record locks are not inherited).

    It is never closed: closing any descriptor of the file would drop every lock this process holds on it.
    """
    if _state["pid"] != os.getpid():
        _state["fd"] = os.open(lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        _state["pid"] = os.getpid()
        _reserved.clear()
    fd = _state["fd"]
    assert isinstance(fd, int)
    return fd


def _take(fd: int, port: int) -> bool:
    """Lock ``port``'s byte when no other process holds it and the port is free; True if now reserved."""
    if port in _reserved:
        return False  # held by another environment of this very process
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port, os.SEEK_SET)
    except OSError:
        return False
    if not is_free(port):
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, port, os.SEEK_SET)
        return False
    _reserved.add(port)
    return True


def _reserved_elsewhere(port: int) -> bool:
    """Whether another process holds ``port``'s lock (this process's own reservations count too)."""
    with _mutex:
        fd = _lock_fd()
        if port in _reserved:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port, os.SEEK_SET)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, port, os.SEEK_SET)
    return False
