"""The ``local`` target for real: two Cassandra 5.0 nodes and a zdm-proxy, started, shared and stopped.

Tests that use this process's own environment run in one xdist group; the lifecycle tests start their own
runs with pytester in subprocesses, exactly as users run pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_zdm.assertions import wait_until
from pytest_zdm.environment import ZdmEnv, attach
from pytest_zdm.errors import ControlError
from pytest_zdm.proxy.health import readiness
from pytest_zdm.runtime import leftovers

from .helpers import run_dirs, start_pytest, supervisors_of, wait_no_leftovers

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("proxy_available")]

ROOT = Path(__file__).resolve().parent.parent
HOLD = """
import os, pathlib, time
def test_hold(zdm_env):
    pathlib.Path(os.environ["HOLD_FILE"]).write_text(str(zdm_env.run_dir))
    time.sleep(300)
"""
BOOT_TIMEOUT = 400


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = BOOT_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"pytest ended early:\n{proc.stdout.read() if proc.stdout else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} not written within {timeout}s")
        time.sleep(0.2)
    return path.read_text()


@pytest.mark.xdist_group("local-env")
class TestSharedEnvironment:
    """Checks against this run's own environment."""

    def test_row_written_through_proxy_is_on_origin_and_target(
        self, zdm_keyspace, proxy_session, origin_session, target_session
    ):
        table = f"{zdm_keyspace}.rt"
        proxy_session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v text)")
        proxy_session.execute(f"INSERT INTO {table} (k, v) VALUES (1, 'both') USING TIMESTAMP 42")
        for name, session in (("origin", origin_session), ("target", target_session)):
            row = session.execute(f"SELECT v, WRITETIME(v) AS wt FROM {table} WHERE k = 1").one()
            assert row is not None and (row.v, row.wt) == ("both", 42), f"{name} holds {row}"

    def test_the_two_clusters_are_independent(
        self, zdm_keyspace, proxy_session, origin_session, target_session
    ):
        """A row written straight to origin is not on target: proxy not pointed twice at one cluster."""
        table = f"{zdm_keyspace}.independent"
        proxy_session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v text)")
        origin_session.execute(f"INSERT INTO {table} (k, v) VALUES (7, 'origin only')")
        assert origin_session.execute(f"SELECT v FROM {table} WHERE k = 7").one().v == "origin only"
        assert target_session.execute(f"SELECT v FROM {table} WHERE k = 7").one() is None
        names = {
            origin_session.execute("SELECT cluster_name FROM system.local").one().cluster_name,
            target_session.execute("SELECT cluster_name FROM system.local").one().cluster_name,
        }
        assert names == {"zdm-origin", "zdm-target"}

    def test_readiness_is_200_with_both_clusters_up(self, zdm_env):
        status, body = readiness(zdm_env.info.proxy_http)
        assert status == 200, body
        assert body["Status"] == "UP"
        assert body["OriginStatus"]["Status"] == "UP" and body["TargetStatus"]["Status"] == "UP"

    def test_versions_and_effective_proxy_configuration(self, zdm_env):
        assert zdm_env.info.versions["origin"].startswith("5.0")
        assert zdm_env.info.versions["target"].startswith("5.0")
        config = zdm_env.proxy_config()
        parsed = config["parsed"]
        assert parsed["PrimaryCluster"] == "ORIGIN" and parsed["ReadMode"] == "PRIMARY_ONLY"
        assert parsed["OriginContactPoints"] == "127.0.0.1"
        assert parsed["ProxyListenPort"] == zdm_env.info.proxy.port
        assert config["environment"]["ZDM_ORIGIN_PASSWORD"] == "***"
        assert all(name.startswith("ZDM_") for name in config["environment"])


ROUND_TRIP = """
def test_round_trip(zdm_keyspace, proxy_session, origin_session, target_session):
    proxy_session.execute(f"CREATE TABLE {zdm_keyspace}.rt (k int PRIMARY KEY, v text)")
    proxy_session.execute(f"INSERT INTO {zdm_keyspace}.rt (k, v) VALUES (1, 'both') USING TIMESTAMP 42")
    for session in (origin_session, target_session):
        row = session.execute(f"SELECT v, WRITETIME(v) AS wt FROM {zdm_keyspace}.rt WHERE k = 1").one()
        assert (row.v, row.wt) == ("both", 42)
"""


