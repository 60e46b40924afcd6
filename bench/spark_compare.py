"""Benchmark: the consistency engine on Spark local[2] against the one-process engine and a raw Spark read.

Two real Cassandra 5.0 clusters (no proxy: only the clusters are read) get the same table of ROWS rows,
written by Spark itself through the connector (a JVM writer, with one fixed write time, so loading a
million rows takes seconds, not minutes). In one process, alternating, several runs of:

- the one-process engine (``compare(engine="python")``, 64 splits, concurrency 4);
- the Spark engine on ``local[2]`` (``compare(engine="spark")``);
- the reference: a raw Spark read of both tables, the same columns the engine reads, in one job, into
  Spark's ``noop`` sink (every row materialized, nothing compared).

It prints rows/s (rows of one table per second) of each, the ratio Spark-compare / raw-Spark-read (goal
>= 0.7), then grows both tables to GROW rows and measures Spark again: how its time grows.

    python bench/spark_compare.py [--rows 1000000] [--grow 4000000] [--runs 3] [--grow-runs N]
        [--driver-memory 2g]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_zdm.consistency import compare
from pytest_zdm.consistency.spark_engine import connector_options, register_catalog
from pytest_zdm.consistency.spark_session import spark_session
from pytest_zdm.provision import provision_spark_connector
from pytest_zdm.settings import resolve
from pytest_zdm.targets.local.clusters import two_clusters

KS, TABLE = "zdm_verify_bench", "t"
PER_PARTITION = 20


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def create(session) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {KS} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {KS}.{TABLE} (p int, c int, v text, n bigint, PRIMARY KEY (p, c))"
    )


def load(spark, catalogs: list[str], start: int, end: int) -> float:
    """Rows [start, end) into both clusters, the same values and write time on each; returns seconds."""
    began = time.monotonic()
    rows = spark.range(start, end, numPartitions=16).selectExpr(
        f"CAST(id DIV {PER_PARTITION} AS INT) AS p",
        f"CAST(id % {PER_PARTITION} AS INT) AS c",
        "format_string('value-%09d', id) AS v",
        "id * 3 AS n",
    )
    for catalog in catalogs:
        rows.writeTo(f"{catalog}.{KS}.{TABLE}").option("writetime", "1000").append()
    return time.monotonic() - began


def raw_read(spark, catalogs: list[str]) -> float:
    """Both tables read in one job, the engine's columns, every row materialized, nothing compared."""
    began = time.monotonic()
    frames = [
        spark.table(f"{c}.{KS}.{TABLE}").selectExpr("p AS k0", "c AS k1", "v AS v0", "n AS v1")
        for c in catalogs
    ]
    frames[0].unionByName(frames[1]).write.format("noop").mode("overwrite").save()
    return time.monotonic() - began


def measure(spark, sessions, catalogs, rows: int, runs: int, python: bool) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"python": [], "spark": [], "raw": []}
    raw_read(spark, catalogs)  # warm-up: caches, JIT and connections on both sides
    for i in range(runs):
        seconds = raw_read(spark, catalogs)
        rates["raw"].append(rows / seconds)
        report = compare(
            *sessions, KS, TABLE, engine="spark", spark=spark.session if hasattr(spark, "session") else spark
        )
        assert report.consistent and report.rows_compared == rows, report.summary()
        rates["spark"].append(report.rows_compared / report.seconds)
        raw, fast = rates["raw"][-1], rates["spark"][-1]
        line = f"  run {i + 1}: raw Spark read {raw:,.0f} rows/s, Spark compare {fast:,.0f}"
        if python:
            report = compare(*sessions, KS, TABLE, splits=64, concurrency=4)
            assert report.consistent and report.rows_compared == rows, report.summary()
            rates["python"].append(report.rows_compared / report.seconds)
            line += f", one-process {rates['python'][-1]:,.0f}"
        say(line + f" (ratio Spark/raw {rates['spark'][-1] / rates['raw'][-1]:.2f})")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--grow", type=int, default=4_000_000, help="rows after growing (0: skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grow-runs", type=int, default=0, help="runs at --grow rows (0: as --runs)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    args = parser.parse_args()
    settings = resolve(cli={}, ini={}, environ={}, rootdir=Path.cwd())
    connector = provision_spark_connector(settings, say)
    conf = {"spark.driver.memory": args.driver_memory}
    with (
        tempfile.TemporaryDirectory(prefix="zdm-bench-spark-") as tmp,
        two_clusters(settings, Path(tmp), heap="1G") as c,
        spark_session(args.master, connector, conf=conf, log_dir=Path(tmp), progress=say) as spark,
    ):
        sessions = [c["origin"].session, c["target"].session]
        for s in sessions:
            create(s)
        catalogs = [
            register_catalog(spark, side, connector_options(s))[0]
            for side, s in zip(("origin", "target"), sessions, strict=True)
        ]
        say(f"loading {args.rows:,} rows into each cluster (Spark writer)")
        say(f"  loaded in {load(spark, catalogs, 0, args.rows):.0f}s")
        results = {args.rows: measure(spark, sessions, catalogs, args.rows, args.runs, python=True)}
        if args.grow > args.rows:
            say(f"growing both tables to {args.grow:,} rows")
            say(f"  loaded in {load(spark, catalogs, args.rows, args.grow):.0f}s")
            runs = args.grow_runs or args.runs
            results[args.grow] = measure(spark, sessions, catalogs, args.grow, runs, python=False)
    print(
        f"\nSpark {args.master}, driver memory {args.driver_memory}, {args.runs} runs each "
        f"({args.grow_runs or args.runs} at {args.grow:,} rows), medians (rows of one table per second):"
    )
    for rows, rates in results.items():
        med = {k: statistics.median(v) for k, v in rates.items() if v}
        parts = [f"{rows:,} rows:", f"raw Spark read {med['raw']:,.0f}", f"Spark compare {med['spark']:,.0f}"]
        if "python" in med:
            parts.append(f"one-process engine {med['python']:,.0f}")
        ratio = med["spark"] / med["raw"]
        print("  " + ", ".join(parts) + f"; ratio Spark compare / raw Spark read {ratio:.2f} (goal >= 0.7)")
        if "python" in med:
            print(f"  {rows:,} rows: Spark compare / one-process engine {med['spark'] / med['python']:.2f}")
    if len(results) == 2:
        (small, a), (big, b) = results.items()
        t_small = small / statistics.median(a["spark"])
        t_big = big / statistics.median(b["spark"])
        print(
            f"  Spark compare time {t_small:.1f}s at {small:,} rows -> {t_big:.1f}s at {big:,} rows: "
            f"x{t_big / t_small:.2f} for x{big / small:.0f} rows"
        )


if __name__ == "__main__":
    main()
