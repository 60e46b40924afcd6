"""Benchmark: our workload generator against latte, an established Cassandra load tool, through zdm-proxy.

One ``local`` environment (two real Cassandra 5.0 nodes and a real zdm-proxy), started by this process and
stopped at its end. The same workload is driven through the proxy by both tools, unthrottled (as fast as
the in-flight limit allows): OPS operations, READ_RATIO of them reads, the rest inserts of fresh keys with
a client timestamp into ``(k bigint PRIMARY KEY, v text)``, CONCURRENCY requests in flight on one
connection, consistency LOCAL_ONE, password login cassandra/cassandra. Ours reads keys whose write was
acknowledged; latte reads keys of earlier cycles, of which 1 - READ_RATIO were writes (the share of reads
that found a row is printed).

- ours: ``pytest_zdm.workload.run_workload`` (Python, cassandra-driver), in this process;
- latte (crate ``latte-cli``, Rust, scylla driver): a Rune script this benchmark writes, run as
  ``latte run -f write:W -f read:R -d OPS -p CONCURRENCY -t 1 -c 1``; built with ``cargo install`` into the
  artifact cache when missing (a long compile).

Each run does both, alternating which goes first; medians of ops/s and of p99 (writes and reads) are
printed, with the ratio ours / latte (issue 5's target: >= 0.5). When latte cannot run through the proxy,
its error is printed and both tools are compared straight against origin instead, labelled as such.

    PYTEST_ZDM_PROXY_BINARY=/path/to/zdm-proxy python bench/load_tool_ratio.py [--ops 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra.query import SimpleStatement
from hdrh.histogram import HdrHistogram

from pytest_zdm.environment import ZdmEnv, start_or_attach, stop_environment
from pytest_zdm.settings import resolve
from pytest_zdm.targets.local import LocalTarget
from pytest_zdm.workload import run_workload

KS = "zdm_verify_loadbench"
SCHEMA = "CREATE TABLE IF NOT EXISTS {ks}.{table} (k bigint PRIMARY KEY, v text)"
LATTE_CRATE = "latte-cli"

# The same statements as pytest_zdm.workload.generator: an insert of a fresh key with a client timestamp
# (microseconds), a read of a key written earlier in the run (80% of the earlier cycles were writes).
LATTE_SCRIPT = """\
const KEYSPACE = "%(ks)s";
const TABLE = "latte";
const KEY_BASE = latte::param!("key_base", 0);

pub async fn prepare(ctx) {
    ctx.prepare("write", `INSERT INTO ${KEYSPACE}.${TABLE} (k, v) VALUES (?, ?) USING TIMESTAMP ?`).await?;
    ctx.prepare("read", `SELECT v FROM ${KEYSPACE}.${TABLE} WHERE k = ?`).await?;
}

pub async fn write(ctx, i) {
    let ts = latte::now_timestamp() * 1000000 + i %% 1000000;
    ctx.execute_prepared("write", [KEY_BASE + i, `v${i}-${latte::hash(i) %% 4294967296}`, ts]).await?
}

pub async fn read(ctx, i) {
    ctx.execute_prepared("read", [KEY_BASE + latte::hash_range(i, i + 1)]).await?
}
"""


@dataclass
class Figures:
    """One tool's run: ops/s, p99 of writes and reads (ms), errors, client CPU s, reads that found a row."""

    ops_per_second: float
    write_p99: float
    read_p99: float
    errors: int
    cpu_seconds: float
    rows_per_read: float


def say(message: str) -> None:
    """Progress on stderr (long steps say what they do)."""
    print(f"[load-tool-ratio] {message}", file=sys.stderr, flush=True)


def latte_binary(cache_dir: Path, version: str | None) -> Path:
    """latte from the artifact cache, built with cargo install when missing."""
    root = cache_dir / "latte"
    binary = root / "bin" / "latte"
    if binary.exists():
        return binary
    if shutil.which("cargo") is None:
        raise SystemExit(f"latte is not at {binary} and cargo is not on PATH to build it ({LATTE_CRATE})")
    crate = f"{LATTE_CRATE}@{version}" if version else LATTE_CRATE
    command = ["cargo", "install", "--locked", "--root", str(root), crate]
    say(f"building latte (several minutes on 2 cores): {' '.join(command)}")
    subprocess.run(command, check=True)
    return binary