def _with_round_trip_suite(pytester) -> None:
    """A round trip through the proxy: written through it, read straight from each cluster."""
    pytester.makepyfile(test_round_trip=ROUND_TRIP)


def _pytest(pytester, *args, timeout=BOOT_TIMEOUT):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)


def test_two_runs_in_a_row(pytester):
    _with_round_trip_suite(pytester)
    for attempt in (1, 2):
        result = _pytest(pytester)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*environment ready in *s*", "*stopped at the end of the run*"])
        run = run_dirs(pytester.path)[-1]
        assert wait_no_leftovers(run) == [], f"run {attempt} left processes behind"
        assert (run / "origin" / "logs" / "system.log").exists() and (run / "proxy" / "proxy.log").exists()
        assert not (run / "origin" / "data").exists(), "node data should be removed at stop"
    assert len(run_dirs(pytester.path)) == 2


def test_xdist_workers_share_one_environment(pytester):
    pytester.makepyfile(
        """
        import json, os, pathlib, pytest

        @pytest.mark.parametrize("i", range(4))
        def test_record(i, zdm_env, proxy_session, worker_id):
            proxy_session.execute("SELECT release_version FROM system.local")
            out = pathlib.Path(str(zdm_env.run_dir)) / f"seen-{i}.json"
            sup = (pathlib.Path(str(zdm_env.run_dir)) / "supervisor.pid").read_text()
            out.write_text(json.dumps([worker_id, zdm_env.info.proxy.port, sup, os.getpid()]))
        """
    )
    result = _pytest(pytester, "-n", "2")
    result.assert_outcomes(passed=4)
    run = run_dirs(pytester.path)[-1]
    seen = [json.loads((run / f"seen-{i}.json").read_text()) for i in range(4)]
    assert len({s[0] for s in seen}) == 2, f"both workers should have run tests: {seen}"
    assert len({s[1] for s in seen}) == 1 and len({s[2] for s in seen}) == 1, seen
    assert (run / "progress.log").read_text().count("starting origin") == 1
    assert wait_no_leftovers(run) == []


def test_a_run_after_a_sigkilled_run(pytester, tmp_path):
    pytester.makepyfile(test_hold=HOLD)
    _with_round_trip_suite(pytester)
    hold = tmp_path / "hold"
    first = start_pytest(["test_hold.py"], cwd=pytester.path, env={"HOLD_FILE": str(hold)})
    killed_run = Path(_wait_for(hold, first))
    assert supervisors_of(killed_run), "the held run should have a live supervisor"
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    result = _pytest(pytester, "test_round_trip.py")
    result.assert_outcomes(passed=1)
    assert wait_no_leftovers(killed_run) == [], "the SIGKILLed run's processes are still alive"


def test_ctrl_c_leaves_nothing_behind(pytester, tmp_path):
    pytester.makepyfile(test_hold=HOLD)
    hold = tmp_path / "hold"
    proc = start_pytest(["test_hold.py"], cwd=pytester.path, env={"HOLD_FILE": str(hold)})
    run = Path(_wait_for(hold, proc))
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    assert wait_no_leftovers(run, timeout=10) == []


def test_startup_failure_shows_the_log_tail_and_cleans_up(pytester):
    pytester.makepyfile("def test_needs_env(zdm_env): pass")
    result = _pytest(pytester, "--zdm-startup-timeout=2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*zdm environment unavailable: origin Cassandra node did not start: not ready within 2s*",
            "*--- last lines of *origin/logs/system.log ---*",
        ]
    )
    assert wait_no_leftovers(run_dirs(pytester.path)[-1]) == []


