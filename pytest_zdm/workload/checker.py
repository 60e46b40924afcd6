"""The proxy's promise, checked: every acknowledged write is on origin AND target with its value."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cassandra.concurrent import execute_concurrent_with_args

from pytest_zdm.workload.ledger import ACKNOWLEDGED, Ledger, LedgerEntry


@dataclass
class LedgerReport:
    """Acknowledged writes that are not where they must be, and where the unacknowledged ones landed."""

    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    indeterminate: dict[str, list[LedgerEntry]] = field(default_factory=lambda: defaultdict(list))

    @property
    def ok(self) -> bool:
        """Every acknowledged write is on both clusters with its value and timestamp."""
        return not self.lost

    def summary(self) -> str:
        """One line for assertion messages and reports."""
        indeterminate = ", ".join(f"{len(v)} on {k}" for k, v in sorted(self.indeterminate.items())) or "none"
        return (
            f"{self.acknowledged} acknowledged writes, {len(self.lost)} not on both clusters; "
            f"failed or timed-out writes: {indeterminate}"
        )


def _read_all(session: Any, keyspace: str, table: str, keys: list[int]) -> dict[int, tuple[str, int] | None]:
    select = session.prepare(f"SELECT v, WRITETIME(v) AS wt FROM {keyspace}.{table} WHERE k = ?")
    results = execute_concurrent_with_args(session, select, [(k,) for k in keys], concurrency=64)
    found: dict[int, tuple[str, int] | None] = {}
    for key, (ok, result) in zip(keys, results, strict=True):
        if not ok:
            raise result
        row = result.one()
        found[key] = (row.v, row.wt) if row is not None else None
    return found


def check_ledger(
    ledger: Ledger, origin: Any, target: Any, keyspace: str, table: str = "ledger"
) -> LedgerReport:
    """Read every key of the ledger straight from each cluster and hold it to the ledger."""
    entries = ledger.entries
    keys = [e.key for e in entries]
    on = {
        "origin": _read_all(origin, keyspace, table, keys),
        "target": _read_all(target, keyspace, table, keys),
    }
    report = LedgerReport()
    for entry in entries:
        held = {side: on[side][entry.key] for side in on}
        matches = {side: value == (entry.value, entry.timestamp) for side, value in held.items()}
        if entry.outcome == ACKNOWLEDGED:
            report.acknowledged += 1
            wrong = [side for side, good in matches.items() if not good]
            if wrong:
                shown = "; ".join(f"{side} holds {held[side]}" for side in wrong)
                report.lost.append(
                    f"key {entry.key} acknowledged with {entry.value!r}@{entry.timestamp}: {shown}"
                )
        else:
            where = [side for side, good in matches.items() if good]
            label = "both" if len(where) == 2 else (f"{where[0]} only" if where else "neither")
            report.indeterminate[label].append(entry)
    return report