def ours(session: Any, table: str, ops: int, concurrency: int, read_ratio: float) -> Figures:
    """Our generator, unthrottled, in this process (CPU time: this process, driver threads included)."""
    cpu = time.process_time()
    result = run_workload(session, KS, table=table, count=ops, concurrency=concurrency, read_ratio=read_ratio)
    errors = len(result.ledger.entries) - result.writes.count + result.reads_failed
    rows = 1.0  # ours reads only keys whose write was acknowledged
    return Figures(
        result.ops_per_second, result.writes.p99, result.reads.p99, errors, time.process_time() - cpu, rows
    )


def latte(
    binary: Path,
    script: Path,
    endpoint: str,
    key_base: int,
    ops: int,
    concurrency: int,
    read_ratio: float,
    workdir: Path,
) -> Figures:
    """One ``latte run``; its JSON report read back. Credentials go through latte's environment variables."""
    report = workdir / f"latte-{key_base}-{time.monotonic_ns()}.json"
    command = [
        str(binary), "run", str(script), endpoint,
        "-f", f"write:{1 - read_ratio:g}", "-f", f"read:{read_ratio:g}",
        "-d", str(ops), "-w", "0", "-t", "1", "-p", str(concurrency), "-c", "1",
        "--consistency", "LOCAL_ONE", "--request-timeout", "10s", "--retries", "0",
        "-P", f"key_base={key_base}", "-q", "-o", str(report),
    ]  # fmt: skip
    env = {**os.environ, "CASSANDRA_USER": "cassandra", "CASSANDRA_PASSWORD": "cassandra"}
    proc = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"latte exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    result = json.loads(report.read_text())["result"]
    # latte keeps an HDR histogram (ns) per function: decoded, its p99 is read as ours is (hdrh)
    latency = {
        fn: HdrHistogram.decode(result["cycle_latency_by_fn"][fn]["histogram"]) for fn in ("write", "read")
    }
    return Figures(
        result["cycle_count"] / result["elapsed_time_s"],
        latency["write"].get_value_at_percentile(99) / 1e6,
        latency["read"].get_value_at_percentile(99) / 1e6,
        int(result["error_count"]),
        float(result["cpu_time_s"]),
        result["row_count"] / max(1, latency["read"].get_total_count()),
    )


def compare(
    env: ZdmEnv, cluster: str, binary: Path, script: Path, args: argparse.Namespace, workdir: Path
) -> tuple[list[Figures], list[Figures]]:
    """Warm-up, then ``args.runs`` runs of both tools against ``cluster`` (proxy or origin)."""
    client = env.connect(cluster)
    endpoint = str(env.info.endpoint(cluster))
    mine, theirs = [], []
    try:
        session = client.session
        for table in ("ours", "latte"):
            session.execute(SCHEMA.format(ks=KS, table=table))
        opts = {"concurrency": args.concurrency, "read_ratio": args.read_ratio}
        say(f"{cluster}: warm-up ({args.warmup} operations with each tool)")
        ours(session, "ours", args.warmup, **opts)
        latte(binary, script, endpoint, 0, args.warmup, workdir=workdir, **opts)
        for i in range(args.runs):
            key_base = (i + 1) << 32  # fresh keys in every run
            order = ("ours", "latte") if i % 2 == 0 else ("latte", "ours")
            for tool in order:
                if tool == "ours":
                    mine.append(ours(session, "ours", args.ops, **opts))
                else:
                    theirs.append(latte(binary, script, endpoint, key_base, args.ops,
                                        workdir=workdir, **opts))  # fmt: skip
            load = os.getloadavg()[0]
            m, t = mine[-1], theirs[-1]
            print(f"{cluster} run {i + 1} (load average {load:.1f} on {os.cpu_count()} cores): "
                  f"ours {m.ops_per_second:,.0f} ops/s (p99 w {m.write_p99:.1f} ms, r {m.read_p99:.1f} ms), "
                  f"latte {t.ops_per_second:,.0f} ops/s (p99 w {t.write_p99:.1f} ms, r {t.read_p99:.1f} ms); "
                  f"ratio {m.ops_per_second / t.ops_per_second:.2f}", flush=True)  # fmt: skip
    finally:
        client.close()
    return mine, theirs


