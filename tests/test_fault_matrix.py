"""The seeded-fault matrix: every check of the suites is shown to fail against a real, seeded fault.

One real environment (two Cassandra nodes and zdm-proxy) is started for the module. For each fault it is
damaged on purpose (proxy reconfigured with ignored settings or pointed at the wrong cluster, a row
written to one cluster only, a node killed, the proxy restarted over and over...), the real ``suites/``
are run against it in a separate pytest process (``--zdm-attach``), and the outcome of every check is
recorded. Expected failures are asserted with their messages; then every check must have failed in at
least one row. The matrix is written to ``reports/fault-matrix.md`` (the README shows it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from pytest_zdm.environment import ZdmEnv
from pytest_zdm.proxy.health import busy_machine_allowance, down_within, readiness
from pytest_zdm.settings import Settings

from .helpers import junit_outcomes, local_environment

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("proxy_available")]
ROOT = Path(__file__).resolve().parent.parent
NOT_PASSED = ("FAILED", "ERROR")
#: The harness's own DDL, straight to a cluster (a busy runner's flushes take seconds).
DDL_TIMEOUT = 120.0
#: The spark engine's row needs pyspark (the 'spark' extra); CI installs it and requires it.
_SPARK_ARGS = ("--zdm-phase=1", "--zdm-compare-tables=fault_app.accounts", "--zdm-compare-engine=spark",
               "-k", "test_consistency", "-m", "not zdm_destructive")  # fmt: skip
_SPARK = bool(importlib.util.find_spec("pyspark")) or os.environ.get("PYTEST_ZDM_REQUIRE_SPARK") == "true"


@dataclass
class Fault:
    """A damage done to the environment before the suites run, and what must catch it."""

    name: str
    seed: Callable[[ZdmEnv, Path], Callable[[], None]]
    expect: dict[str, str]
    args: tuple[str, ...] = ("--zdm-phase=1",)
    expect_skipped: dict[str, str] = field(default_factory=dict)
    expect_passed: tuple[str, ...] = ()
    #: Text no message of this row may hold (data a report must not copy).
    never_shown: tuple[str, ...] = ()


def _reconfigure(settings: dict[str, str]) -> Callable[[ZdmEnv, Path], Callable[[], None]]:
    def seed(env: ZdmEnv, _: Path) -> Callable[[], None]:
        env.reconfigure_proxy(settings)
        return lambda: env.reconfigure_proxy({})

    return seed


def _wrong_target(env: ZdmEnv, _: Path) -> Callable[[], None]:
    env.reconfigure_proxy({"ZDM_TARGET_PORT": str(env.info.origin.port)})
    return lambda: env.reconfigure_proxy({})


def _row_on_origin_only(env: ZdmEnv, _: Path) -> Callable[[], None]:
    # The harness's own schema goes straight to each cluster with a long timeout: through the proxy a DDL
    # waits at most the lab proxy's 3 s request timeout, and on a busy CI runner DROP KEYSPACE (a flush and
    # a snapshot) took longer (seen: OperationTimedOut in the undo). What the row seeds is the data below.
    clusters = {name: env.connect(name) for name in ("origin", "target")}
    for client in clusters.values():
        client.session.execute(
            "CREATE KEYSPACE IF NOT EXISTS fault_app "
            "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            timeout=DDL_TIMEOUT,
        )
        client.session.execute(
            "CREATE TABLE IF NOT EXISTS fault_app.accounts (id int PRIMARY KEY, owner text)",
            timeout=DDL_TIMEOUT,
        )
    proxy = env.connect("proxy")
    for i in range(10):
        proxy.session.execute("INSERT INTO fault_app.accounts (id, owner) VALUES (%s, %s)", (i, f"owner-{i}"))
    proxy.close()
    origin, target = clusters["origin"], clusters["target"]
    origin.session.execute("INSERT INTO fault_app.accounts (id, owner) VALUES (99, 'written to origin only')")
    # A value that differs: the mismatch report names the row and column, never the value (hashed).
    target.session.execute("UPDATE fault_app.accounts SET owner = 'Private Person' WHERE id = 3")

    def undo() -> None:
        for client in clusters.values():
            client.session.execute("DROP KEYSPACE IF EXISTS fault_app", timeout=DDL_TIMEOUT)  # the test's own
            client.close()

    return undo


def _killed(cluster: str) -> Callable[[ZdmEnv, Path], Callable[[], None]]:
    def seed(env: ZdmEnv, _: Path) -> Callable[[], None]:
        env.kill_node(cluster)
        # The proxy notices at its next heartbeat, not at once: a team verifies a standing failure. How long
        # that may take follows from the proxy's own heartbeat settings, stretched for a busy machine.
        bound = down_within(env.info.proxy_settings or {}, cluster)
        deadline = time.monotonic() + busy_machine_allowance(bound)
        while _ready_or_unanswered(env) and time.monotonic() < deadline:
            time.sleep(0.5)
        if readiness(env.info.proxy_http, timeout=10)[0] == 200:
            env.start_node(cluster)
            raise AssertionError(
                f"the proxy still reports readiness 200 {busy_machine_allowance(bound):.0f}s after the "
                f"{cluster} node was killed (its heartbeat settings imply DOWN within {bound:.0f}s)"
            )
        return lambda: env.start_node(cluster)

    return seed


def _ready_or_unanswered(env: ZdmEnv) -> bool:
    """Readiness still 200, or no answer at all (a busy machine: ask again rather than take it as DOWN)."""
    return readiness(env.info.proxy_http, timeout=10)[0] in (200, 0)


class SeedNotApplied(Exception):
    """A background seed that never did its damage: its row's checks ran against a healthy environment."""


