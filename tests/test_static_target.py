"""The ``static`` target against real endpoints: this run's ``local`` environment, described in a zdm.toml.

The real suites run in a separate pytest process with ``--zdm-target=static`` and must pass (or skip, with
the reason, what the static target cannot do); a zdm.toml whose target points at the origin's port must
be caught; the login's password, set only in the environment, must appear nowhere in the output or the
files of the run; user data outside ``zdm_verify_*`` keyspaces must be untouched; and a restart of the
real proxy must be seen through its metrics endpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm.cql import keyspaces
from pytest_zdm.environment import ZdmEnv
from pytest_zdm.model import Control, Credentials
from pytest_zdm.plugin import stability
from pytest_zdm.settings import resolve
from pytest_zdm.targets.static import StaticTarget

from .helpers import junit_outcomes
from .static_files import toml_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("proxy_available")]
ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
NOT_PASSED = ("FAILED", "ERROR")


@pytest.fixture(scope="module")
def own_sessions(zdm_env: Any) -> Iterator[tuple[Any, Any]]:
    """Sessions of this module's own to origin and target (closed at its end).

    Not the run's shared sessions: this module's fixtures may be set up last in a worker, right after
    destructive checks, and the CI once saw the shared origin session there with no host to send to
    (NoHostAvailable with no error per host) although the node had never stopped.
    """
    clients = [zdm_env.connect(cluster) for cluster in ("origin", "target")]
    try:
        yield clients[0].session, clients[1].session
    finally:
        for client in clients:
            client.close()


@pytest.fixture(scope="module")
def static_login(own_sessions: tuple[Any, Any]) -> Iterator[Credentials]:
    """A login of its own on both clusters, with a password distinctive enough to search every output for."""
    login = Credentials(f"zdm_static_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}")
    for session in own_sessions:
        session.execute(
            f"CREATE ROLE {login.username} WITH PASSWORD = %s AND LOGIN = true AND SUPERUSER = true",
            (login.password,),
        )
    yield login
    for session in own_sessions:
        session.execute(f"DROP ROLE IF EXISTS {login.username}")


@pytest.fixture(scope="module")
def user_table(own_sessions: tuple[Any, Any]) -> Iterator[str]:
    """A table that is not the framework's (as on a real deployment), with rows on both clusters."""
    keyspace = f"static_app_{uuid.uuid4().hex[:8]}"
    for session in own_sessions:
        session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {keyspaces.SIMPLE_RF1}")
        session.execute(f"CREATE TABLE {keyspace}.accounts (id int PRIMARY KEY, owner text)")
        for i in range(20):
            session.execute(
                f"INSERT INTO {keyspace}.accounts (id, owner) VALUES (%s, %s) USING TIMESTAMP %s",
                (i, f"owner-{i}", 1000 + i),
            )
    yield f"{keyspace}.accounts"
    for session in own_sessions:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")  # the test's own keyspace


def _user_state(session: Any, table: str) -> tuple[set[str], list[tuple[Any, ...]]]:
    names = {r.keyspace_name for r in session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}
    rows = sorted(tuple(r) for r in session.execute(f"SELECT id, owner, WRITETIME(owner) FROM {table}"))
    return names, rows


def _zdm_toml(env: ZdmEnv, path: Path, login: Credentials, *, target_port: int | None = None) -> Path:
    info = env.info
    target = f"{info.target_cluster.host}:{target_port or info.target_cluster.port}"
    path.write_text(
        toml_for(str(info.origin), target, str(info.proxy), info.proxy_http, username=login.username)
    )
    return path


