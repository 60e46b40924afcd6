"""Benchmark: how the performance check's reference behaves on a busy machine, old way and new way.

One ``local`` environment (two real Cassandra nodes and a real zdm-proxy), started by this process; a
CPU hog (``--hogs`` processes spinning, default 2: both cores of the build machine) runs beside it for
the whole benchmark, as another build on a CI runner would. The proxy is healthy throughout: every
overhead measured here is noise, and a measurement over the budget is a false alarm.

Per round, the same workload (``--ops`` operations at ``--rate`` per second, 20% reads) is measured:

- **sequential** (the check before issue 18): straight to origin, then through the proxy; overhead =
  p99(proxy) - p99(origin);
- **paired** (the check now, :func:`pytest_zdm.workload.paired.run_paired`): through the proxy and, at the
  same moments, straight to origin AND target in parallel (done when both acknowledge); the proxy's own
  overhead = p99(proxy) - p99(both); the target's cost = p99(both) - p99(origin alone, read off the same
  requests).

With ``--hang`` the target node is also frozen 2 s every 8 s (the fault matrix's seeded performance fault)
to show the paired figures still see it. Prints every round and the medians, maxima and false-alarm
counts against ``--budget``.

    python bench/perf_reference.py [--rounds 10] [--ops 2000] [--rate 200] [--hogs 2] [--hang]
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
from pytest_zdm.workload.paired import run_paired

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--budget", type=float, default=250.0)
    parser.add_argument("--hang", action="store_true", help="freeze the target 2 s every 8 s")
    args = parser.parse_args()
    settings = resolve(cli={}, ini={}, environ=os.environ, rootdir=Path.cwd())
    rows: list[dict[str, float]] = []
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
            say("warm-up")
            run_paired(s["proxy"], s["origin"], s["target"], KS, proxy_table="warm_p", direct_table="warm_d",
                       count=1000, rate=args.rate, seed=1)  # fmt: skip
            hogs = start_hogs(args.hogs)
            say(f"{len(hogs)} CPU hog(s) running: pids {[h.pid for h in hogs]}")
            if args.hang:
                threading.Thread(target=hang_target, args=(env, stop), daemon=True).start()
            for n in range(1, args.rounds + 1):
                options = {"count": args.ops, "rate": args.rate, "seed": 100 + n}
                direct = run_workload(s["origin"], KS, table=f"seq_d{n}", **options)
                proxied = run_workload(s["proxy"], KS, table=f"seq_p{n}", **options)
                paired = run_paired(s["proxy"], s["origin"], s["target"], KS, proxy_table=f"par_p{n}",
                                    direct_table=f"par_d{n}", **options)  # fmt: skip
                row = {
                    "seq_direct_p99": direct.writes.p99,
                    "seq_proxy_p99": proxied.writes.p99,
                    "seq_overhead": proxied.writes.p99 - direct.writes.p99,
                    "proxy_p99": paired.proxied.writes.p99,
                    "both_p99": paired.direct.both.p99,
                    "origin_p99": paired.direct.origin.p99,
                    "target_p99": paired.direct.target.p99,
                    "proxy_own": paired.proxied.writes.p99 - paired.direct.both.p99,
                    "target_cost": paired.direct.both.p99 - paired.direct.origin.p99,
                    "total_paired": paired.proxied.writes.p99 - paired.direct.origin.p99,
                    "origin_p50": paired.direct.origin.p50,
                    "n_proxy": paired.proxied.writes.count,
                    "n_both": paired.direct.both.count,
                    "load": os.getloadavg()[0],
                }
                rows.append(row)
                print(f"round {n}: " + " ".join(f"{k}={v:.1f}" for k, v in row.items()), flush=True)
        finally:
            stop.set()
            for hog in hogs:
                hog.kill()
                hog.wait()
            say("stopping the environment")
            stop_environment(run_dir)
    print(f"\n{len(rows)} rounds, {args.ops} ops at {args.rate:.0f}/s each, {args.hogs} hogs, "
          f"hang={args.hang}, budget {args.budget:.0f} ms")  # fmt: skip
    for key in ("seq_overhead", "proxy_own", "target_cost", "total_paired", "origin_p50", "origin_p99"):
        values = [r[key] for r in rows]
        over = sum(1 for v in values if v > args.budget)
        print(f"  {key:14s} median {statistics.median(values):8.1f} ms  max {max(values):8.1f} ms  "
              f"min {min(values):8.1f} ms  over budget: {over}/{len(values)}")  # fmt: skip


if __name__ == "__main__":
    main()
