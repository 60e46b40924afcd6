"""A readers-writer lock across processes, so destructive checks never run beside other checks.

Checks that stop nodes or restart the proxy take the lock exclusively; every other check that uses the
environment takes it shared. It lives in the run directory, so xdist workers (and other pytest sessions
attached to the same environment) coordinate without relying on test scheduling: pytest-xdist's
``--dist loadgroup`` silently stopped grouping with pytest 9.2 (pytest-xdist issue 1386).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def hold(path: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the lock at ``path`` (shared or exclusive) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
