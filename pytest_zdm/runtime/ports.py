"""Free loopback ports, so runs never collide with each other or with a crashed run's leftovers."""

from __future__ import annotations

import socket
from collections.abc import Iterable

LOOPBACK = "127.0.0.1"


def is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` and it can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, avoid: Iterable[int] = (), host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports the kernel reports free right now (ephemeral range, never reused here)."""
    taken = set(avoid)
    ports: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)  # keep each bound until all are picked so the kernel hands out distinct ones
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in taken:
                taken.add(port)
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports
