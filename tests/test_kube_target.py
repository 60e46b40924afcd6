"""The kind and kube targets up to where a live cluster would be needed.

Against the fake API server of kube_fake (serving the shipped k8s/ manifests and a running pod per workload)
the real ``kubernetes`` client and the real kubectl run: settings errors, contexts, Services, pods, the
Deployment's lint, port-forwards started and stopped. A CQL login through a forward cannot work there (the
fake forwards no bytes), so ``start`` is shown to get that far and fail with a one-line error in bounded
time, leaving no kubectl behind. Nothing here was run against a live cluster.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
import pytest

from pytest_zdm.errors import ControlError, SettingError, StartupError
from pytest_zdm.model import Control
from pytest_zdm.plugin.markers import destructive_refusal
from pytest_zdm.runtime.ports import free_ports
from pytest_zdm.settings import resolve
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import REHEARSAL_HINT
from pytest_zdm.targets.kube import KindTarget, KubeTarget
from pytest_zdm.targets.kube.api import KubeApi, resolve_context
from tests.kube_fake import FakeApiServer, as_api_object, deployment_world, running_pod, write_kubeconfig

PARSED = (
    'time="2025-01-10T10:01:02Z" level=info msg="Parsed configuration: {\\"PrimaryCluster\\":\\"ORIGIN\\",'
    '\\"ReadMode\\":\\"PRIMARY_ONLY\\",\\"OriginContactPoints\\":\\"cassandra-origin\\"}"\n'
    'time="2025-01-10T10:01:03Z" level=info msg="Initialized origin control connection. '
    'Cluster Name: zdm-origin, Hosts: map[...]"\n'
)


def settings(tmp_path: Path, **cli: str):
    return resolve(cli=cli, ini={}, environ={}, rootdir=tmp_path)


@pytest.fixture
def api():
    with FakeApiServer(list(deployment_world())) as server:
        yield server


def kubectl_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name().startswith("kubectl")]


def test_both_targets_are_registered_and_not_disposable(tmp_path):
    assert target_class("kube") is KubeTarget and target_class("kind") is KindTarget
    assert not KubeTarget.disposable and not KindTarget.disposable
    plain = settings(tmp_path)
    for name in ("kind", "kube"):
        assert destructive_refusal(name, plain) == (
            f"destructive check: target {name!r} is not disposable; run it with --zdm-allow-destructive if "
            f"stopping nodes and restarting the proxy there is acceptable, or {REHEARSAL_HINT}"
        )
        assert destructive_refusal(name, settings(tmp_path, zdm_allow_destructive="true")) is None
    assert destructive_refusal("local", plain) is None


def test_a_missing_context_names_the_setting_and_lists_the_contexts(tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", context="prod")
    with pytest.raises(SettingError) as err:
        KubeTarget.context(settings(tmp_path, zdm_kubeconfig=str(config), zdm_kube_context="staging"))
    assert (
        str(err.value)
        == f"zdm_kube_context: no context 'staging' in the kubeconfig {config} (its contexts: prod)"
    )
    assert KubeTarget.context(settings(tmp_path, zdm_kubeconfig=str(config))) == "prod"  # the current one


def test_the_kind_target_uses_kind_cluster_context_and_says_how_to_create_it(tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", context="kind-zdm")
    assert (
        KindTarget.context(settings(tmp_path, zdm_kubeconfig=str(config), zdm_kind_cluster="zdm"))
        == "kind-zdm"
    )
    with pytest.raises(SettingError) as err:
        KindTarget.context(settings(tmp_path, zdm_kubeconfig=str(config)))
    assert str(err.value) == (
        f"zdm_kind_cluster: no context 'kind-kind' in the kubeconfig {config} (its contexts: kind-zdm); "
        "create the cluster with: kind create cluster --name kind"
    )


def test_no_kubeconfig_at_all_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(SettingError) as err:
        resolve_context(None, None, setting="zdm_kube_context")
    assert str(err.value).startswith(f"zdm_kubeconfig: no usable kubeconfig at {tmp_path / 'none'}")
    assert "\n" not in str(err.value)


def test_an_api_server_that_is_not_there_fails_the_start_in_bounded_time(tmp_path):
    port = free_ports(1)[0]
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    target = KubeTarget(
        settings(tmp_path, zdm_kubeconfig=str(config), zdm_kube_forward_timeout="3"), tmp_path
    )
    began = time.monotonic()
    with pytest.raises(StartupError) as err:
        target.start({}, lambda _: None)
    target.stop()
    assert time.monotonic() - began < 15
    assert str(err.value).startswith(
        f"zdm_kube_context: no answer from the API server http://127.0.0.1:{port} of context 'fake' "
        "(within 3s): "
    )
    assert "Connection refused" in str(err.value) and "\n" not in str(err.value)


def test_a_missing_service_names_its_setting(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    cli = {"zdm_kubeconfig": str(config), "zdm_kube_origin_service": "cassandra-a"}
    target = KubeTarget(settings(tmp_path, **cli), tmp_path)
    with pytest.raises(SettingError) as err:
        target.start({}, lambda _: None)
    target.stop()
    assert str(err.value) == (
        "zdm_kube_origin_service: Service 'cassandra-a' not found in namespace 'default' of context 'fake'"
    )


def test_a_crash_looping_proxy_fails_the_start_with_the_pod_evidence(api, tmp_path):
    pod = next(
        o for o in api.objects if o["kind"] == "Pod" and o["metadata"]["labels"] == {"app": "zdm-proxy"}
    )
    status = pod["status"]["containerStatuses"][0]
    status.update(ready=False, restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff"}},
                  lastState={"terminated": {"exitCode": 1, "reason": "Error"}})  # fmt: skip
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    target = KubeTarget(settings(tmp_path, zdm_kubeconfig=str(config), zdm_startup_timeout="2"), tmp_path)
    with pytest.raises(StartupError) as err:
        target.start({}, lambda _: None)
    target.stop()
    assert str(err.value) == (
        "zdm_kube_proxy_service: Service 'zdm-proxy' has no ready pod within zdm_startup_timeout: pod "
        "zdm-proxy-6d5f7c9b8-x2x70 container zdm-proxy: CrashLoopBackOff (restarted 4x; last exit code 1 "
        "(Error))"
    )


def test_a_proxy_selector_that_matches_no_pod_fails_the_start_naming_it(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    cli = {
        "zdm_kubeconfig": str(config),
        "zdm_startup_timeout": "2",
        "zdm_kube_proxy_selector": "app=zdm-proxy-v2",
    }
    target = KubeTarget(settings(tmp_path, **cli), tmp_path)
    with pytest.raises(StartupError) as err:
        target.start({}, lambda _: None)
    target.stop()
    assert str(err.value) == (
        "zdm_kube_proxy_selector: the zdm-proxy pods are not ready within zdm_startup_timeout: "
        "no zdm-proxy pod matches app=zdm-proxy-v2"
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH (.ci/run installs it)")
def test_start_forwards_every_service_then_stops_at_the_cql_login_and_leaves_no_kubectl(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    cli = {"zdm_kubeconfig": str(config), "zdm_startup_timeout": "6", "zdm_origin_password": "pw-origin-xyz"}
    target = KubeTarget(settings(tmp_path, **cli), tmp_path)
    said: list[str] = []
    began = time.monotonic()
    try:
        with pytest.raises(StartupError) as err:
            target.start({}, said.append)
        pids = [f.pid for f in target.forwards]
        assert len(pids) == 3 and all(pids)
    finally:
        target.stop()
    assert time.monotonic() - began < 40
    message = str(err.value)
    assert message.startswith(
        "zdm_origin_username: no CQL login to origin through the port-forward of Service 'cassandra-origin' "
        "(127.0.0.1:"
    )
    assert "\n" not in message and "pw-origin-xyz" not in message + " ".join(said)
    forwarded = [line for line in said if line.startswith("port-forward svc/")]
    assert [line.split(":")[0] for line in forwarded] == [
        "port-forward svc/cassandra-origin",
        "port-forward svc/cassandra-target",
        "port-forward svc/zdm-proxy",
    ]
    assert "9042 -> 127.0.0.1:" in forwarded[2] and "14001 -> 127.0.0.1:" in forwarded[2]
    deadline = time.monotonic() + 10
    while kubectl_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not kubectl_children()
    assert all(
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in pids
    )


def _controlled(api, tmp_path):
    """A target whose API client is connected, as after start (controls need no port-forward)."""
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    target = KubeTarget(settings(tmp_path, zdm_kubeconfig=str(config)), tmp_path)
    target.api = KubeApi(config, "fake", "default", context_setting="zdm_kube_context", timeout=5)
    return target


def test_controls_read_status_logs_and_configuration_from_the_cluster(api, tmp_path):
    api.logs["zdm-proxy-6d5f7c9b8-x2x70"] = PARSED
    target = _controlled(api, tmp_path)
    try:
        status = target.control(Control.PROXY_STATUS)
        assert (status["running"], status["starts"], status["pods"]) == (
            True,
            1,
            ["zdm-proxy-6d5f7c9b8-x2x70"],
        )
        logs = target.control(Control.PROXY_LOGS)
        assert "Initialized origin control connection. Cluster Name: zdm-origin," in logs
        config = target.control(Control.PROXY_CONFIG)
        assert config["findings"] == []
        assert config["parsed"] == {
            "PrimaryCluster": "ORIGIN", "ReadMode": "PRIMARY_ONLY", "OriginContactPoints": "cassandra-origin"
        }  # fmt: skip
        assert config["environment"]["ZDM_TARGET_PASSWORD"] != "cassandra"  # from the Secret: not read
        with pytest.raises(ControlError):
            target.control(Control.RESTART_PROXY)
    finally:
        target.stop()


def test_a_restarted_proxy_pod_and_an_ignored_setting_reach_the_controls(api, tmp_path):
    target = _controlled(api, tmp_path)
    try:
        assert target.control(Control.PROXY_STATUS)["starts"] == 1
        pod = next(
            o for o in api.objects if o["kind"] == "Pod" and o["metadata"]["labels"] == {"app": "zdm-proxy"}
        )
        pod["status"]["containerStatuses"][0]["restartCount"] = 2
        assert target.control(Control.PROXY_STATUS)["starts"] == 3
        api.stall_seconds = 8  # the API server stops answering within the target's 5 s
        status = target.control(Control.PROXY_STATUS)
        api.stall_seconds = 0
        assert (status["running"], status["starts"]) == (False, 3)
        assert status["problems"][0].startswith(
            "the zdm-proxy pods could not be read: zdm_kube_context: no answer"
        )
        config_map = next(o for o in api.objects if o["kind"] == "ConfigMap")
        config_map["data"]["ZDM_ENABLE_TARGET_WRITES"] = "true"
        findings = target.control(Control.PROXY_CONFIG)["findings"]
        assert len(findings) == 1 and findings[0].startswith(
            "ZDM_ENABLE_TARGET_WRITES: not a zdm-proxy setting"
        )
    finally:
        target.stop()


def test_the_shipped_manifests_fit_the_targets_defaults(tmp_path):
    """Services, ports, selectors and the proxy's labels in k8s/ are what the targets look for by default."""
    defaults = settings(tmp_path)
    world = [as_api_object(doc) for doc in deployment_world()]
    services = {o["metadata"]["name"]: o for o in world if o["kind"] == "Service"}
    for name, port in (
        (defaults.zdm_kube_origin_service, defaults.zdm_kube_cql_port),
        (defaults.zdm_kube_target_service, defaults.zdm_kube_cql_port),
        (defaults.zdm_kube_proxy_service, defaults.zdm_kube_proxy_port),
        (defaults.zdm_kube_proxy_service, defaults.zdm_kube_proxy_metrics_port),
    ):
        assert port in [p["port"] for p in services[name]["spec"]["ports"]], name
        selector = services[name]["spec"]["selector"]
        pods = [o for o in world if o["kind"] == "Pod" and o["metadata"]["labels"] == selector]
        assert len(pods) == 1, name
        named = {p["name"] for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in services[name]["spec"]["ports"]} <= named
    key, value = defaults.zdm_kube_proxy_selector.split("=")
    proxy = next(o for o in world if o["kind"] == "Deployment")
    assert proxy["metadata"]["name"] == defaults.zdm_kube_proxy_deployment
    assert proxy["spec"]["template"]["metadata"]["labels"] == {key: value}
    assert running_pod(proxy)["metadata"]["labels"] == {key: value}


def test_through_pytest_a_missing_kind_cluster_is_one_line_before_anything_runs(pytester, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", context="kind-other")
    pytester.makepyfile("def test_uses_the_environment(zdm_env): pass")
    began = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--zdm-target=kind", f"--zdm-kubeconfig={config}", "--zdm-kind-cluster=zdm", "-p", "no:cacheprovider"
    )
    assert time.monotonic() - began < 60
    expected = (
        "zdm_kind_cluster: no context 'kind-zdm' in the kubeconfig * (its contexts: kind-other); "
        "create the cluster with: kind create cluster --name zdm"
    )
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.str().count("no context 'kind-zdm'") == 1, "printed once"
    assert "collected" not in result.stdout.str(), "nothing ran"
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