def test_a_startup_failure_prints_its_log_tail_once_whatever_the_number_of_checks(pytester):
    """Issue 18 (8): one start-up failure printed 717 lines, the ~40-line log tail twice per check."""
    pytester.makepyfile(
        "import pytest\n@pytest.mark.parametrize('i', range(8))\ndef test_needs_env(zdm_env, i): pass\n"
    )
    result = _pytest(pytester, "--zdm-startup-timeout=2", "-n", "2")
    out = result.stdout.str()
    assert out.count("--- last lines of ") == 1, out[-3000:]
    assert len(out.splitlines()) < 120, f"{len(out.splitlines())} lines:\n{out[-3000:]}"
    assert "the run stopped early: the zdm environment did not start" in out
    assert "interrupted" not in out, "an early stop is not a Ctrl-C"
    assert wait_no_leftovers(run_dirs(pytester.path)[-1]) == []


def test_keep_leaves_the_environment_running_until_down(pytester, zdm_settings):
    """--zdm-keep, then another process attaches, drives the controls, and `zdm-verify down` ends it."""
    _with_round_trip_suite(pytester)
    down = None
    try:
        result = _pytest(pytester, "--zdm-keep")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*left running (--zdm-keep)*stop it with: zdm-verify down *"])
        run = run_dirs(pytester.path)[-1]
        env = attach(run, zdm_settings)
        status, _ = readiness(env.info.proxy_http)
        assert status == 200, "a kept environment should still be ready after pytest exited"
        _exercise_controls(env)
    finally:
        runs = run_dirs(pytester.path)
        if runs:
            down = subprocess.run(
                [sys.executable, "-m", "pytest_zdm.cli", "down", str(runs[-1])],
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert down is not None and down.returncode == 0 and "stopped" in down.stdout, down
    assert wait_no_leftovers(runs[-1]) == []


def test_a_kept_environment_stops_when_its_run_directory_is_deleted(pytester):
    pytester.makepyfile("def test_boot(zdm_env): pass")
    result = _pytest(pytester, "--zdm-keep")
    result.assert_outcomes(passed=1)
    run = run_dirs(pytester.path)[-1]
    marker = str(run)
    assert supervisors_of(run), "kept environment should be running"
    shutil.rmtree(run)
    deadline = time.monotonic() + 60
    while leftovers.marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers.marked_processes(marker) == []


def test_a_shared_session_that_does_not_come_back_after_a_destructive_check_is_named(pytester):
    """A destructive check that leaves a node down: the next check fails with the driver's "no host
    available", and the warnings summary says which shared session did not come back, and after which
    check (without it, nothing linked that failure to the check before)."""
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.zdm_destructive  # run last, in this order

        def test_leaves_origin_down(zdm_env, origin_session, target_session):
            zdm_env.stop_node("origin")

        def test_next(origin_session):
            origin_session.execute("SELECT release_version FROM system.local")
        """
    )
    result = _pytest(pytester, "--zdm-startup-timeout=90", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1, warnings=1)
    result.stdout.fnmatch_lines([
        "*warnings summary*",
        "*::test_leaves_origin_down",
        "*EnvironmentNotBack: the run's shared origin session did not answer within 90s after a destructive "
        "check; checks after it that use the origin session may fail for that",
    ])  # fmt: skip
    assert "shared target session" not in result.stdout.str(), "the target session came back"
    assert wait_no_leftovers(run_dirs(pytester.path)[-1]) == []


def _exercise_controls(env: ZdmEnv) -> None:
    """Restart the proxy, pause and stop a node: readiness and clients follow what really happened."""
    client = env.connect("proxy")
    try:
        started = env.restart_proxy()
        assert started["starts"] == 2
        assert readiness(env.info.proxy_http)[0] == 200
        wait_until(
            lambda: client.session.execute("SELECT release_version FROM system.local").one(),
            timeout=60,
            what="reconnect",
        )
        env.stop_node("target")
        wait_until(
            lambda: readiness(env.info.proxy_http)[1]["TargetStatus"]["Status"] == "DOWN",
            timeout=60,
            what="target DOWN",
        )
        with pytest.raises(ControlError, match="pause_node target: the node is not running"):
            env.pause_node("target")  # was a silent no-op: a fault seeded this way froze nothing
        env.start_node("target")
        wait_until(lambda: readiness(env.info.proxy_http)[0] == 200, timeout=60, what="readiness back to 200")
        assert "Starting ZDM proxy" in env.proxy_logs()
        assert env.proxy_config()["parsed"]["TargetPort"] == env.info.target_cluster.port
    finally:
        client.close()