def _baselines(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.glob("stability-baseline-*.json")}


def _session_began(run_dir: Path, before: set[str], stop: threading.Event) -> bool:
    """Wait until the suites' session has saved its stability baseline: a file that was not there at seed
    time (each session has its own). Names, not modification times: a step of the wall clock between the
    seed and the session's start would have left a time comparison waiting for ever."""
    while not _baselines(run_dir) - before:
        if stop.wait(0.2):
            return False
    return True


def _not_applied(what: str, errors: list[str], run_dir: Path, before: set[str]) -> SeedNotApplied:
    """Why a background seed did nothing: the session it waits for never began, or its errors."""
    why = "; ".join(errors[:5]) or "no error was raised"
    if not _baselines(run_dir) - before:
        why = "the suites' session never saved its stability baseline"
    return SeedNotApplied(f"{what} ({why})")


def _stall_during_workload(
    pause: Callable[[ZdmEnv], None], resume: Callable[[ZdmEnv], None], seconds: float = 2.0
):
    """A seed freezing something for ``seconds`` every 8 s once the performance suite's session is under way.

    A stall that recurs, as a GC-bound or overloaded process stalls: a budget check repeats a measurement
    over budget once (one stalled window on a busy machine is not a verdict), so the fault must be there in
    both measurements, as a real one would be. A pause that fails is retried a second later (an error would
    have ended the thread silently, and the row measured a healthy environment); undo raises
    :class:`SeedNotApplied`, with the errors, when no stall was ever applied.
    """

    def seed(env: ZdmEnv, run_dir: Path) -> Callable[[], None]:
        stop = threading.Event()
        before = _baselines(run_dir)
        applied: list[float] = []  # when each stall began, seconds after the session's baseline
        errors: list[str] = []

        def stall() -> None:
            if not _session_began(run_dir, before, stop):
                return
            began = time.monotonic()
            stop.wait(3)  # the keyspace is created, then both workload streams start together
            while not stop.is_set():
                try:
                    pause(env)
                except Exception as exc:  # recorded, retried, reported by undo
                    errors.append(f"pause at +{time.monotonic() - began:.1f}s: {exc}")
                    stop.wait(1)
                    continue
                applied.append(time.monotonic() - began)
                time.sleep(seconds)
                for _ in range(5):  # a node left frozen would fail every row after this one
                    try:
                        resume(env)
                        break
                    except Exception as exc:
                        errors.append(f"resume at +{time.monotonic() - began:.1f}s: {exc}")
                        time.sleep(1)
                stop.wait(8 - seconds)

        thread = threading.Thread(target=stall, daemon=True)
        thread.start()

        def undo() -> None:
            stop.set()
            thread.join(timeout=120)
            if not applied:
                raise _not_applied("no stall was applied", errors, run_dir, before)

        return undo

    return seed


