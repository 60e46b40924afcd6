"""The kubectl port-forward wrapper against the real kubectl, and the fake API server of kube_fake.

The fake answers what kubectl reads before it listens and accepts the SPDY upgrade, so these tests prove
kubectl's start-up, the parsing of its output, its errors, the keep-alive and the stop by PID. They do not
prove that bytes reach a pod (no live cluster here; see kube_fake's docstring).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import time

import psutil
import pytest

from pytest_zdm.errors import StartupError
from pytest_zdm.targets.kube.portforward import FORWARDING, ForwardKeeper, PortForward
from tests.kube_fake import FakeApiServer, deployment_world, write_kubeconfig

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH (.ci/run installs it)")


@pytest.fixture
def api():
    with FakeApiServer(list(deployment_world())) as server:
        yield server


def kubectl(kubeconfig, context="fake"):
    return [KUBECTL, "--kubeconfig", str(kubeconfig), "--context", context, "--namespace", "default"]


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


def test_reads_the_local_ports_kubectl_picked_probes_them_and_stops_kubectl_by_pid(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    log = tmp_path / "pf.log"
    forward = PortForward(
        kubectl(config),
        "svc/zdm-proxy",
        [9042, 14001],
        log_path=log,
        timeout=20,
        setting="zdm_kube_proxy_service",
    )
    try:
        ports = forward.start()
        printed = FORWARDING.findall(log.read_text())
        # kubectl names the pod's ports (the Service's targetPorts resolved: cql -> 14002), in order asked
        assert printed == [(str(ports[9042]), "14002"), (str(ports[14001]), "14001")], log.read_text()
        assert set(ports) == {9042, 14001} and all(port > 0 for port in ports.values())
        assert "--address" in forward.command() and "127.0.0.1" in forward.command()
        forward.probe()  # kubectl accepts on both ports
        pid = forward.pid
        assert pid is not None and psutil.Process(pid).name().startswith("kubectl")
        assert "POST /api/v1/namespaces/default/pods/zdm-proxy-6d5f7c9b8-x2x70/portforward" in api.requests
    finally:
        forward.stop()
    assert gone(pid)
    for port in ports.values():
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    forward.stop()  # twice is fine


def test_a_missing_context_is_a_one_line_error_naming_the_setting_in_bounded_time(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    forward = PortForward(
        kubectl(config, context="kind-nope"),
        "svc/cassandra-origin",
        [9042],
        log_path=tmp_path / "pf.log",
        timeout=20,
        setting="zdm_kind_cluster",
    )
    began = time.monotonic()
    with pytest.raises(StartupError) as err:
        forward.start()
    assert time.monotonic() - began < 10
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        "zdm_kind_cluster: kubectl port-forward svc/cassandra-origin exited with code 1"
    )
    assert 'context "kind-nope" does not exist' in message
    assert forward.pid is None


def test_an_unknown_service_is_kubectls_own_error_in_one_line(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    forward = PortForward(
        kubectl(config),
        "svc/nope",
        [9042],
        log_path=tmp_path / "pf.log",
        timeout=20,
        setting="zdm_kube_origin_service",
    )
    with pytest.raises(StartupError) as err:
        forward.start()
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(
        "zdm_kube_origin_service: kubectl port-forward svc/nope exited with code 1"
    )
    assert "not found" in str(err.value)


def test_an_api_server_that_never_answers_is_cut_off_at_the_timeout_and_kubectl_is_stopped(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    api.stall_seconds = 30
    forward = PortForward(
        kubectl(config),
        "svc/zdm-proxy",
        [9042],
        log_path=tmp_path / "pf.log",
        timeout=2,
        setting="zdm_kube_proxy_service",
    )
    began = time.monotonic()
    with pytest.raises(StartupError) as err:
        forward.start()
    assert time.monotonic() - began < 10
    assert re.match(
        r"zdm_kube_proxy_service: kubectl port-forward svc/zdm-proxy reported no local port within 2s",
        str(err.value),
    )
    assert forward.pid is None
    kubectl_children = [p for p in psutil.Process().children() if p.name().startswith("kubectl")]
    assert not kubectl_children


def test_a_dead_kubectl_is_restarted_on_the_same_local_port(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    forward = PortForward(
        kubectl(config), "svc/cassandra-target", [9042], log_path=tmp_path / "pf.log", timeout=20,
        setting="zdm_kube_target_service",
    )  # fmt: skip
    said: list[str] = []
    keeper = ForwardKeeper([forward], said.append, interval=0.2)
    try:
        port = forward.start()[9042]
        first = forward.pid
        keeper.start()
        os.kill(first, signal.SIGKILL)  # kubectl dies (as when it is OOM-killed)
        deadline = time.monotonic() + 20
        while forward.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert forward.alive() and forward.pid != first, said
        assert forward.local_ports == {9042: port}
        assert forward.restarts == 1
        forward.probe()
        assert any("restarting it on the same local ports" in line for line in said)
    finally:
        keeper.stop()
        forward.stop()
    assert gone(first) and (forward.pid is None)


def test_kubectl_exits_when_the_pod_connection_is_lost_and_the_keeper_brings_it_back(api, tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    forward = PortForward(
        kubectl(config), "svc/cassandra-origin", [9042], log_path=tmp_path / "pf.log", timeout=20,
        setting="zdm_kube_origin_service",
    )  # fmt: skip
    keeper = ForwardKeeper([forward], lambda _: None, interval=0.2)
    try:
        port = forward.start()[9042]
        first = forward.pid
        keeper.start()
        api.drop_forward_connections()  # what the API server does when the pod goes away
        deadline = time.monotonic() + 20
        while forward.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert forward.restarts >= 1, (tmp_path / "pf.log").read_text()
        assert gone(first) and forward.alive()
        assert forward.local_ports == {9042: port}
        assert "lost connection to pod" in (tmp_path / "pf.log").read_text()
    finally:
        keeper.stop()
        forward.stop()
