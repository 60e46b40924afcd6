"""API objects -> endpoints, proxy-instability evidence and lint input (kind/kube targets), without a cluster.

Objects are built by the ``kubernetes`` client's own deserializer from JSON shaped as the API server returns
it, so field names and types are the client's, not ours.
"""

from __future__ import annotations

import json
import threading
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_zdm import lint
from pytest_zdm.errors import SettingError
from pytest_zdm.model import Control
from pytest_zdm.plugin import stability
from pytest_zdm.targets.kube import resources
from tests.kube_fake import as_api_object, deserialize, manifest_documents, running_pod

PROXY = next(
    d for d in manifest_documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "zdm-proxy"
)


def pod(restarts=0, **changes):
    data = running_pod(PROXY, restarts=restarts)
    data["metadata"].update(changes.pop("metadata", {}))
    data["status"].update(changes.pop("status", {}))
    return deserialize(data, "V1Pod")


def crash_looping(restarts=5, exit_code=1):
    status = deepcopy(running_pod(PROXY)["status"]["containerStatuses"][0])
    status.update(
        ready=False,
        started=False,
        restartCount=restarts,
        state={"waiting": {"reason": "CrashLoopBackOff",
                           "message": "back-off 2m40s restarting failed container=zdm-proxy"}},
        lastState={"terminated": {"exitCode": exit_code, "reason": "Error",
                                  "startedAt": "2025-01-10T10:05:00Z", "finishedAt": "2025-01-10T10:05:01Z",
                                  "containerID": "containerd://ef"}},
    )  # fmt: skip
    return pod(
        restarts,
        status={
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [status],
        },
    )


def service(name="zdm-proxy", **spec):
    doc = as_api_object(
        next(d for d in manifest_documents() if d["kind"] == "Service" and d["metadata"]["name"] == name)
    )
    doc["spec"].update(spec)
    return deserialize(doc, "V1Service")


# --- Services -> ports to forward


def test_the_service_port_named_by_the_setting_is_used():
    assert (
        resources.service_port(
            service(), 9042, setting="zdm_kube_proxy_service", port_setting="zdm_kube_proxy_port"
        )
        == 9042
    )


def test_a_missing_service_port_names_the_port_setting_and_lists_the_ports():
    with pytest.raises(SettingError) as err:
        resources.service_port(
            service(), 9043, setting="zdm_kube_proxy_service", port_setting="zdm_kube_proxy_port"
        )
    assert str(err.value) == (
        "zdm_kube_proxy_port: Service 'zdm-proxy' has no port 9043 (its ports: 9042, 14001); set "
        "zdm_kube_proxy_port to the port to use"
    )


def test_a_service_without_selector_cannot_be_port_forwarded():
    with pytest.raises(SettingError) as err:
        resources.service_port(service(selector=None), 9042, setting="zdm_kube_proxy_service",
                               port_setting="zdm_kube_proxy_port")  # fmt: skip
    assert str(err.value).startswith("zdm_kube_proxy_service: Service 'zdm-proxy' has no pod selector")


# --- pods -> serving or not, with the reason


def test_a_running_ready_pod_serves():
    assert resources.pod_problems(pod()) == []
    assert resources.serving_pods([pod()]) == ["zdm-proxy-6d5f7c9b8-x2x70"]


def test_crash_loop_back_off_is_reported_with_restarts_and_the_last_exit():
    assert resources.pod_problems(crash_looping()) == [
        "pod zdm-proxy-6d5f7c9b8-x2x70 container zdm-proxy: CrashLoopBackOff "
        "(restarted 5x; last exit code 1 (Error))"
    ]
    assert resources.serving_pods([crash_looping()]) == []