def _proxy_process(env: ZdmEnv) -> psutil.Process:
    """The running zdm-proxy, by the pid its supervisor reports (psutil refuses a reused pid)."""
    proc = psutil.Process(int(env.proxy_status()["pid"]))
    assert "zdm-proxy" in " ".join(proc.cmdline()[:1]), f"pid {proc.pid} is not zdm-proxy: {proc.cmdline()}"
    return proc


#: The target node hangs: clients writing to both clusters directly wait for it too, so the proxy's own
#: overhead stays small; the migration's cost to the application (against origin alone) shows it.
_hang_target = _stall_during_workload(
    lambda env: env.pause_node("target"), lambda env: env.resume_node("target")
)
#: The target hangs past the lab proxy's 3 s request timeout: requests fail, not just slow down.
_hang_target_past_timeout = _stall_during_workload(
    lambda env: env.pause_node("target"), lambda env: env.resume_node("target"), seconds=4.0
)
#: The proxy itself hangs (SIGSTOP, as a GC-bound or CPU-starved proxy): only its own overhead shows it.
_hang_proxy = _stall_during_workload(lambda env: _proxy_process(env).suspend(),
                                     lambda env: _proxy_process(env).resume())  # fmt: skip


def _restart_loop(env: ZdmEnv, run_dir: Path) -> Callable[[], None]:
    """Restart the proxy every few seconds once the suites' session has taken its stability baseline.

    A restart that fails is recorded and tried again; undo raises :class:`SeedNotApplied` when none
    succeeded (the row's checks then ran against a steady proxy).
    """
    stop = threading.Event()
    before = _baselines(run_dir)
    restarts: list[int] = []
    errors: list[str] = []

    def loop() -> None:
        if not _session_began(run_dir, before, stop):
            return
        while not stop.is_set():
            try:
                restarts.append(int(env.restart_proxy()["starts"]))
            except Exception as exc:  # recorded, retried, reported by undo
                errors.append(str(exc))
            stop.wait(4)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def undo() -> None:
        stop.set()
        thread.join()
        env.restart_proxy()
        if not restarts:
            raise _not_applied("the proxy was never restarted", errors, run_dir, before)

    return undo


