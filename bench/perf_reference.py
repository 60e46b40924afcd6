"""Benchmark: how the performance check's reference behaves on a busy machine, old way and new way.

One ``local`` environment (two real Cassandra nodes and a real zdm-proxy), started by this process; a
CPU hog (``--hogs`` processes spinning, default 2: both cores of the build machine) runs beside it for
the whole benchmark, as another build on a CI runner would. The proxy is healthy throughout: every
overhead measured here is noise, and a measurement over the budget is a false alarm.

Each healthy gate run measures the same workload (``--ops`` operations at ``--rate`` per second, 20%
reads) and judges it as the suite does (a check over ``--budget`` is measured once more; it fails only if
both measurements are over):

- **sequential** (the check before issue 18): straight to origin, then through the proxy; overhead =
  p99(proxy) - p99(origin);
- **paired** (the check now, :func:`pytest_zdm.workload.paired.run_paired`): through the proxy and, at the
  same moments, straight to origin AND target in parallel (done when both acknowledge); the proxy's own
  overhead = p99(proxy) - p99(both); the migration's cost = p99(proxy) - p99(origin alone, read off the
  same requests).

Then ``--hang-rounds`` gate runs with the target node frozen 2 s every 8 s (the fault matrix's seeded
performance fault) show the paired checks still catch it. Prints every gate run, then medians, maxima
and false-alarm counts.

    .venv/bin/python bench/perf_reference.py [--rounds 10] [--hang-rounds 3]
        [--ops 2000] [--rate 200] [--hogs 2] [--no-sequential]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pytest_zdm.environment import start_or_attach, stop_environment
from pytest_zdm.settings import resolve
from pytest_zdm.targets.local import LocalTarget
from pytest_zdm.workload import run_workload
from pytest_zdm.workload.paired import PairedResult, run_paired

KS = "zdm_verify_perfbench"


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes spinning on a core each (stopped by pid at the end)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def hang_target(env: Any, stop: threading.Event) -> None:
    """Freeze the target node 2 s every 8 s until ``stop``."""
    while not stop.wait(6):
        env.pause_node("target")
        time.sleep(2)
        env.resume_node("target")


def sequential_overhead(s: dict[str, Any], n: int, attempt: int, args: argparse.Namespace) -> float:
    """The check before issue 18: straight to origin, then through the proxy; p99 difference in ms."""
    options = {"count": args.ops, "rate": args.rate, "seed": 100 + n}
    direct = run_workload(s["origin"], KS, table=f"seq_d{n}_{attempt}", **options)
    proxied = run_workload(s["proxy"], KS, table=f"seq_p{n}_{attempt}", **options)
    return proxied.writes.p99 - direct.writes.p99


def paired(s: dict[str, Any], n: int, attempt: int, args: argparse.Namespace, tag: str) -> PairedResult:
    """The check now: both streams side by side, as ``suites/test_performance.py`` measures them."""
    return run_paired(s["proxy"], s["origin"], s["target"], KS, proxy_table=f"{tag}_p{n}_{attempt}",
                      direct_table=f"{tag}_d{n}_{attempt}", count=args.ops, rate=args.rate,
                      seed=100 + n)  # fmt: skip


def gate(measure: Any, checks: dict[str, Any], budget: float) -> tuple[dict[str, bool], list[Any]]:
    """One gate run as the suite judges it: a check over budget is measured once more; failed if both are."""
    attempts = [measure(1)]
    if any(value(attempts[0]) > budget for value in checks.values()):
        attempts.append(measure(2))
    return {name: min(value(a) for a in attempts) > budget for name, value in checks.items()}, attempts


PAIRED_CHECKS = {
    "proxy_overhead": lambda p: p.proxy_overhead_ms,
    "migration_cost": lambda p: p.migration_cost_ms,
}


def describe(p: PairedResult) -> str:
    return (
        f"proxy_p99={p.proxied.writes.p99:.1f} both_p99={p.direct.both.p99:.1f} "
        f"origin_p99={p.direct.origin.p99:.1f} target_p99={p.direct.target.p99:.1f} "
        f"overhead={p.proxy_overhead_ms:.1f} migration={p.migration_cost_ms:.1f} "
        f"n={p.proxied.writes.count}/{p.direct.both.count} client_stall_p99={p.client_stalls.p99:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="healthy gate runs (under the hogs)")
    parser.add_argument("--hang-rounds", type=int, default=3, help="gate runs with the target freezing")
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=250.0)
    parser.add_argument("--no-sequential", action="store_true", help="skip the old check's figures")
    args = parser.parse_args()
    settings = resolve(cli={}, ini={}, environ=os.environ, rootdir=Path.cwd())
    healthy: list[dict[str, Any]] = []
    hung: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zdm-bench-perf-") as tmp:
        run_dir = Path(tmp) / "env"
        say("starting the local environment (two Cassandra nodes and zdm-proxy)")
        env = start_or_attach(run_dir, settings, plan=LocalTarget.plan(settings), owner_pid=os.getpid(),
                              progress=say)  # fmt: skip
        hogs: list[subprocess.Popen[bytes]] = []
        stop = threading.Event()
        try:
            sides = ("proxy", "origin", "target")
            clients = {side: env.connect(side, request_timeout=12.0) for side in sides}
            s = {side: c.session for side, c in clients.items()}
            s["proxy"].execute(
                f"CREATE KEYSPACE IF NOT EXISTS {KS} "
                "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            say("warm-up (quiet machine)")
            paired(s, 0, 0, args, "warm")
            hogs = start_hogs(args.hogs)
            say(f"{len(hogs)} CPU hog(s) running: pids {[h.pid for h in hogs]}")
            for n in range(1, args.rounds + 1):
                say(f"healthy gate run {n}/{args.rounds}")
                row: dict[str, Any] = {}
                if not args.no_sequential:
                    seq, seq_values = gate(lambda a, n=n: sequential_overhead(s, n, a, args),
                                           {"sequential": lambda v: v}, args.budget)  # fmt: skip
                    row["sequential"] = (seq["sequential"], seq_values)
                verdict, attempts = gate(lambda a, n=n: paired(s, n, a, args, "par"), PAIRED_CHECKS,
                                         args.budget)  # fmt: skip
                row["paired"] = (verdict, attempts)
                row["load"] = os.getloadavg()[0]
                healthy.append(row)
                seq_text = ""
                if "sequential" in row:
                    seq_text = (f"sequential overhead={[round(v, 1) for v in row['sequential'][1]]} "
                                f"{'FALSE ALARM' if row['sequential'][0] else 'pass'}; ")  # fmt: skip
                print(f"healthy {n}: load1={row['load']:.1f} {seq_text}paired "
                      + " | ".join(describe(a) for a in attempts)
                      + f" -> {'FALSE ALARM ' + str(verdict) if any(verdict.values()) else 'pass'}",
                      flush=True)  # fmt: skip
            if args.hang_rounds:
                threading.Thread(target=hang_target, args=(env, stop), daemon=True).start()
            for n in range(1, args.hang_rounds + 1):
                say(f"gate run {n}/{args.hang_rounds} with the target freezing 2 s every 8 s")
                verdict, attempts = gate(lambda a, n=n: paired(s, n, a, args, "hang"), PAIRED_CHECKS,
                                         args.budget)  # fmt: skip
                hung.append({"paired": (verdict, attempts)})
                print(f"hung {n}: paired " + " | ".join(describe(a) for a in attempts)
                      + f" -> failed: {[k for k, v in verdict.items() if v]}", flush=True)  # fmt: skip
        finally:
            stop.set()
            for hog in hogs:
                hog.kill()
                hog.wait()
            say("stopping the environment")
            stop_environment(run_dir)
    print(
        f"\n{args.ops} ops at {args.rate:.0f}/s per stream, {args.hogs} CPU hogs, budget {args.budget:.0f} ms"
    )
    firsts = [r["paired"][1][0] for r in healthy]
    for name, value in PAIRED_CHECKS.items():
        values = [value(p) for p in firsts]
        alarms = sum(1 for r in healthy if r["paired"][0][name])
        print(f"  healthy, paired {name:15s} first-measurement median {statistics.median(values):7.1f} ms "
              f"max {max(values):7.1f} ms; over budget once {sum(v > args.budget for v in values)}/"
              f"{len(values)}; false alarms (over twice) {alarms}/{len(healthy)}")  # fmt: skip
    if healthy and "sequential" in healthy[0]:
        values = [r["sequential"][1][0] for r in healthy]
        alarms = sum(1 for r in healthy if r["sequential"][0])
        print(f"  healthy, sequential (before) first-measurement median {statistics.median(values):7.1f} ms "
              f"max {max(values):7.1f} ms; over budget once {sum(v > args.budget for v in values)}/"
              f"{len(values)}; false alarms (over twice) {alarms}/{len(healthy)}")  # fmt: skip
    for name in PAIRED_CHECKS:
        caught = sum(1 for r in hung if r["paired"][0][name])
        print(f"  target freezing, paired {name:15s} failed {caught}/{len(hung)}")


if __name__ == "__main__":
    main()
