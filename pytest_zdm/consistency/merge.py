"""Merging two token-ordered row streams into differences, without looking rows up one by one.

Both clusters use the same partitioner, so a scan by token range returns partitions in the same token
order on each. Rows are grouped by token (partitions sharing a token, a hash collision, are told apart by
their key), and within a token group compared by clustering key. Memory is bounded by the largest
partition, not by the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_zdm.consistency.report import MISMATCH, MISSING_ON_ORIGIN, MISSING_ON_TARGET, Difference

Row = Sequence[Any]


@dataclass(frozen=True)
class Layout:
    """Positions of the selected columns in each scanned row (token first)."""

    partition: tuple[int, ...]
    clustering: tuple[int, ...]
    key_names: tuple[str, ...]
    static: tuple[tuple[str, int], ...]
    regular: tuple[tuple[str, int], ...]
    ttl_tolerance: float = 2.0

    def key(self, row: Row) -> tuple[Any, ...]:
        """Primary key values of a row."""
        return tuple(row[i] for i in self.partition + self.clustering)

    def key_dict(self, row: Row) -> dict[str, Any]:
        """Primary key as ``{column: value}``."""
        return dict(zip(self.key_names, self.key(row), strict=True))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _is_meta(name: str) -> str | None:
    return name.split(":", 1)[0] if ":" in name else None


def compare_rows(layout: Layout, origin: Row, target: Row, *, statics: bool) -> dict[str, tuple[Any, Any]]:
    """Columns (and cell metadata) whose values differ between the two versions of one row."""
    differing: dict[str, tuple[Any, Any]] = {}
    columns = (layout.static if statics else ()) + layout.regular
    for name, index in columns:
        a, b = origin[index], target[index]
        ttl_close = _is_meta(name) == "ttl" and a is not None and b is not None
        if ttl_close and abs(a - b) <= layout.ttl_tolerance:
            continue
        if not _equal(a, b):
            differing[name] = (a, b)
    return differing


def diff_groups(layout: Layout, origin: list[Row], target: list[Row]) -> list[Difference]:
    """Differences between the rows of one token on each cluster."""
    by_key_o = {layout.key(r): r for r in origin}
    by_key_t = {layout.key(r): r for r in target}
    seen_partitions: set[tuple[Any, ...]] = set()
    diffs: list[Difference] = []
    for key, row in by_key_o.items():
        other = by_key_t.get(key)
        if other is None:
            diffs.append(Difference(MISSING_ON_TARGET, layout.key_dict(row)))
            continue
        partition = tuple(row[i] for i in layout.partition)
        first_of_partition = partition not in seen_partitions
        seen_partitions.add(partition)
        differing = compare_rows(layout, row, other, statics=first_of_partition)
        if differing:
            diffs.append(Difference(MISMATCH, layout.key_dict(row), differing))
    for key, row in by_key_t.items():
        if key not in by_key_o:
            diffs.append(Difference(MISSING_ON_ORIGIN, layout.key_dict(row)))
    return diffs


def merge(
    layout: Layout, origin_rows: Iterable[Row], target_rows: Iterable[Row]
) -> Iterator[Difference | int]:
    """Walk both token-ordered streams once; yields differences, and counts (ints) of distinct rows seen.

    Fast path: both clusters return identical rows in identical order, so rows are compared as whole
    tuples in lockstep (one C-level comparison per row). At the first inequality, the rest of the lowest
    token's group is collected from both sides and compared by primary key; then lockstep resumes.
    """
    o_iter, t_iter = iter(origin_rows), iter(target_rows)
    o_row, t_row = next(o_iter, None), next(t_iter, None)
    matched = 0
    while o_row is not None or t_row is not None:
        if o_row is not None and o_row == t_row:
            matched += 1
            o_row, t_row = next(o_iter, None), next(t_iter, None)
            continue
        if matched:
            yield matched
            matched = 0
        token = min(r[0] for r in (o_row, t_row) if r is not None)
        o_group: list[Row] = []
        while o_row is not None and o_row[0] == token:
            o_group.append(o_row)
            o_row = next(o_iter, None)
        t_group: list[Row] = []
        while t_row is not None and t_row[0] == token:
            t_group.append(t_row)
            t_row = next(t_iter, None)
        yield len({layout.key(r) for r in o_group} | {layout.key(r) for r in t_group})
        yield from diff_groups(layout, o_group, t_group)
    if matched:
        yield matched
