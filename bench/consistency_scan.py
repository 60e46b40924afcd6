"""Benchmark: rows compared per second by the consistency engine, against a raw scan of the same data.

Two real Cassandra 5.0 clusters (no proxy needed: only the clusters are read) each get the same table of
ROWS rows. The reference is a raw scan in the same process: the same driver, token-range splits, page size,
concurrency and row factory, reading both clusters completely and doing nothing with the rows. The ratio
(engine rate / raw rate) is the figure of merit; the issue's target is >= 0.8.

    python bench/consistency_scan.py [--rows 1000000] [--runs 3] [--splits 64] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType, tuple_factory

from pytest_zdm.consistency import compare
from pytest_zdm.consistency.ranges import split_ring
from pytest_zdm.settings import resolve
from pytest_zdm.targets.local.clusters import two_clusters

KS = "zdm_verify_bench"


def load(session, rows: int) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {KS} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(f"CREATE TABLE IF NOT EXISTS {KS}.t (p int, c int, v text, n bigint, PRIMARY KEY (p, c))")
    insert = session.prepare(f"INSERT INTO {KS}.t (p, c, v, n) VALUES (?, ?, ?, ?) USING TIMESTAMP 1000")
    per_partition = 20  # one unlogged batch per partition: 20x fewer requests than row-by-row loading
    partitions = range(0, rows // per_partition)
    chunk = 1000
    for start in range(0, len(partitions), chunk):
        batches = []
        for p in partitions[start : start + chunk]:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for c in range(per_partition):
                i = p * per_partition + c
                batch.add(insert, (p, c, f"value-{i:09d}", i * 3))
            batches.append((batch,))
        results = execute_concurrent(
            session, [(b[0], ()) for b in batches], concurrency=32, raise_on_first_error=True
        )
        assert all(ok for ok, _ in results)
        done = min(rows, (start + chunk) * per_partition)
        print(f"  loaded {done}/{rows}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def raw_scan(sessions, splits: int, concurrency: int, page_size: int) -> tuple[int, float]:
    """Read every row of both clusters, same way as the engine, and count them."""
    columns = 'token("p"), "p", "c", "v", "n"'
    prepared = []
    for s in sessions:
        profile = s.execution_profile_clone_update(EXEC_PROFILE_DEFAULT, row_factory=tuple_factory)
        first = s.prepare(f'SELECT {columns} FROM {KS}.t WHERE token("p") >= ? AND token("p") <= ?')
        rest = s.prepare(f'SELECT {columns} FROM {KS}.t WHERE token("p") > ? AND token("p") <= ?')
        first.fetch_size = rest.fetch_size = page_size
        prepared.append((s, profile, first, rest))

    def one(rng):
        count = 0
        for s, profile, first, rest in prepared:
            result = s.execute(
                first if rng.includes_min else rest, (rng.start, rng.end), execution_profile=profile
            )
            while True:
                count += len(result.current_rows)
                if not result.has_more_pages:
                    break
                result.fetch_next_page()
        return count

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        total = sum(pool.map(one, split_ring(splits)))
    return total // 2, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--splits", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    settings = resolve(cli={}, ini={}, environ={}, rootdir=Path.cwd())
    with (
        tempfile.TemporaryDirectory(prefix="zdm-bench-consistency-") as tmp,
        two_clusters(settings, Path(tmp), heap="1G") as c,
    ):
        sessions = [c["origin"].session, c["target"].session]
        for name, s in zip(("origin", "target"), sessions, strict=True):
            print(f"loading {args.rows} rows into {name}", file=sys.stderr)
            load(s, args.rows)
        raw_rates, engine_rates = [], []
        raw_scan(sessions, args.splits, args.concurrency, args.page_size)  # warm-up: caches and JIT on both
        for i in range(args.runs):
            rows, seconds = raw_scan(sessions, args.splits, args.concurrency, args.page_size)
            raw_rates.append(rows / seconds)
            report = compare(
                *sessions, KS, "t", splits=args.splits, concurrency=args.concurrency, page_size=args.page_size
            )
            assert report.consistent and report.rows_compared == args.rows, report.summary()
            engine_rates.append(report.rows_compared / report.seconds)
            print(f"run {i + 1}: raw scan {raw_rates[-1]:,.0f} rows/s, engine {engine_rates[-1]:,.0f} rows/s "
                  f"(ratio {engine_rates[-1] / raw_rates[-1]:.2f})", flush=True)  # fmt: skip
        raw, engine = statistics.median(raw_rates), statistics.median(engine_rates)
        print(
            f"\n{args.rows:,} rows, {args.splits} splits, "
            f"concurrency {args.concurrency}, page {args.page_size}"
        )
        print(f"raw scan (reference): median {raw:,.0f} rows/s over {args.runs} runs")
        print(f"consistency engine:   median {engine:,.0f} rows/s over {args.runs} runs")
        print(f"ratio engine / raw: {engine / raw:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
