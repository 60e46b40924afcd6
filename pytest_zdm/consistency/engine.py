"""The comparison: plan token ranges, scan both clusters in parallel, merge, re-check, optionally repair."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.query import tuple_factory

from pytest_zdm.consistency.merge import Layout, Row, diff_groups, merge
from pytest_zdm.consistency.ranges import TokenRange, sample, split_ring
from pytest_zdm.consistency.report import MISMATCH, MISSING_ON_TARGET, Difference, Report
from pytest_zdm.consistency.schema import TableShape, table_shape
from pytest_zdm.errors import ZdmError

Progress = Callable[[str], None]


class RateLimiter:
    """A token bucket shared by all scanning threads: at most ``rate`` rows per second on each cluster."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self, rows: int) -> None:
        """Block until ``rows`` more rows may be read."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + rows / self.rate
        if start > now:
            time.sleep(start - now)


@dataclass(frozen=True)
class _Query:
    layout: Layout
    select: str
    token_expr: str


def _build(shape: TableShape, *, writetime: bool, ttl: bool, ttl_tolerance: float) -> _Query:
    token_expr = "token(" + ", ".join(f'"{c}"' for c in shape.partition_key) + ")"
    columns = [token_expr] + [f'"{c}"' for c in shape.key]
    static: list[tuple[str, int]] = []
    regular: list[tuple[str, int]] = []
    for name in shape.values:
        target = static if name in shape.static else regular
        target.append((name, len(columns)))
        columns.append(f'"{name}"')
        if shape.supports_cell_metadata(name):
            if writetime:
                target.append((f"writetime:{name}", len(columns)))
                columns.append(f'WRITETIME("{name}")')
            if ttl:
                target.append((f"ttl:{name}", len(columns)))
                columns.append(f'TTL("{name}")')
    p = len(shape.partition_key)
    layout = Layout(
        partition=tuple(range(1, 1 + p)),
        clustering=tuple(range(1 + p, 1 + len(shape.key))),
        key_names=shape.key,
        static=tuple(static),
        regular=tuple(regular),
        ttl_tolerance=ttl_tolerance,
    )
    return _Query(layout, f"SELECT {', '.join(columns)} FROM {shape.quoted}", token_expr)


def _pages(
    session: Any, statement: Any, params: tuple[Any, ...], profile: Any, limiter: RateLimiter | None
) -> Iterator[Row]:
    result = session.execute(statement, params, execution_profile=profile)
    while True:
        page = result.current_rows
        if limiter is not None and page:
            limiter.acquire(len(page))
        yield from page
        if not result.has_more_pages:
            return
        result.fetch_next_page()


def compare(
    origin: Any,
    target: Any,
    keyspace: str,
    table: str,
    *,
    splits: int = 64,
    token_range: tuple[int, int] | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    writetime: bool = False,
    ttl: bool = False,
    ttl_tolerance: float = 2.0,
    concurrency: int = 4,
    page_size: int = 2000,
    max_rows_per_second: float | None = None,
    recheck: bool = True,
    settle_seconds: float = 2.0,
    repair: bool = False,
    max_differences: int = 100_000,
    progress: Progress | None = None,
    engine: str = "python",
    spark: Any = None,
) -> Report:
    """Compare ``keyspace.table`` on origin and target; see :class:`Report` for what comes back.

    Reads only (unless ``repair``): the ring (or ``token_range``, or a random ``fraction`` of the splits) is
    cut into ``splits`` ranges scanned ``concurrency`` at a time, each read in token order from both
    clusters with paging and merged. Differences are re-read after ``settle_seconds`` and only those that
    persist are reported. ``repair`` writes origin's cells to the target with their original write time
    and TTL; it never deletes.

    ``engine="spark"`` runs the scan as a Spark job instead (``spark``: a SparkSession with the Spark
    Cassandra Connector; None starts one from the environment's settings for this call), with the same
    re-check, repair and report; the connector chooses its own splits and parallelism, so ``splits`` and
    ``concurrency`` do not apply, and it scans whole tables (no ``token_range`` or ``fraction``).
    See :func:`pytest_zdm.consistency.spark_engine.compare_spark`.
    """
    if engine not in ("python", "spark"):
        raise ZdmError(f"engine: expected python or spark, got {engine!r}")
    if engine == "spark":
        if token_range is not None or fraction != 1.0:
            raise ZdmError(
                "token_range, fraction: the spark engine compares whole tables; use engine='python' for a "
                "partial scan"
            )
        from pytest_zdm.consistency.spark_engine import compare_spark
        from pytest_zdm.consistency.spark_session import default_spark

        options: dict[str, Any] = {
            "writetime": writetime, "ttl": ttl, "ttl_tolerance": ttl_tolerance, "page_size": page_size,
            "max_rows_per_second": max_rows_per_second, "recheck": recheck, "settle_seconds": settle_seconds,
            "repair": repair, "max_differences": max_differences, "progress": progress,
        }  # fmt: skip
        if spark is not None:
            return compare_spark(origin, target, keyspace, table, spark=spark, **options)
        with default_spark(progress) as session:
            return compare_spark(origin, target, keyspace, table, spark=session, **options)
    began = time.monotonic()
    shape = table_shape(origin, keyspace, table, "origin")
    table_shape(target, keyspace, table, "target")  # a one-line error if the target lacks the table
    query = _build(shape, writetime=writetime or repair, ttl=ttl or repair, ttl_tolerance=ttl_tolerance)
    ranges = split_ring(splits, *token_range) if token_range else split_ring(splits)
    chosen = sample(ranges, fraction, seed)
    report = Report(
        keyspace,
        table,
        splits_total=len(ranges),
        options={
            "splits": splits,
            "fraction": fraction,
            "writetime": writetime,
            "ttl": ttl,
            "repair": repair,
        },
    )
    limiter = RateLimiter(max_rows_per_second) if max_rows_per_second else None
    sides = {}
    for name, session in (("origin", origin), ("target", target)):
        profile = _tuple_rows(session)
        first = session.prepare(f"{query.select} WHERE {query.token_expr} >= ? AND {query.token_expr} <= ?")
        rest = session.prepare(f"{query.select} WHERE {query.token_expr} > ? AND {query.token_expr} <= ?")
        first.fetch_size = rest.fetch_size = page_size
        sides[name] = (session, profile, first, rest)

    def scan(rng: TokenRange) -> tuple[int, list[Difference]]:
        streams = []
        for name in ("origin", "target"):
            session, profile, first, rest = sides[name]
            stmt = first if rng.includes_min else rest
            streams.append(_pages(session, stmt, (rng.start, rng.end), profile, limiter))
        rows, diffs = 0, list[Difference]()
        for item in merge(query.layout, streams[0], streams[1]):
            if isinstance(item, int):
                rows += item
            elif len(diffs) < max_differences:
                diffs.append(item)
        return rows, diffs

    found: list[Difference] = []
    last_report = 0.0
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(scan, rng) for rng in chosen]
        for future in as_completed(futures):
            rows, diffs = future.result()
            report.rows_compared += rows
            report.splits_scanned += 1
            found.extend(diffs)
            if progress and (time.monotonic() - last_report > 2 or report.splits_scanned == len(chosen)):
                last_report = time.monotonic()
                progress(
                    f"{keyspace}.{table}: {report.splits_scanned}/{len(chosen)} token ranges, "
                    f"{report.rows_compared} rows compared, {len(found)} differences so far"
                )
    return finish(
        origin, target, shape, query, found, report,
        recheck=recheck, reread=recheck, settle_seconds=settle_seconds, repair=repair,
        progress=progress, began=began,
    )  # fmt: skip


def finish(
    origin: Any,
    target: Any,
    shape: TableShape,
    query: _Query,
    found: list[Difference],
    report: Report,
    *,
    recheck: bool,
    reread: bool,
    settle_seconds: float,
    repair: bool,
    progress: Progress | None,
    began: float,
) -> Report:
    """The end every engine shares: the live-write re-check through the drivers, repair, the report.

    ``recheck`` waits ``settle_seconds`` first (writes in flight land); ``reread`` reads the differences
    again through the drivers even without waiting (an engine that found only keys needs their values).
    """
    report.found_before_recheck = len(found)
    if found and (recheck or reread):
        if recheck:
            if progress:
                table = f"{report.keyspace}.{report.table}"
                progress(f"{table}: re-checking {len(found)} differences after {settle_seconds:.0f}s")
            time.sleep(settle_seconds)
        found = _recheck(origin, target, shape, query, found)
    report.resolved_by_recheck = report.found_before_recheck - len(found)
    report.differences = found
    if repair and found:
        _repair(target, shape, query, origin, found, report)
    report.seconds = time.monotonic() - began
    return report


def _key_where(shape: TableShape) -> str:
    return " AND ".join(f'"{c}" = ?' for c in shape.key)


def _tuple_rows(session: Any) -> Any:
    """An execution profile like the session's default but returning plain tuples (no per-row objects)."""
    return session.execution_profile_clone_update(EXEC_PROFILE_DEFAULT, row_factory=tuple_factory)


def _read_rows(session: Any, profile: Any, shape: TableShape, diff: Difference, statement: Any) -> list[Row]:
    values = tuple(diff.key[c] for c in shape.key)
    return list(session.execute(statement, values, execution_profile=profile))


def _recheck(
    origin: Any, target: Any, shape: TableShape, query: _Query, found: list[Difference]
) -> list[Difference]:
    """Re-read each differing row from both clusters; keep only the differences that persist."""
    where = _key_where(shape)
    stmts = {
        name: s.prepare(f"{query.select} WHERE {where}")
        for name, s in (("origin", origin), ("target", target))
    }
    profiles = (_tuple_rows(origin), _tuple_rows(target))
    persisting: list[Difference] = []
    for diff in found:
        o_rows = _read_rows(origin, profiles[0], shape, diff, stmts["origin"])
        t_rows = _read_rows(target, profiles[1], shape, diff, stmts["target"])
        persisting.extend(diff_groups(query.layout, o_rows, t_rows))
    return persisting


def _repair(
    target: Any, shape: TableShape, query: _Query, origin: Any, diffs: list[Difference], report: Report
) -> None:
    """Copy origin's cells to the target with their write time and TTL; never delete anything."""
    where = _key_where(shape)
    read = origin.prepare(f"{query.select} WHERE {where}")
    names = dict(query.layout.static + query.layout.regular)
    updates: dict[str, Any] = {}
    profile = _tuple_rows(origin)
    for diff in diffs:
        if diff.kind not in (MISSING_ON_TARGET, MISMATCH):
            report.not_repaired.append(f"{diff}: the row exists only on target; repair never deletes")
            continue
        rows = _read_rows(origin, profile, shape, diff, read)
        if not rows:
            report.not_repaired.append(f"{diff}: gone from origin since the scan")
            continue
        row = rows[0]
        columns = [c for c in shape.values if diff.kind == MISSING_ON_TARGET or c in diff.columns or
                   f"writetime:{c}" in diff.columns or f"ttl:{c}" in diff.columns]  # fmt: skip
        wrote = False
        for column in columns:
            value = row[names[column]]
            if value is None:
                if diff.kind == MISMATCH:
                    report.not_repaired.append(f"{diff}: {column} is null on origin; repair never deletes")
                continue
            if f"writetime:{column}" not in names:
                report.not_repaired.append(f"{diff}: {column} has no single write time (collection/counter)")
                continue
            ts, ttl_left = row[names[f"writetime:{column}"]], row[names[f"ttl:{column}"]]
            key_columns = shape.partition_key if column in shape.static else shape.key
            if column not in updates:
                key_where = " AND ".join(f'"{c}" = ?' for c in key_columns)
                updates[column] = target.prepare(
                    f'UPDATE {shape.quoted} USING TIMESTAMP ? AND TTL ? SET "{column}" = ? WHERE {key_where}'
                )
            key_values = [diff.key[c] for c in key_columns]
            target.execute(updates[column], (int(ts), int(ttl_left or 0), value, *key_values))
            wrote = True
        report.repaired += int(wrote)