def _run_static(
    tmp_path: Path, toml: Path, login: Credentials, suites: list[str], *extra: str
) -> tuple[int, str, dict[str, tuple[str, str]], float]:
    """The real suites in their own pytest process against the static target; (rc, output, outcomes, s)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "ZDM_TEST_ORIGIN_PW": login.password, "ZDM_TEST_TARGET_PW": login.password}
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(tmp_path / "pytest.ini"), "-p", "no:cacheprovider",
         *(str(SUITES / s) for s in suites), "--zdm-target=static", f"--zdm-static-config={toml}",
         "--zdm-phase=1", f"--junitxml={tmp_path / 'junit.xml'}", "-rA", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - began
    out = proc.stdout + proc.stderr
    (tmp_path / "output.txt").write_text(out)
    return proc.returncode, out, junit_outcomes(tmp_path / "junit.xml"), seconds


def test_the_suites_pass_on_the_static_target_leaving_user_data_and_secrets_alone(
    zdm_env, origin_session, target_session, static_login, user_table, tmp_path
):
    before = {
        name: _user_state(s, user_table)
        for name, s in (("origin", origin_session), ("target", target_session))
    }
    toml = _zdm_toml(zdm_env, tmp_path / "zdm.toml", static_login)
    rc, out, results, seconds = _run_static(
        tmp_path,
        toml,
        static_login,
        ["test_connection.py", "test_dual_write.py", "test_consistency.py", "test_end_to_end.py",
         "test_error_recovery.py"],
        f"--zdm-compare-tables={user_table}", "--zdm-compare-writetime",
        "-o", "log_cli=true", "--log-cli-level=DEBUG",
    )  # fmt: skip
    print(f"static run: {seconds:.1f}s, {sum(r[0] == 'PASSED' for r in results.values())} passed")
    bad = {name: r for name, r in results.items() if r[0] in NOT_PASSED}
    assert rc == 0 and not bad, f"exit code {rc}; did not pass: {bad}\n{out[-3000:]}"
    for check in (
        "test_cluster_is_reachable_and_authenticated[target]",
        "test_proxy_readiness_reports_both_clusters_up",
        "test_insert_prepared_statement",
        "test_reads_come_from_the_primary",
        "test_rows_written_through_the_proxy_are_identical_on_both_clusters",
        "test_user_tables_are_identical_on_both_clusters",
        "test_workload_data_is_identical_on_both_clusters",
    ):
        assert results[check][0] == "PASSED", f"{check}: {results[check]}"
    expected_skips = {
        "test_proxy_is_wired_to_the_right_clusters": "not verifiable on target static: needs proxy_log",
        "test_proxy_configuration_has_no_ignored_invalid_or_missing_settings": "not verifiable on target",
        "test_node_down_is_reported_and_writes_fail_until_it_returns[target]": "'static' is not disposable",
        "test_proxy_restart_clients_reconnect": "target 'static' is not disposable",
    }
    for check, reason in expected_skips.items():
        assert results[check][0] == "SKIPPED" and reason in results[check][1], f"{check}: {results[check]}"
    assert "not verified:" in out, "skipped checks must be reported as not verified"

    secret = static_login.password
    assert secret not in out, "the password appeared in pytest's output"
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == [], f"the password is in {leaked}"

    for name, session in (("origin", origin_session), ("target", target_session)):
        names, rows = _user_state(session, user_table)
        assert rows == before[name][1], f"{user_table} changed on {name}"
        foreign = lambda ks: {k for k in ks if not k.startswith(keyspaces.PREFIX)}  # noqa: E731
        assert foreign(names) == foreign(before[name][0]), f"keyspaces outside zdm_verify_* changed on {name}"
        others = {k for k in before[name][0] if k.startswith(keyspaces.PREFIX)}
        assert others <= names, (
            f"another run's zdm_verify_* keyspaces were dropped on {name}: {others - names}"
        )


def test_a_zdm_toml_whose_target_is_the_origin_is_caught(zdm_env, static_login, tmp_path):
    """The proxy really writes to both clusters, but zdm.toml's target is the origin: the run must fail.

    Every check that reads the clusters errors at setup naming the clash (both endpoints reach the same
    node), before anything is written.
    """
    toml = _zdm_toml(zdm_env, tmp_path / "zdm.toml", static_login, target_port=zdm_env.info.origin.port)
    rc, out, results, _ = _run_static(tmp_path, toml, static_login, ["test_dual_write.py"])
    assert rc == 1, out[-3000:]
    clash = "origin and target endpoints reach the same Cassandra node"
    for check in (
        "test_reads_come_from_the_primary",
        "test_uuid_function_always_differs",
        "test_write_rejected_by_one_cluster_is_not_rolled_back[origin]",
    ):
        outcome, message = results[check]
        assert outcome in NOT_PASSED and clash in message, f"{check}: {outcome} {message[:300]}"


@pytest.mark.zdm_destructive
def test_a_restart_of_the_real_proxy_is_seen_through_its_metrics(
    zdm_env, static_login, tmp_path, monkeypatch
):
    """PROXY_STATUS on the static target counts the proxy's starts; the stability evidence names a restart."""
    monkeypatch.setenv("ZDM_TEST_ORIGIN_PW", static_login.password)
    monkeypatch.setenv("ZDM_TEST_TARGET_PW", static_login.password)
    toml = _zdm_toml(zdm_env, tmp_path / "zdm.toml", static_login)
    settings = resolve(
        cli={"zdm_target": "static", "zdm_static_config": str(toml)}, ini={}, environ={}, rootdir=tmp_path
    )
    target = StaticTarget(settings, tmp_path)
    progress: list[str] = []
    info = target.start({}, progress.append)
    assert info.controls == ("proxy_status",) and not StaticTarget.disposable

    class Reached:
        """What stability needs of an environment, served by the static target in this process."""

        def __init__(self) -> None:
            self.info = info

        def supports(self, verb: Control) -> bool:
            return verb.value in info.controls

        def proxy_status(self) -> Any:
            return target.control(Control.PROXY_STATUS)

    reached = Reached()
    baseline = stability.take_baseline(reached)
    assert baseline.proxy_starts == 1 and stability.evidence(reached, baseline) == []
    zdm_env.restart_proxy()
    status = target.control(Control.PROXY_STATUS)
    assert status["running"] and status["starts"] == 2, status
    assert any("zdm-proxy restarted 1 time(s)" in r for r in stability.evidence(reached, baseline))
