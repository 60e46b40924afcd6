"""Connection: both clusters and the proxy are reachable, authenticated, wired to each other as intended.

Checklist (each check says what it proves):
- origin, target and the proxy accept a password login and answer a query;
- the proxy's control connections go to the clusters the framework calls origin and target;
- the CQL protocol version negotiated through the proxy is the one the clients ask for;
- the proxy's readiness endpoint is 200 with both clusters UP;
- the proxy's configuration has no setting it silently ignores, no invalid value, nothing required missing;
- its routing (primary cluster, read mode) is the one the phase being verified requires.
"""

from __future__ import annotations

import re

import pytest

from pytest_zdm import lint
from pytest_zdm.proxy.health import readiness

pytestmark = pytest.mark.zdm_required_for(1, 2, 3, 4, 5)


@pytest.mark.parametrize("cluster", ["origin", "target"])
def test_cluster_is_reachable_and_authenticated(zdm_env, cluster, request):
    """A password login straight to the cluster works and it answers with its name and version."""
    session = request.getfixturevalue(f"{cluster}_session")
    row = session.execute("SELECT cluster_name, release_version FROM system.local").one()
    assert row is not None, f"{cluster} ({zdm_env.info.endpoint(cluster)}) returned no system.local row"
    assert row.release_version, f"{cluster} reported no release_version"


def test_proxy_is_reachable_and_authenticated(zdm_env, proxy_session):
    """A password login through the proxy works and a query is answered (routed to the primary)."""
    row = proxy_session.execute("SELECT release_version FROM system.local").one()
    assert row is not None and row.release_version, f"no answer through the proxy at {zdm_env.info.proxy}"


@pytest.mark.zdm_needs("proxy_log")
def test_proxy_is_wired_to_the_right_clusters(zdm_env, origin_session, target_session):
    """The proxy's control connections reached the clusters the framework reaches as origin and target.

    Proven by cluster name (from the proxy's own log), not by address: a proxy whose target points at the
    origin cluster, or at a third cluster, passes every health check and still loses every target write.
    """
    log = zdm_env.proxy_logs()
    seen = dict(re.findall(r"Initialized (origin|target) control connection\. Cluster Name: ([^,]+),", log))
    expected = {
        "origin": origin_session.execute("SELECT cluster_name FROM system.local").one().cluster_name,
        "target": target_session.execute("SELECT cluster_name FROM system.local").one().cluster_name,
    }
    assert seen, "the proxy's log shows no 'Initialized ... control connection' line"
    assert expected["origin"] != expected["target"], (
        f"origin and target are the same cluster ({expected['origin']!r}): nothing would be migrated"
    )
    wrong = [f"proxy's {side} is {seen.get(side)!r}, expected {want!r}" for side, want in expected.items()
             if seen.get(side) != want]  # fmt: skip
    assert not wrong, "; ".join(wrong)


def test_protocol_version_negotiated_through_the_proxy(
    zdm_env, proxy_session, origin_session, target_session
):
    """Clients get the protocol version they ask for through the proxy, and both clusters speak it."""
    wanted = int(zdm_env.settings.zdm_protocol_version)
    through_proxy = proxy_session.cluster.protocol_version
    assert through_proxy == wanted, f"negotiated v{through_proxy} through the proxy, expected v{wanted}"
    for name, session in (("origin", origin_session), ("target", target_session)):
        assert session.cluster.protocol_version == wanted, (
            f"{name} negotiated v{session.cluster.protocol_version} directly, expected v{wanted}: "
            "the proxy needs a protocol version both clusters support"
        )


def test_proxy_readiness_reports_both_clusters_up(zdm_env):
    """``/health/readiness`` is 200 and reports origin and target UP (the proxy's own view)."""
    status, body = readiness(zdm_env.info.proxy_http)
    assert status == 200, f"readiness at {zdm_env.info.proxy_http} is {status or 'unreachable'}: {body}"
    sides = {side: (body.get(side) or {}).get("Status") for side in ("OriginStatus", "TargetStatus")}
    assert body.get("Status") == "UP" and set(sides.values()) == {"UP"}, f"readiness body: {body}"


def test_proxy_configuration_has_no_ignored_invalid_or_missing_settings(proxy_configuration):
    """Lint of the settings the proxy was started with: unknown ``ZDM_*`` names, bad values, missing ones.

    Targets that read the configuration from a deployment (kind, kube: the proxy's Deployment and the
    ConfigMaps and Secrets it references) hand over the findings of the manifest lint, which knows more
    (settings from Secrets, ``--config``) than the environment alone.
    """
    findings = proxy_configuration.get("findings")
    if findings is None:
        findings = [str(f) for f in lint.lint_settings(proxy_configuration["environment"])]
    assert not findings, "proxy configuration: " + " | ".join(findings)


def test_proxy_routing_matches_the_phase(zdm_env, parsed_configuration):
    """The primary cluster and read mode the proxy runs with are those of the phase being verified."""
    phase = zdm_env.settings.zdm_phase
    if phase is None:
        pytest.skip("zdm_phase is not set: say which phase the proxy should be in (--zdm-phase=1..4)")
    settings = lint.parsed_configuration_to_settings(parsed_configuration)
    expected = lint.PHASES[phase]
    assert expected is not None
    actual = (settings.get("ZDM_PRIMARY_CLUSTER"), settings.get("ZDM_READ_MODE"))
    assert actual == expected, (
        f"phase {phase} expects ZDM_PRIMARY_CLUSTER={expected[0]}, ZDM_READ_MODE={expected[1]}; "
        f"the proxy runs with {actual[0]}, {actual[1]}"
    )