def rows_on_both(env: ZdmEnv) -> str:
    """Rows each tool's table holds on origin and on target, read straight from each (writes landed)."""
    counts = {}
    for cluster in ("origin", "target"):
        client = env.connect(cluster, request_timeout=60)
        try:
            for table in ("ours", "latte"):  # paged key scan: COUNT(*) fails on the small-heap nodes
                statement = SimpleStatement(f"SELECT k FROM {KS}.{table}", fetch_size=5000)
                counts[cluster, table] = sum(1 for _ in client.session.execute(statement))
        finally:
            client.close()
    return ", ".join(f"{t} {counts['origin', t]:,} on origin / {counts['target', t]:,} on target"
                     for t in ("ours", "latte"))  # fmt: skip


def summary(label: str, mine: list[Figures], theirs: list[Figures], args: argparse.Namespace) -> None:
    """Medians of both tools and the ratio."""

    def med(runs: list[Figures], field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in runs))

    ratio = med(mine, "ops_per_second") / med(theirs, "ops_per_second")
    print(f"\n{label}: {args.ops:,} operations ({args.read_ratio:.0%} reads), {args.concurrency} in flight, "
          f"{args.runs} runs, medians")  # fmt: skip
    for name, runs in (("ours (pytest_zdm.workload)", mine), ("latte", theirs)):
        print(f"  {name:27} {med(runs, 'ops_per_second'):>8,.0f} ops/s  p99 writes "
              f"{med(runs, 'write_p99'):6.1f} ms  p99 reads {med(runs, 'read_p99'):6.1f} ms  "
              f"client CPU {med(runs, 'cpu_seconds'):5.1f} s  reads finding a row "
              f"{med(runs, 'rows_per_read'):4.0%}  errors {sum(r.errors for r in runs)}")  # fmt: skip
    per_run = [m.ops_per_second / t.ops_per_second for m, t in zip(mine, theirs, strict=True)]
    shown = ", ".join(f"{r:.2f}" for r in per_run)
    print(f"  ratio ours / latte (of the medians): {ratio:.2f} (target >= 0.5); median of the per-run ratios "
          f"{statistics.median(per_run):.2f}; per run: {shown}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--read-ratio", type=float, default=0.2)
    parser.add_argument("--latte-version", default=None, help="latte-cli version to build when missing")
    args = parser.parse_args()
    settings = resolve(cli={}, ini={}, environ=os.environ, rootdir=Path.cwd())
    binary = latte_binary(settings.zdm_cache_dir, args.latte_version)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    say(f"latte: {binary} ({version.strip()})")
    with tempfile.TemporaryDirectory(prefix="zdm-bench-latte-") as tmp:
        workdir = Path(tmp)
        script = workdir / "zdm_workload.rn"
        script.write_text(LATTE_SCRIPT % {"ks": KS})
        run_dir = workdir / "env"
        say("starting the local environment (two Cassandra nodes and zdm-proxy)")
        env = start_or_attach(
            run_dir, settings, plan=LocalTarget.plan(settings), owner_pid=os.getpid(), progress=say
        )
        try:
            for line in env.info.describe():
                say(line)
            proxy = env.connect("proxy")  # through the proxy: the keyspace exists on both clusters
            try:
                proxy.session.execute(
                    f"CREATE KEYSPACE IF NOT EXISTS {KS} "
                    "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
                )
            finally:
                proxy.close()
            try:
                mine, theirs = compare(env, "proxy", binary, script, args, workdir)
                summary("through zdm-proxy", mine, theirs, args)
                print(f"  rows written (warm-up included): {rows_on_both(env)}")
            except RuntimeError as exc:
                print(f"\nlatte could not run through zdm-proxy: {exc}", flush=True)
                print("fallback: both tools straight against origin (no proxy in the path)", flush=True)
                mine, theirs = compare(env, "origin", binary, script, args, workdir)
                summary("straight to origin (NOT through the proxy)", mine, theirs, args)
        finally:
            say("stopping the environment")
            stop_environment(run_dir)


if __name__ == "__main__":
    main()
