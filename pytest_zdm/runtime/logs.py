"""Following a process's log file: wait for a line, show its tail (as cassandra-dtest's ``watch_log_for``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pytest_zdm.runtime.wait import wait_until


class LogWatcher:
    """Follows a log file from a mark, like cassandra-dtest's ``watch_log_for``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The current end of the file; later searches can start from here."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def search(self, pattern: str, since: int = 0) -> re.Match[str] | None:
        """The first match of ``pattern`` written after ``since``, or None."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(since)
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        return re.search(pattern, text)

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        """Wait until ``pattern`` appears after ``since``; the timeout names the pattern and file."""
        what = f"{pattern!r} in {self.path}"
        return wait_until(lambda: self.search(pattern, since), timeout=timeout, what=what, interval=0.1)

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines, for error messages and reports."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 256 * 1024))
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return f"(no log at {self.path})"
        return "\n".join(text.splitlines()[-lines:])
