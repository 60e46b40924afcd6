"""Paths a run writes to, checked for kind and writability before anything starts.

A run directory that is a file, or a gate file whose directory cannot be written, used to surface as a
traceback at the first write, the verdict of a whole run lost with it. Checked when the run is configured,
each is one line naming the setting.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from pytest_zdm.errors import SettingError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path("/")


def directory(name: str, path: Path) -> None:
    """``path`` is a directory, or can be made one: everything above it that exists is a writable directory.

    Nothing is created: a run that never starts an environment leaves no directory behind.
    """
    found = _nearest_existing(path)
    if not found.is_dir():
        what = "is a file" if found == path else f"is under {found}, which is a file"
        raise SettingError(f"{name}: expected a directory, got {path} (it {what})")
    if not os.access(found, os.W_OK | os.X_OK):
        where = "" if found == path else f" ({found} is not writable)"
        raise SettingError(f"{name}: expected a directory that can be written, got {path}{where}")


def writable_file(name: str, path: Path) -> None:
    """``path`` can be written as a file: not a directory, its directory creatable and writable.

    The directory is created and a temporary file made and removed in it, as the atomic write at the end
    of the run will do: a read-only or pseudo file system is found now, not after the run.
    """
    if path.is_dir():
        raise SettingError(f"{name}: expected the path of a file, got the directory {path}")
    directory(name, path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        raise SettingError(
            f"{name}: expected a file in a directory that can be written, got {path} ({reason})"
        ) from None
    os.close(fd)
    os.unlink(probe)
