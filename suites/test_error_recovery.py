"""Error recovery: what clients and the clusters see when a node or the proxy fails, and that it heals.

Destructive: every check here stops or pauses a node or restarts the proxy, so it runs alone (no other
check runs meanwhile) and only on disposable targets, or with ``--zdm-allow-destructive``. What the proxy
promises and these checks hold it to: a write is acknowledged only when both clusters applied it; when one
cluster fails, the client gets an error and the other cluster may hold the write (a partial write that
needs reconciliation; the proxy never rolls back); readiness reports the failed cluster DOWN and UP again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from cassandra import OperationTimedOut
from cassandra.policies import ConstantReconnectionPolicy

from pytest_zdm import lint
from pytest_zdm.assertions import Clusters, apply_schema, wait_until
from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.proxy.health import readiness
from pytest_zdm.proxy.metrics import scrape

pytestmark = [pytest.mark.zdm_destructive, pytest.mark.zdm_required_for(4, 5)]
RECOVERY_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def ks(zdm_keyspace: Keyspace, proxy_session: Any, clusters: Clusters) -> Keyspace:
    """The dual-write schema (its ``routing`` table is used here)."""
    apply_schema(proxy_session, clusters, "dual_write.cql", zdm_keyspace, ["routing"])
    return zdm_keyspace


def _side_status(env: Any, side: str) -> str | None:
    _, body = readiness(env.info.proxy_http)
    return (
        (body or {}).get(f"{side.capitalize()}Status", {}).get("Status") if isinstance(body, dict) else None
    )


def _write(session: Any, ks: Keyspace, key: int, value: str, timeout: float = 10.0) -> None:
    session.execute(
        f"INSERT INTO {ks.qualified('routing')} (k, v) VALUES (%s, %s)", (key, value), timeout=timeout
    )


def _wait_direct_sessions(clusters: Clusters) -> None:
    """The framework's direct sessions reconnect to a restarted node within seconds; wait for that."""
    for name in ("origin", "target"):
        session = getattr(clusters, name)
        wait_until(
            lambda s=session: s.execute("SELECT now() FROM system.local").one(),
            timeout=RECOVERY_TIMEOUT,
            what=f"the direct session to {name} working again",
        )


@pytest.fixture
def client(zdm_env: Any) -> Any:
    """A fresh session through the proxy for this check only (the run's shared one stays undisturbed)."""
    connected = zdm_env.connect("proxy", reconnection_policy=ConstantReconnectionPolicy(1.0))
    yield connected.session
    connected.close()