FAULTS = [
    Fault("healthy", lambda env, _: lambda: None, expect={}),
    Fault(
        "ignored settings (ZDM_PHASE...)",
        _reconfigure(
            {"ZDM_PHASE": "B", "ZDM_ASYNC_HANDOFF_ENABLED": "true", "ZDM_ENABLE_TARGET_WRITES": "true"}
        ),
        expect={
            "test_proxy_configuration_has_no_ignored_invalid_or_missing_settings": (
                "ZDM_PHASE: not a zdm-proxy setting"
            )
        },
    ),
    Fault(
        "proxy's target pointed at origin",
        _wrong_target,
        expect={
            "test_proxy_is_wired_to_the_right_clusters": (
                "proxy's target is 'zdm-origin', expected 'zdm-target'"
            ),
            "test_insert_simple_statement": "missing on: target",
            "test_workload_data_is_identical_on_both_clusters": "missing on: target",
            "test_hung_node_gives_a_client_timeout_and_a_partial_write": "",
        },
    ),
    Fault(
        "row written to origin only",
        _row_on_origin_only,
        expect={
            "test_user_tables_are_identical_on_both_clusters": (
                "1 missing on target, 0 missing on origin, 1 mismatched"
            ),
        },
        args=(
            "--zdm-phase=1",
            "--zdm-compare-tables=fault_app.no_such_table,fault_app.accounts",
            "-m",
            "not zdm_destructive",
        ),
        never_shown=("Private Person", "owner-3"),
    ),
    *(
        [
            Fault(
                "row written to origin only, spark engine",
                _row_on_origin_only,
                expect={"test_user_tables_are_identical_on_both_clusters": "1 missing on target"},
                expect_passed=("test_rows_written_through_the_proxy_are_identical_on_both_clusters",),
                args=_SPARK_ARGS,
            )
        ]
        if _SPARK
        else []
    ),
    Fault(
        "routing of another phase (primary TARGET, phase 1)",
        _reconfigure({"ZDM_PRIMARY_CLUSTER": "TARGET"}),
        expect={
            "test_proxy_routing_matches_the_phase": "phase 1 expects ZDM_PRIMARY_CLUSTER=ORIGIN",
            "test_reads_come_from_the_primary": "answered by TARGET, expected the primary ORIGIN",
        },
        args=("--zdm-phase=1", "-m", "not zdm_destructive"),
    ),
    *(
        Fault(
            f"{cluster} node killed",
            _killed(cluster),
            expect={
                f"test_cluster_is_reachable_and_authenticated[{cluster}]": "",
                "test_proxy_readiness_reports_both_clusters_up": "readiness at",
            },
            args=("--zdm-phase=1", "-m", "not zdm_destructive"),
        )
        for cluster in ("target", "origin")
    ),
    Fault(
        "proxy keeps restarting",
        _restart_loop,
        expect={},
        expect_skipped={
            "test_workload_data_is_identical_on_both_clusters": "proxy unstable: zdm-proxy restarted"
        },
        args=("--zdm-phase=1", "-m", "not zdm_destructive"),
    ),
    Fault(
        "proxy request timeout longer than the client's",
        _reconfigure({"ZDM_PROXY_REQUEST_TIMEOUT_MS": "60000"}),
        expect={
            "test_hung_node_gives_a_client_timeout_and_a_partial_write": "is not shorter than the client's"
        },
        args=("--zdm-phase=1", "-m", "zdm_destructive"),
    ),
    Fault(
        "target hangs 2 s every 8 s during the workloads",
        _hang_target,
        expect={"test_p99_write_latency_cost_of_the_migration_is_within_budget": "slower cluster: target"},
        args=("--zdm-phase=1", "-k", "test_performance"),
    ),
    Fault(
        "target hangs 4 s every 8 s (past the proxy's request timeout)",
        _hang_target_past_timeout,
        expect={
            "test_error_rate_is_within_budget": "failed",
            "test_proxy_counted_no_failed_or_timed_out_request": "client_timeout",
        },
        args=("--zdm-phase=1", "-k", "test_performance"),
    ),
    Fault(
        "proxy hangs 2 s every 8 s during the workloads",
        _hang_proxy,
        expect={"test_p99_latency_overhead_of_the_proxy_is_within_budget": "the proxy's p99 overhead"},
        args=("--zdm-phase=1", "-k", "test_performance"),
    ),
    Fault(
        "async dual reads never sent (phase 3)",
        # 0 ms: the proxy's timer fires before the async connector's handshake frame is even written. With
        # 1 ms a quiet machine's target sometimes answered STARTUP and AUTH_RESPONSE in time (its credentials
        # cache is warm), and the async reads were sent after all.
        _reconfigure({"ZDM_READ_MODE": "DUAL_ASYNC_ON_SECONDARY", "ZDM_ASYNC_HANDSHAKE_TIMEOUT_MS": "0"}),
        expect={"test_async_dual_reads_reach_the_secondary": "produced 0 async reads"},
        args=("--zdm-phase=3", "-m", "not zdm_destructive"),
    ),
]


def _run_suites(run_dir: Path, out: Path, args: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    junit = out / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suites"), f"--zdm-attach={run_dir}", *args,
         "-p", "no:cacheprovider", "-q", f"--junitxml={junit}"],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False,
    )  # fmt: skip
    (out / "output.txt").write_text(proc.stdout + proc.stderr)
    return junit_outcomes(junit)