def test_pending_pods_terminating_pods_and_image_pull_failures_do_not_serve():
    pending = running_pod(PROXY)
    pending["status"] = {"phase": "Pending", "containerStatuses": [
        {"name": "zdm-proxy", "ready": False, "restartCount": 0, "image": "datastax/zdm-proxy:2.x",
         "imageID": "", "state": {"waiting": {"reason": "ImagePullBackOff",
                                              "message": "Back-off pulling image"}}}]}  # fmt: skip
    assert resources.pod_problems(deserialize(pending, "V1Pod")) == [
        "pod zdm-proxy-6d5f7c9b8-x2x70 container zdm-proxy: ImagePullBackOff (restarted 0x)"
    ]
    scheduling = running_pod(PROXY)
    scheduling["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
    assert resources.pod_problems(deserialize(scheduling, "V1Pod")) == [
        "pod zdm-proxy-6d5f7c9b8-x2x70 is Pending"
    ]
    leaving = pod(metadata={"deletionTimestamp": "2025-01-10T11:00:00Z"})
    assert resources.pod_problems(leaving) == ["pod zdm-proxy-6d5f7c9b8-x2x70 is terminating"]


# --- proxy pods -> the stability marker's evidence


def test_restarts_and_replacements_only_ever_add_starts():
    tracker = resources.ProxyPods("app=zdm-proxy")
    first = tracker.observe([pod(0)])
    assert (first["starts"], first["running"], first["problems"]) == (1, True, [])
    assert tracker.observe([pod(2)])["starts"] == 3  # two container restarts
    replaced = pod(0, metadata={"name": "zdm-proxy-6d5f7c9b8-q9w8e", "uid": "uid-new"})
    status = tracker.observe([replaced])  # the old pod was deleted and the Deployment made a new one
    assert status["starts"] == 4
    assert "pod zdm-proxy-6d5f7c9b8-x2x70 is gone (replaced)" in status["history"]
    assert tracker.observe([])["problems"] == ["no zdm-proxy pod matches app=zdm-proxy"]


class _Readiness(BaseHTTPRequestHandler):
    body = {"OriginStatus": {"Status": "UP"}, "TargetStatus": {"Status": "UP"}, "Status": "UP"}

    def do_GET(self):
        data = (
            json.dumps(self.body).encode()
            if "readiness" in self.path
            else b"zdm_proxy_failed_connections_total 0\n"
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy_http():
    """A real HTTP endpoint answering readiness 200 UP, so only the pods can make the proxy unstable."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readiness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class PodsEnv:
    """What stability.evidence reads from an environment, with the kube target's pod-based status."""

    def __init__(self, http, pods):
        self.info = type("Info", (), {"proxy_http": http})()
        self.pods = pods
        self.tracker = resources.ProxyPods("app=zdm-proxy")

    def supports(self, verb):
        return verb is Control.PROXY_STATUS

    def proxy_status(self):
        return self.tracker.observe(self.pods)


def test_a_restarted_proxy_pod_makes_the_proxy_unstable_with_the_pod_as_evidence(proxy_http):
    env = PodsEnv(proxy_http, [pod(0)])
    baseline = stability.take_baseline(env)
    assert stability.evidence(env, baseline) == []
    env.pods = [pod(1)]
    reasons = stability.evidence(env, baseline)
    assert len(reasons) == 1
    assert reasons[0].startswith("zdm-proxy restarted 1 time(s) since ")
    assert "pod zdm-proxy-6d5f7c9b8-x2x70 restarted 1x" in reasons[0]


def test_crash_loop_back_off_makes_the_proxy_unstable(proxy_http):
    env = PodsEnv(proxy_http, [crash_looping(5)])
    baseline = stability.take_baseline(env)
    env.pods = [crash_looping(6)]
    reasons = stability.evidence(env, baseline)
    assert reasons[0] == (
        "zdm-proxy process is not running (pod zdm-proxy-6d5f7c9b8-x2x70 container zdm-proxy: "
        "CrashLoopBackOff (restarted 6x; last exit code 1 (Error)))"
    )
    assert reasons[1].startswith("zdm-proxy restarted 1 time(s)")


# --- Deployment + envFrom sources -> configuration lint


def _deployment(env=None, env_from=None, args=None):
    doc = as_api_object(PROXY)
    doc["status"] = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}
    doc["metadata"]["managedFields"] = [{"manager": "kubectl-client-side-apply", "operation": "Update"}]
    container = doc["spec"]["template"]["spec"]["containers"][0]
    if env is not None:
        container["env"] = env
    if env_from is not None:
        container["envFrom"] = env_from
    if args is not None:
        container["args"] = args
    return deserialize(doc, "V1Deployment")


def _config_map(**data):
    base = next(d for d in manifest_documents() if d["kind"] == "ConfigMap")
    doc = as_api_object(base)
    doc["data"] = {**doc["data"], **data}
    return deserialize(doc, "V1ConfigMap")


SECRET_KEYS = {"zdm-proxy-credentials": ["ZDM_ORIGIN_PASSWORD", "ZDM_TARGET_PASSWORD"]}


def lint_of(deployment, config_maps, secret_keys=SECRET_KEYS, phase=None):
    docs = resources.lint_documents(deployment, config_maps, secret_keys)
    return lint.lint_kubernetes_objects(docs, phase=phase)


def test_the_shipped_deployment_as_the_api_returns_it_has_no_finding():
    settings, findings = lint_of(_deployment(), {"zdm-proxy-config": _config_map()}, phase=1)
    assert findings == []
    assert settings["ZDM_PRIMARY_CLUSTER"] == "ORIGIN"
    assert settings["ZDM_ORIGIN_PASSWORD"] == lint.UNKNOWN_VALUE  # set by the Secret, value never read


def test_an_ignored_setting_in_a_referenced_config_map_is_found():
    _, findings = lint_of(_deployment(), {"zdm-proxy-config": _config_map(ZDM_PHASE="B")})
    assert [f.setting for f in findings] == ["ZDM_PHASE"]
    assert "silently ignores" in findings[0].problem


def test_env_overrides_env_from_as_the_kubelet_does():
    deployment = _deployment(env=[{"name": "ZDM_READ_MODE", "value": "DUAL_ASYNC_ON_SECONDARY"}])
    settings, findings = lint_of(deployment, {"zdm-proxy-config": _config_map()}, phase=1)
    assert settings["ZDM_READ_MODE"] == "DUAL_ASYNC_ON_SECONDARY"
    assert [f.setting for f in findings] == ["ZDM_READ_MODE"]


def test_an_env_from_prefix_is_applied():
    deployment = _deployment(env_from=[{"configMapRef": {"name": "zdm-proxy-config"}, "prefix": "ZDM_"},
                                       {"secretRef": {"name": "zdm-proxy-credentials"}}])  # fmt: skip
    plain = _config_map()
    plain.data = {key.removeprefix("ZDM_"): value for key, value in plain.data.items()}
    settings, findings = lint_of(deployment, {"zdm-proxy-config": plain})
    assert settings["ZDM_ORIGIN_CONTACT_POINTS"] == "cassandra-origin" and findings == []


def test_an_unreadable_secret_turns_missing_passwords_into_warnings_naming_it():
    _, findings = lint_of(_deployment(), {"zdm-proxy-config": _config_map()}, secret_keys={})
    assert {f.setting for f in findings} == {"ZDM_ORIGIN_PASSWORD", "ZDM_TARGET_PASSWORD"}
    assert all(f.severity == "warning" and "secretRef 'zdm-proxy-credentials'" in f.problem for f in findings)


def test_config_flag_makes_the_proxy_ignore_the_environment():
    _, findings = lint_of(
        _deployment(args=["--config", "/etc/zdm/config.yml"]), {"zdm-proxy-config": _config_map()}
    )
    assert [f.setting for f in findings] == ["--config"]


def test_a_password_written_in_the_deployment_is_masked_and_never_in_a_finding():
    deployment = _deployment(env=[{"name": "ZDM_ORIGIN_PASSWORD", "value": "s3cr3t-origin"},
                                  {"name": "ZDM_TARGET_PASWORD", "value": "s3cr3t-target"}])  # fmt: skip
    settings, findings = lint_of(deployment, {"zdm-proxy-config": _config_map()})
    shown = resources.public_settings(settings)
    assert (
        shown["ZDM_ORIGIN_PASSWORD"] == resources.MASKED and shown["ZDM_TARGET_PASWORD"] == resources.MASKED
    )
    assert "s3cr3t" not in json.dumps(shown) + " ".join(map(str, findings))
    assert [f.setting for f in findings] == ["ZDM_TARGET_PASWORD"]  # the typo is still found


def test_the_proxy_version_comes_from_the_image_tag():
    assert resources.proxy_image_version(_deployment()) == "2.x"
