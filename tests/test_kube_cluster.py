"""The kind and kube targets against a real Kubernetes cluster: this project's loopback cluster.

No fake API server here: a single-node Kubernetes 1.34 cluster on 127.0.0.1 (``python -m tooling
kube-cluster start``) with ``k8s/loopback`` deployed in it (``kube-cluster deploy``): two Cassandra
StatefulSets and a zdm-proxy Deployment, reached through real ``kubectl port-forward`` processes. CI starts
it and sets ``PYTEST_ZDM_KUBE_LOOPBACK_KUBECONFIG`` (and ``PYTEST_ZDM_REQUIRE_KUBE=true``, which turns a
missing cluster into a failure); elsewhere these tests are skipped, saying how to start one.

Each test runs the built-in suites in a pytest process of its own, as a team would, against the one
deployment; they change it (pods deleted, workloads scaled, a configuration seeded with a fault and put
back), so they take a file lock and run one at a time under xdist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from pytest_zdm.settings import Settings

from .helpers import junit_outcomes

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
CONTEXT = "zdm-loopback"
ORIGIN_CQL_PORT = "29042"  # k8s/loopback: the origin node's CQL port on the host network


@dataclass(frozen=True)
class Loopback:
    """The running loopback cluster: its kubeconfig and the kubectl built with it."""

    kubeconfig: Path
    kubectl: str

    def run(self, *args: str, timeout: float = 300) -> str:
        """``kubectl --context zdm-loopback ARGS`` (fails the test on a non-zero exit)."""
        done = subprocess.run(
            [self.kubectl, "--kubeconfig", str(self.kubeconfig), "--context", CONTEXT, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr or done.stdout}"
        return done.stdout


@pytest.fixture(scope="module")
def loopback(zdm_settings: Settings) -> Loopback:
    """The cluster CI started, else a skip saying how to start one (a failure if PYTEST_ZDM_REQUIRE_KUBE)."""
    kubeconfig = os.environ.get("PYTEST_ZDM_KUBE_LOOPBACK_KUBECONFIG")
    if not kubeconfig or not Path(kubeconfig).is_file():
        reason = (
            'needs the loopback Kubernetes cluster: export PYTEST_ZDM_KUBE_LOOPBACK_KUBECONFIG="$(python -m '
            'tooling kube-cluster start)" && python -m tooling kube-cluster deploy (as root)'
        )
        if os.environ.get("PYTEST_ZDM_REQUIRE_KUBE", "").lower() == "true":
            pytest.fail(f"PYTEST_ZDM_REQUIRE_KUBE=true but no cluster: {reason}")
        pytest.skip(reason)
    built = zdm_settings.zdm_cache_dir / "kubernetes"
    kubectl = next(iter(sorted(built.glob("*/bin/kubectl"), reverse=True)), None)
    return Loopback(Path(kubeconfig), str(kubectl) if kubectl else "kubectl")


@pytest.fixture
def one_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """These tests share one deployment and change it: one at a time across xdist workers."""
    with FileLock(str(tmp_path_factory.getbasetemp().parent / "kube-loopback.lock")):
        yield


def _suites(
    loopback: Loopback, out: Path, target: str, paths: list[str], *args: str, **env_vars: str
) -> tuple[int, str]:
    """The built-in suites (or ``paths`` in ``out``) against the deployment, as a separate pytest run."""
    target_args = (
        ["--zdm-target=kind", "--zdm-kind-cluster=zdm"]
        if target == "kind"
        else ["--zdm-target=kube", f"--zdm-kube-context={CONTEXT}"]
    )
    env = {
        **os.environ,
        "PYTEST_ZDM_ORIGIN_PASSWORD": "cassandra",  # k8s/cassandra.yaml keeps Cassandra's default superuser
        "PYTEST_ZDM_TARGET_PASSWORD": "cassandra",
        **env_vars,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, *target_args, f"--zdm-kubeconfig={loopback.kubeconfig}",
         f"--zdm-kubectl={loopback.kubectl}", "-p", "no:cacheprovider", "-q", "-rs",
         f"--junitxml={out / 'junit.xml'}", *args],
        capture_output=True, text=True, timeout=1500, cwd=out, env=env, check=False,
    )  # fmt: skip
    (out / "output.txt").write_text(proc.stdout + proc.stderr)
    return proc.returncode, proc.stdout + proc.stderr


def test_suites_pass_through_real_port_forwards_and_the_phase_1_gate_passes(
    loopback, one_at_a_time, tmp_path
):
    """kube target: connection, dual-write, consistency and end-to-end suites pass; gate 1 says PASS.

    The error-recovery suite is in the run too: on ``kube`` (someone's deployment) it is refused without
    --zdm-allow-destructive, and the gate for phase 1 does not require it.
    """
    names = (
        "test_connection",
        "test_dual_write",
        "test_consistency",
        "test_end_to_end",
        "test_error_recovery",
    )
    gate_file = tmp_path / "gate.json"
    code, out = _suites(
        loopback, tmp_path, "kube", [str(SUITES / f"{name}.py") for name in names],
        "--zdm-gate=1", f"--zdm-gate-file={gate_file}", f"--zdm-gate-suites={SUITES}",
    )  # fmt: skip
    gate = json.loads(gate_file.read_text())
    assert (code, gate["verdict"]) == (0, "PASS"), out[-4000:]
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    failed = {k: v for k, v in outcomes.items() if v[0] in ("FAILED", "ERROR")}
    assert not failed, failed
    passed = [name for name, (outcome, _) in outcomes.items() if outcome == "PASSED"]
    assert len(passed) >= 31, outcomes  # at least the 31 checks gate 1 requires (36 on 2026-11-30)
    refused = {k: v[1] for k, v in outcomes.items() if "recovery" in k or "node" in k or "restart" in k}
    assert refused and all("not disposable" in reason for reason in refused.values()), refused
    assert f"kube: context {CONTEXT} (" in out
    assert gate["origin_cassandra"].startswith("5.0"), gate


def test_the_kind_target_runs_the_error_recovery_suite_on_the_same_deployment(
    loopback, one_at_a_time, tmp_path
):
    """kind target (context kind-zdm, disposable): the error-recovery checks run and pass there."""
    code, out = _suites(
        loopback,
        tmp_path,
        "kind",
        [str(SUITES / "test_connection.py"), str(SUITES / "test_error_recovery.py")],
    )
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    recovery = {k: v for k, v in outcomes.items() if k.startswith(("test_node_down", "test_proxy_restart",
                                                                   "test_hung_node"))}  # fmt: skip
    assert len(recovery) == 4, outcomes
    assert all(outcome == "PASSED" for outcome, _ in recovery.values()), (recovery, out[-4000:])
    assert code == 0, out[-4000:]
    assert "kind: context kind-zdm (" in out


NOT_PASSED = ("FAILED", "ERROR")  # as in tests/test_fault_matrix.py: a setup the fault breaks counts


def _with_proxy_setting(
    loopback: Loopback, tmp_path: Path, name: str, value: str, *args: str
) -> tuple[int, str, dict[str, tuple[str, str]]]:
    """The error-recovery suite on kind while the proxy's ConfigMap says ``name=value``; put back after."""
    config = json.loads(loopback.run("get", "configmap", "zdm-proxy-config", "-o", "json"))
    original = config["data"].get(name)
    loopback.run("patch", "configmap", "zdm-proxy-config", "--type=merge", "-p",
                 json.dumps({"data": {name: value}}))  # fmt: skip
    try:
        _replace_proxy(loopback)
        code, out = _suites(loopback, tmp_path, "kind", [str(SUITES / "test_error_recovery.py")], *args)
    finally:
        loopback.run("patch", "configmap", "zdm-proxy-config", "--type=merge", "-p",
                     json.dumps({"data": {name: original}}))  # fmt: skip
        _replace_proxy(loopback)
    return code, out, junit_outcomes(tmp_path / "junit.xml")


def test_error_recovery_checks_fail_when_the_proxy_targets_the_wrong_cluster(
    loopback, one_at_a_time, tmp_path
):
    """Seeded fault in the deployment: the proxy's target is the origin node. Recovery checks must not pass.

    Stopping the real target then changes nothing the proxy sees (readiness never says DOWN), and a write
    after a proxy restart lands on origin only; the suite's schema never reaches the target either, so a
    check may already fail in its setup (as in the local fault matrix).
    """
    code, out, outcomes = _with_proxy_setting(
        loopback, tmp_path, "ZDM_TARGET_PORT", ORIGIN_CQL_PORT, "-k", "target or restart"
    )
    assert code != 0, out[-3000:]
    for name in ("test_node_down_is_reported_and_writes_fail_until_it_returns[target]",
                 "test_proxy_restart_clients_reconnect"):  # fmt: skip
        outcome, reason = outcomes[name]
        assert outcome in NOT_PASSED and ("target" in reason or "both clusters" in reason), (name, reason)


def test_the_hung_node_check_fails_when_the_proxy_waits_longer_than_the_client(
    loopback, one_at_a_time, tmp_path
):
    """Seeded fault: ZDM_PROXY_REQUEST_TIMEOUT_MS longer than the client's timeout; the check says so."""
    code, out, outcomes = _with_proxy_setting(
        loopback, tmp_path, "ZDM_PROXY_REQUEST_TIMEOUT_MS", "60000", "-k", "hung"
    )
    assert code != 0, out[-3000:]
    outcome, reason = outcomes["test_hung_node_gives_a_client_timeout_and_a_partial_write"]
    assert outcome == "FAILED" and "is not shorter than the client's" in reason, (outcome, reason)


def _replace_proxy(loopback: Loopback) -> None:
    """Delete the proxy's pods (they read the ConfigMap at start) and wait for a new Ready one."""
    loopback.run("delete", "pod", "-l", "app=zdm-proxy", "--wait=true")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if loopback.run("get", "pods", "-l", "app=zdm-proxy", "-o", "name").strip():
            break
        time.sleep(1)
    loopback.run("wait", "--for=condition=Ready", "pod", "-l", "app=zdm-proxy", "--timeout=300s", timeout=330)


RESTART_EVIDENCE = """
import os
import subprocess
import time

import pytest

from pytest_zdm.proxy.health import readiness


def test_a_proxy_pod_deleted_through_the_api(zdm_env):
    kubectl = [os.environ["KUBECTL"], "--kubeconfig", os.environ["KUBECONFIG_FILE"]]
    kubectl += ["--context", "zdm-loopback"]
    subprocess.run([*kubectl, "delete", "pod", "-l", "app=zdm-proxy", "--wait=true"], check=True, timeout=300)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and readiness(zdm_env.info.proxy_http)[0] != 200:
        time.sleep(1)
    ready = ["wait", "--for=condition=Ready", "pod", "-l", "app=zdm-proxy", "--timeout=300s"]
    subprocess.run([*kubectl, *ready], check=True, timeout=330)
    # the same local port answers again: the port-forward followed the new pod
    assert readiness(zdm_env.info.proxy_http)[0] == 200
    session = zdm_env.connect("proxy")
    try:
        assert session.session.execute("SELECT release_version FROM system.local").one()
    finally:
        session.close()


@pytest.mark.zdm_stable_proxy
def test_needs_a_stable_proxy(zdm_env):
    pass
"""


def test_a_proxy_pod_deleted_through_the_api_is_restart_evidence_and_the_forward_recovers(
    loopback, one_at_a_time, tmp_path
):
    """The proxy pod deleted with kubectl: the forward's local port serves the new pod; stability says why."""
    (tmp_path / "test_restart_evidence.py").write_text(RESTART_EVIDENCE)
    _, out = _suites(
        loopback, tmp_path, "kube", ["test_restart_evidence.py"], "--zdm-builtin-suites=false",
        KUBECTL=loopback.kubectl, KUBECONFIG_FILE=str(loopback.kubeconfig),
    )  # fmt: skip
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    assert outcomes["test_a_proxy_pod_deleted_through_the_api"][0] == "PASSED", out[-3000:]
    outcome, reason = outcomes["test_needs_a_stable_proxy"]
    assert outcome == "SKIPPED" and "proxy unstable: zdm-proxy restarted 1 time(s)" in reason, (
        outcome,
        reason,
    )
    assert "is gone (replaced)" in reason, reason


RECONFIGURE = """
import json


def test_reconfigure_rolls_the_deployment_and_puts_it_back(zdm_env):
    before = zdm_env.proxy_config()
    assert before["environment"].get("ZDM_READ_MODE") != "DUAL_ASYNC_ON_SECONDARY", before
    zdm_env.reconfigure_proxy({"ZDM_READ_MODE": "DUAL_ASYNC_ON_SECONDARY"})
    during = zdm_env.proxy_config()
    assert during["environment"]["ZDM_READ_MODE"] == "DUAL_ASYNC_ON_SECONDARY", during
    assert "DUAL_ASYNC_ON_SECONDARY" in json.dumps(during["parsed"]), during["parsed"]
    session = zdm_env.connect("proxy")
    try:
        assert session.session.execute("SELECT release_version FROM system.local").one()
    finally:
        session.close()
    zdm_env.reconfigure_proxy({})
    after = zdm_env.proxy_config()
    assert after["environment"] == before["environment"], (before, after)
    assert "DUAL_ASYNC_ON_SECONDARY" not in json.dumps(after["parsed"]), after["parsed"]
"""


def test_reconfigure_proxy_rolls_the_deployment_with_extra_settings_and_puts_it_back(
    loopback, one_at_a_time, tmp_path
):
    """reconfigure_proxy: the new pod runs with the extra setting (its own log says so); {} restores."""
    before = json.loads(loopback.run("get", "deployment", "zdm-proxy", "-o", "json"))
    (tmp_path / "test_reconfigure.py").write_text(RECONFIGURE)
    _, out = _suites(
        loopback, tmp_path, "kind", ["test_reconfigure.py"], "--zdm-builtin-suites=false"
    )  # fmt: skip
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    assert outcomes["test_reconfigure_rolls_the_deployment_and_puts_it_back"][0] == "PASSED", out[-3000:]
    after = json.loads(loopback.run("get", "deployment", "zdm-proxy", "-o", "json"))
    containers = [c.get("env") for c in after["spec"]["template"]["spec"]["containers"]]
    assert containers == [c.get("env") for c in before["spec"]["template"]["spec"]["containers"]]
