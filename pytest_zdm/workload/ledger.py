"""Every write the generator sent, with what the client was told."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

ACKNOWLEDGED = "acknowledged"
FAILED = "failed"
TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class LedgerEntry:
    """One write: its key and value, the client-side timestamp it carried, and its outcome at the client."""

    key: int
    value: str
    timestamp: int
    outcome: str
    error: str = ""


class Ledger:
    """Thread-safe append-only record (driver callbacks run on the driver's event-loop thread)."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: LedgerEntry) -> None:
        """Append one outcome."""
        with self._lock:
            self._entries.append(entry)

    @property
    def entries(self) -> list[LedgerEntry]:
        """A snapshot of the entries so far."""
        with self._lock:
            return list(self._entries)

    def count(self, outcome: str) -> int:
        """How many writes ended with ``outcome``."""
        return sum(1 for e in self.entries if e.outcome == outcome)

    def write_json_lines(self, path: Path) -> Path:
        """The ledger as evidence, one JSON object per write."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in self.entries))
        return path