@pytest.fixture(scope="module")
def matrix_env(zdm_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    with local_environment(zdm_settings, tmp_path_factory.mktemp("fault-matrix") / "env") as env:
        yield env


def _selected_rows() -> list[Fault]:
    """``PYTEST_ZDM_FAULT_ROWS=target hangs,proxy hangs``: the rows whose names contain one of these, for a
    developer checking a fault in minutes; the full matrix is what proves every check can fail."""
    wanted = [w.strip() for w in os.environ.get("PYTEST_ZDM_FAULT_ROWS", "").split(",") if w.strip()]
    return [f for f in FAULTS if not wanted or any(w in f.name for w in wanted)]


def test_every_check_fails_against_a_seeded_fault(matrix_env, tmp_path):
    run_dir = matrix_env.run_dir
    table: dict[str, dict[str, tuple[str, str]]] = {}
    problems: list[str] = []
    rows = _selected_rows()
    for fault in rows:
        out = tmp_path / re.sub(r"[^a-z0-9]+", "-", fault.name.lower())
        out.mkdir(exist_ok=True)
        undo = fault.seed(matrix_env, run_dir)
        try:
            results = _run_suites(run_dir, out, fault.args)
        finally:
            try:
                undo()
            except SeedNotApplied as exc:
                problems.append(f"{fault.name}: the seed did not apply: {exc}")
        table[fault.name] = results
        if fault.name == "healthy":
            bad = {k: v for k, v in results.items() if v[0] in NOT_PASSED}
            if bad:
                problems.append(f"healthy environment: checks did not pass: {bad}")
        for check, fragment in fault.expect.items():
            outcome, message = results.get(check, ("MISSING", ""))
            if outcome not in NOT_PASSED or fragment not in message:
                problems.append(
                    f"{fault.name}: {check} was {outcome} ({message[:200]!r}), "
                    f"expected a failure with {fragment!r}"
                )
        for check in fault.expect_passed:
            outcome, message = results.get(check, ("MISSING", ""))
            if outcome != "PASSED":
                problems.append(f"{fault.name}: {check} was {outcome} ({message[:200]!r}), expected a pass")
        if fault.name == "row written to origin only":
            message = results.get("test_user_tables_are_identical_on_both_clusters", ("", ""))[1]
            missing = "fault_app.no_such_table: not compared: table fault_app.no_such_table does not exist"
            if missing not in message:
                problems.append(f"{fault.name}: a table that does not exist is not named: {message[:300]!r}")
        leaked = [text for text in fault.never_shown if text in (out / "output.txt").read_text()]
        leaked += [text for text in fault.never_shown for _, m in results.values() if text in m]
        if leaked:
            problems.append(f"{fault.name}: data copied into the reports: {sorted(set(leaked))}")
        for check, fragment in fault.expect_skipped.items():
            outcome, message = results.get(check, ("MISSING", ""))
            if outcome != "SKIPPED" or fragment not in message:
                problems.append(
                    f"{fault.name}: {check} was {outcome} ({message[:200]!r}), "
                    f"expected skipped with {fragment!r}"
                )
    if len(rows) < len(FAULTS):
        assert not problems, "\n".join(problems)
        pytest.skip(f"only {len(rows)} of {len(FAULTS)} rows run (PYTEST_ZDM_FAULT_ROWS): all as expected")
    checks = sorted(table["healthy"])  # every check, as the healthy run collected them
    # A check that needs what one cluster's release lacks (e.g. vectors on a 4.x origin) is not applicable
    # on that pair: it runs, and must fail against a fault, on the pairs where it applies.
    applicable = [c for c in checks if "not applicable" not in table["healthy"][c][1]]
    never_failed = [
        c for c in applicable if not any(r.get(c, ("",))[0] in NOT_PASSED for r in table.values())
    ]
    if never_failed:
        problems.append(f"checks no seeded fault made fail: {never_failed}")
    _write_matrix(table, checks, ROOT / "reports" / "fault-matrix.md")
    (ROOT / "reports" / "fault-matrix.json").write_text(json.dumps(table, indent=1))
    assert not problems, "\n".join(problems)


def _write_matrix(table: dict[str, dict[str, tuple[str, str]]], checks: list[str], path: Path) -> None:
    faults = list(table)
    mark = {"PASSED": "pass", "FAILED": "**FAIL**", "ERROR": "**ERROR**", "SKIPPED": "skip"}
    lines = ["| check | " + " | ".join(faults) + " |", "|---|" + "---|" * len(faults)]
    for check in checks:
        cells = [mark.get(table[f].get(check, ("-", ""))[0], "-") for f in faults]
        lines.append(f"| `{check}` | " + " | ".join(cells) + " |")
    lines += ["", "First message of each failure, per fault:", ""]
    for fault in faults[1:]:
        for check in checks:
            outcome, message = table[fault].get(check, ("-", ""))
            if outcome in NOT_PASSED or (outcome == "SKIPPED" and "unstable" in message):
                lines.append(f"- {fault} / `{check}`: {outcome}: {message[:220]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
