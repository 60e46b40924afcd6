"""Benchmark: faults under load, judged as Jepsen judges a database: by the acknowledged writes.

A paced write/read workload runs through zdm-proxy on one ``local`` environment while a fault strikes
mid-run: the proxy SIGKILLed and restarted, the node of origin or of target SIGKILLed and restarted, the
node of origin or of target frozen (SIGSTOP) past the client's request timeout and thawed. Afterwards every
key of the workload's ledger is read straight from both clusters (:func:`pytest_zdm.workload.check_ledger`):
an acknowledged write must be on origin AND target with its value and timestamp, and a failed or timed-out
write is classified as on both, one or neither (which the protocol allows). The figure that matters is
"acknowledged but not on both": it must be 0 in every run, and a write the checker could not account for
is printed with its key and the cluster that lacks it.

    python bench/faults_under_load.py [--runs 3] [--rate 200] [--seconds 24] [--faults proxy-kill,...]

Each scenario writes its own table of the framework's keyspace; the environment is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cassandra import OperationTimedOut
from cassandra.cluster import NoHostAvailable

from pytest_zdm.environment import start_or_attach, stop_environment
from pytest_zdm.runtime.wait import wait_until
from pytest_zdm.settings import resolve
from pytest_zdm.targets.local import LocalTarget
from pytest_zdm.workload import check_ledger, run_workload
from pytest_zdm.workload.ledger import ACKNOWLEDGED

KS = "zdm_verify_faultbench"
#: The fault strikes this long after the workload began; the workload runs ``--seconds`` in all.
STRIKE_AFTER = 6.0


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def kill_proxy(env: Any) -> str:
    """SIGKILL the proxy process (no drain), then have the environment start it again."""
    pid = env.proxy_status()["pid"]
    os.kill(pid, signal.SIGKILL)  # the pid of the proxy this environment started, read from it just now
    time.sleep(1.0)
    began = time.monotonic()
    env.restart_proxy()
    return f"proxy pid {pid} SIGKILLed, back in {time.monotonic() - began:.1f}s"


def kill_node(cluster: str) -> Callable[[Any], str]:
    def fault(env: Any) -> str:
        env.kill_node(cluster)
        time.sleep(3.0)
        began = time.monotonic()
        env.start_node(cluster)
        return (
            f"{cluster} node SIGKILLed for 3 s, accepting logins again after {time.monotonic() - began:.1f}s"
        )

    return fault


def pause_node(cluster: str, seconds: float) -> Callable[[Any], str]:
    def fault(env: Any) -> str:
        env.pause_node(cluster)
        time.sleep(seconds)
        env.resume_node(cluster)
        return f"{cluster} node frozen (SIGSTOP) {seconds:.0f} s"

    return fault


def scenarios(timeout: float) -> dict[str, Callable[[Any], str]]:
    past = timeout + 2.0  # past the client's request timeout: its in-flight writes time out
    return {
        "proxy-kill": kill_proxy,
        "origin-kill": kill_node("origin"),
        "target-kill": kill_node("target"),
        "origin-pause": pause_node("origin", past),
        "target-pause": pause_node("target", past),
    }


def run_one(env: Any, sessions: dict[str, Any], name: str, fault: Callable[[Any], str], n: int,
            args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """The workload with ``fault`` striking mid-run, then the ledger held against both clusters."""
    table = f"{name.replace('-', '_')}_{n}"
    struck: list[str] = []

    def strike() -> None:
        time.sleep(STRIKE_AFTER)
        try:
            struck.append(fault(env))
        except Exception as exc:  # the bench reports a fault it could not inject, and goes on
            struck.append(f"fault not completed: {exc}")

    injector = threading.Thread(target=strike, name=f"fault-{name}")
    injector.start()
    result = run_workload(sessions["proxy"], KS, table=table, duration=args.seconds, rate=args.rate,
                          timeout=args.timeout, seed=n, count=10_000_000)  # fmt: skip
    injector.join()
    # After a node's restart the direct sessions reconnect in the background: read once they can.
    report = wait_until(
        lambda: check_ledger(result.ledger, sessions["origin"], sessions["target"], KS, table),
        timeout=120, interval=2.0, retry_on=(NoHostAvailable, OperationTimedOut),
        what=f"{table}'s ledger read straight from both clusters",
    )  # fmt: skip
    entries = result.ledger.entries
    acknowledged = result.ledger.count(ACKNOWLEDGED)
    return {
        "scenario": name,
        "fault": struck[0] if struck else "?",
        "writes": len(entries),
        "acknowledged": acknowledged,
        "not_acknowledged": len(entries) - acknowledged,
        "lost": report.lost,
        "summary": report.summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every scenario")
    parser.add_argument("--rate", type=float, default=200.0, help="operations per second (20% reads)")
    parser.add_argument("--seconds", type=float, default=24.0, help="length of each workload")
    parser.add_argument("--timeout", type=float, default=10.0, help="the client's request timeout, s")
    parser.add_argument("--faults", default="", help="comma-separated scenarios (default: all)")
    parser.add_argument(
        "--fast-boot", action="store_true", help="the lab's fast-boot properties (a killed node loses schema)"
    )
    args = parser.parse_args()
    chosen = scenarios(args.timeout)
    if args.faults:
        chosen = {k: v for k, v in chosen.items() if k in args.faults.split(",")}
    # Cassandra's stock start-up settings: the lab's fast-boot properties include cassandra.unsafesystem
    # (schema changes skip the commitlog), with which a SIGKILLed node comes back without the keyspaces
    # and tables created since its last flush, and drops the writes it replays for them. A test lab's
    # shortcut, not a cluster's behaviour: this bench is about what the proxy acknowledged.
    fast = "true" if args.fast_boot else "false"
    settings = resolve(cli={"zdm_fast_boot": fast}, ini={}, environ=os.environ, rootdir=Path.cwd())
    rows: list[dict[str, Any]] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zdm-bench-faults-") as tmp:
        run_dir = Path(tmp) / "env"
        say("starting the local environment (two Cassandra nodes and zdm-proxy)")
        env = start_or_attach(run_dir, settings, plan=LocalTarget.plan(settings), owner_pid=os.getpid(),
                              progress=say)  # fmt: skip
        try:
            clients = {side: env.connect(side, request_timeout=args.timeout) for side in
                       ("proxy", "origin", "target")}  # fmt: skip
            sessions = {side: c.session for side, c in clients.items()}
            sessions["proxy"].execute(
                f"CREATE KEYSPACE IF NOT EXISTS {KS} "
                "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            for n in range(1, args.runs + 1):
                for name, fault in chosen.items():
                    say(f"run {n}/{args.runs}: {name}, {args.seconds:.0f} s at {args.rate:.0f}/s")
                    row = run_one(env, sessions, name, fault, n, args)
                    rows.append(row)
                    say(f"  {row['fault']}; {row['summary']}")
                    for line in row["lost"][:10]:
                        say(f"  LOST: {line}")
            for client in clients.values():
                client.close()
        finally:
            say("stopping the environment")
            stop_environment(run_dir)
    print(f"\nfaults under load: {args.runs} run(s) per scenario, {args.seconds:.0f} s at {args.rate:.0f}/s "
          f"(20% reads), client timeout {args.timeout:.0f} s, fault {STRIKE_AFTER:.0f} s in; "
          f"{time.monotonic() - began:.0f} s in all")  # fmt: skip
    print("| scenario | writes (median) | acknowledged (median) | not acknowledged (median) | "
          "acknowledged but not on both (all runs) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name in chosen:
        mine = [r for r in rows if r["scenario"] == name]
        if not mine:
            continue
        print(f"| {name} | {statistics.median(r['writes'] for r in mine):.0f} | "
              f"{statistics.median(r['acknowledged'] for r in mine):.0f} | "
              f"{statistics.median(r['not_acknowledged'] for r in mine):.0f} | "
              f"{sum(len(r['lost']) for r in mine)} |")  # fmt: skip
    lost = sum(len(r["lost"]) for r in rows)
    print(f"\nacknowledged writes not on both clusters: {lost} in {len(rows)} runs "
          "(each printed above, LOST, with its key and the cluster that lacks it)")  # fmt: skip
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
