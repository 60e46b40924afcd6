"""What a comparison found: differences (with both values), counts, coverage and time."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MISSING_ON_TARGET = "missing_on_target"
MISSING_ON_ORIGIN = "missing_on_origin"
MISMATCH = "mismatch"

#: How mismatched values appear in reports (``zdm_mismatch_values``): ``hashed`` shows a keyed hash, type
#: and length (equal values hash equal within a run; nothing can be read back, so reports can be uploaded
#: from CI), ``keys`` only which columns differ, ``full`` the values themselves. Keys and column names
#: are always shown: a reviewer must be able to find the row.
VALUE_MODES = ("hashed", "keys", "full")
DEFAULT_VALUES = "hashed"
#: A key for this process's hashes, never written anywhere: a short value (a flag, a first name) cannot be
#: found again by hashing candidates, as it could with a plain hash.
_HASH_KEY = os.urandom(32)


def shown_value(value: Any, mode: str) -> Any:
    """``value`` as ``mode`` lets a report show it (None, a missing cell, is always shown as such)."""
    if mode == "full" or value is None:
        return _jsonable(value)
    if mode == "keys":
        return "differs"
    data = json.dumps(_jsonable(value), sort_keys=True).encode()
    digest = hmac.new(_HASH_KEY, data, hashlib.sha256).hexdigest()[:12]
    size = f" len {len(value)}" if isinstance(value, (str, bytes, list, tuple, set, frozenset, dict)) else ""
    return f"<{type(value).__name__}{size} #{digest}>"


@dataclass(frozen=True)
class Difference:
    """One row that differs: its primary key, and for a mismatch each differing column's two values.

    Column names prefixed ``writetime:`` / ``ttl:`` are cell metadata (compared when asked for).
    """

    kind: str
    key: dict[str, Any]
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def render(self, values: str = DEFAULT_VALUES) -> dict[str, Any]:
        """JSON-safe form, values shown as ``values`` says (see :data:`VALUE_MODES`)."""
        columns: dict[str, Any] = {
            c: {"origin": shown_value(o, values), "target": shown_value(t, values)}
            for c, (o, t) in self.columns.items()
        }
        if values == "keys":
            columns = dict.fromkeys(self.columns, "differs")
        return {
            "kind": self.kind,
            "key": {k: _jsonable(v) for k, v in self.key.items()},
            "columns": columns,
            "values": values,
        }

    def to_json(self) -> dict[str, Any]:
        """:meth:`render` with the default, safe to upload (values hashed)."""
        return self.render()

    def describe(self, values: str = DEFAULT_VALUES) -> str:
        """One line for terminals and assertion messages, values shown as ``values`` says."""
        key = ", ".join(f"{k}={v!r}" for k, v in self.key.items())
        if self.kind != MISMATCH:
            return f"{self.kind}: ({key})"
        if values == "keys":
            return f"mismatch ({key}): {', '.join(self.columns)} differ (values not shown)"
        cols = "; ".join(
            f"{c}: origin {_show(o, values)}, target {_show(t, values)}" for c, (o, t) in self.columns.items()
        )
        return f"mismatch ({key}): {cols}"

    def __str__(self) -> str:
        return self.describe()


def _show(value: Any, values: str) -> str:
    return repr(value) if values == "full" else str(shown_value(value, values))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)) or type(value).__name__ == "SortedSet":
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):
        return {k: _jsonable(v) for k, v in value._asdict().items()}
    return repr(value) if isinstance(value, bytes) else str(value)


@dataclass
class Report:
    """The result of :func:`pytest_zdm.consistency.compare`."""

    keyspace: str
    table: str
    splits_total: int
    splits_scanned: int = 0
    rows_compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    found_before_recheck: int = 0
    resolved_by_recheck: int = 0
    repaired: int = 0
    not_repaired: list[str] = field(default_factory=list)
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    #: How this report shows mismatched values (:data:`VALUE_MODES`).
    values: str = DEFAULT_VALUES

    def _of(self, kind: str) -> list[Difference]:
        return [d for d in self.differences if d.kind == kind]

    @property
    def missing_on_target(self) -> list[Difference]:
        """Rows origin holds and target does not."""
        return self._of(MISSING_ON_TARGET)

    @property
    def missing_on_origin(self) -> list[Difference]:
        """Rows only on the target (invisible to a per-row lookup of origin's rows)."""
        return self._of(MISSING_ON_ORIGIN)

    @property
    def mismatched(self) -> list[Difference]:
        """Rows on both clusters whose columns (or cell metadata) differ."""
        return self._of(MISMATCH)

    @property
    def consistent(self) -> bool:
        """No persisting difference in what was scanned."""
        return not self.differences

    @property
    def rows_per_second(self) -> float:
        """Rows compared per second of wall time."""
        return self.rows_compared / self.seconds if self.seconds else 0.0

    def first_differences(self, count: int = 5) -> str:
        """The first few differences, one line, values shown as the report says."""
        return "; ".join(d.describe(self.values) for d in self.differences[:count])

    def summary(self) -> str:
        """One line for terminals and assertion messages."""
        coverage = f"{self.splits_scanned}/{self.splits_total} token ranges"
        return (
            f"{self.keyspace}.{self.table}: {self.rows_compared} rows compared ({coverage}) "
            f"in {self.seconds:.1f}s ({self.rows_per_second:,.0f} rows/s): "
            f"{len(self.missing_on_target)} missing on target, "
            f"{len(self.missing_on_origin)} missing on origin, "
            f"{len(self.mismatched)} mismatched ({self.resolved_by_recheck} of {self.found_before_recheck} "
            f"first seen resolved by the re-check)" + (f", {self.repaired} repaired" if self.repaired else "")
        )

    def write_json_lines(self, path: Path) -> Path:
        """Every difference as one JSON object per line (the attachment reviewers open)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            for diff in self.differences:
                out.write(json.dumps(diff.render(self.values), sort_keys=True) + "\n")
        return path