@pytest.mark.zdm_needs("node_control")
@pytest.mark.parametrize("down", ["target", "origin"])
def test_node_down_is_reported_and_writes_fail_until_it_returns(
    zdm_env, ks, client, clusters, down, evidence
):
    """With one cluster's node down, nothing is acknowledged; readiness says which; all heals when it returns.

    Proven: readiness reports that cluster DOWN; a write through the proxy fails at the client (the proxy
    acknowledges a write only when both clusters applied it); where the failed write landed anyway is
    reported (a partial write needs reconciliation); once the node is back, readiness is UP and a write
    through the same client lands on both clusters.
    """
    up = "origin" if down == "target" else "target"
    key = uuid.uuid4().int % 2**31
    zdm_env.stop_node(down)
    try:
        wait_until(
            lambda: _side_status(zdm_env, down) == "DOWN", timeout=60, what=f"readiness reporting {down} DOWN"
        )
        with pytest.raises(Exception) as failure:
            _write(client, ks, key, "during-outage")
        evidence("client_error", f"{type(failure.value).__name__}: {str(failure.value)[:200]}")
        landed = (
            getattr(clusters, up)
            .execute(f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s", (key,))
            .one()
        )
        evidence(
            "partial_write",
            f"{ks.qualified('routing')} k={key} is on {up}: needs reconciliation"
            if landed
            else f"nothing landed on {up}",
        )
    finally:
        zdm_env.start_node(down)
    wait_until(
        lambda: readiness(zdm_env.info.proxy_http)[0] == 200, timeout=RECOVERY_TIMEOUT, what="readiness 200"
    )
    _wait_direct_sessions(clusters)
    wait_until(lambda: _write(client, ks, key, "after-recovery") is None, timeout=RECOVERY_TIMEOUT,
               what="a write through the proxy succeeding again")  # fmt: skip
    clusters.assert_row(
        f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s",
        (key,),
        {"v": "after-recovery"},
        "write after recovery",
    )


@pytest.mark.zdm_needs("proxy_control")
def test_proxy_restart_clients_reconnect(zdm_env, ks, client, clusters):
    """After the proxy restarts, the same client session reconnects and its writes land on both clusters."""
    key = uuid.uuid4().int % 2**31
    _write(client, ks, key, "before-restart")
    zdm_env.restart_proxy()
    assert readiness(zdm_env.info.proxy_http)[0] == 200, "proxy not ready after its restart"
    wait_until(lambda: _write(client, ks, key, "after-restart") is None, timeout=RECOVERY_TIMEOUT,
               what="the client's writes working again after the proxy restart")  # fmt: skip
    clusters.assert_row(
        f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s",
        (key,),
        {"v": "after-restart"},
        "write after restart",
    )


@pytest.mark.zdm_needs("node_control")
def test_hung_node_gives_a_client_timeout_and_a_partial_write(
    zdm_env, ks, client, clusters, parsed_configuration, evidence
):
    """A target node that hangs (SIGSTOP) past the proxy's request timeout: the client times out promptly.

    The proxy sends nothing back when a cluster does not answer within ZDM_PROXY_REQUEST_TIMEOUT_MS and
    counts a ``client_timeout`` for that cluster (not a failed write). Origin applied the write meanwhile:
    a partial write. The client's own timeout must be longer than the proxy's, and the call must end
    within it (no hang). After the node resumes, writes land on both clusters again.
    """
    settings = lint.parsed_configuration_to_settings(parsed_configuration)
    proxy_timeout = int(settings.get("ZDM_PROXY_REQUEST_TIMEOUT_MS", "10000")) / 1000
    client_timeout = zdm_env.settings.zdm_request_timeout
    assert proxy_timeout < client_timeout, (
        f"ZDM_PROXY_REQUEST_TIMEOUT_MS={proxy_timeout * 1000:.0f} is not shorter than the client's request "
        f"timeout ({client_timeout:.0f}s): clients give up before the proxy does"
    )
    key = uuid.uuid4().int % 2**31
    before = scrape(zdm_env.info.proxy_http)
    zdm_env.pause_node("target")
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as failure:
            _write(client, ks, key, "while-hung", timeout=client_timeout)
        elapsed = time.monotonic() - started
        on_origin = clusters.origin.execute(
            f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s", (key,)
        ).one()
    finally:
        zdm_env.resume_node("target")
    _wait_direct_sessions(clusters)
    assert elapsed <= client_timeout + 5, f"the write took {elapsed:.1f}s to fail: the client hung"
    assert isinstance(failure.value, OperationTimedOut), (
        f"expected a client-side timeout, got {type(failure.value).__name__}: {failure.value}"
    )
    assert on_origin is not None and on_origin.v == "while-hung", (
        f"origin should hold the write whose target leg timed out (partial write), holds {on_origin}"
    )
    evidence("partial_write", f"{ks.qualified('routing')} k={key} was on origin only while target hung")
    delta = scrape(zdm_env.info.proxy_http).delta(before)
    assert delta.value("zdm_target_requests_failed_total", error="client_timeout") >= 1, (
        f"the proxy counted no client_timeout on target: {delta.nonzero('zdm_target_requests_failed')}"
    )
    wait_until(lambda: _write(client, ks, key, "after-resume") is None, timeout=RECOVERY_TIMEOUT,
               what="writes working again after the node resumed")  # fmt: skip
    clusters.assert_row(
        f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s",
        (key,),
        {"v": "after-resume"},
        "write after resume",
    )
