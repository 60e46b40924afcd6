"""The loopback cluster's tooling without a cluster: build recipe, certificates, configs, manifests, images.

What the running cluster does is tested in ``test_kube_cluster.py``; these check, in seconds and without
root, what it is made from: the wrapper module that makes ``go build`` accept Kubernetes, certificates that
name only loopback, the kubelet and containerd settings the trial run found necessary, the overlay's loopback
rule, and the pause image's archive format.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tooling import kube_build, kube_config, kube_images
from tooling.kube_host import mounts_under

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

GO_MOD = """module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tk8s.io/klog/v2 v2.130.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_the_wrapper_module_replaces_every_staging_module_by_its_release():
    modules = kube_build.staging_modules(GO_MOD)
    assert modules == ["k8s.io/api", "k8s.io/sample-controller"]
    go_mod = kube_build.wrapper_go_mod("1.34.4", modules)
    assert "require k8s.io/kubernetes v1.34.4" in go_mod
    assert "\tk8s.io/api => k8s.io/api v0.34.4\n" in go_mod
    assert "\tk8s.io/sample-controller => k8s.io/sample-controller v0.34.4\n" in go_mod
    tools = kube_build.tools_go()
    assert tools.startswith("//go:build tools\n")
    for _, package in kube_build.COMPONENTS:
        assert f'_ "{package}"' in tools


def test_binaries_are_stamped_with_their_release_version():
    flags = kube_build.ldflags("1.34.4")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.34.4" in flags
        assert f"-X {package}.gitMinor=34" in flags


def test_a_cache_entry_without_its_marker_or_a_binary_is_not_used(tmp_path):
    home = kube_build.cache_home(tmp_path)
    (home / "bin").mkdir(parents=True)
    for name in kube_build.BINARIES:
        (home / "bin" / name).write_bytes(b"")
    assert kube_build.cached(tmp_path) is None  # no marker: a build cut short
    (home / "build.json").write_text("{}")
    assert kube_build.cached(tmp_path) == kube_build.KubeBinaries(kube_build.KUBERNETES_VERSION, home)
    (home / "bin" / "kubelet").unlink()
    assert kube_build.cached(tmp_path) is None


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_certificates_name_loopback_only_and_chain_to_the_cluster_ca(tmp_path):
    pki = kube_config.Pki(tmp_path / "pki")
    pki.make()
    for name in (
        "apiserver",
        "admin",
        "kubelet",
        "controller-manager",
        "scheduler",
        "apiserver-kubelet-client",
    ):
        done = subprocess.run(
            ["openssl", "verify", "-CAfile", str(pki.crt("ca")), str(pki.crt(name))],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(pki.crt("apiserver")), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in text and "IP Address:127.0.100.1" in text
    assert "DNS:localhost" in text
    kubelet = subprocess.run(
        ["openssl", "x509", "-in", str(pki.crt("kubelet")), "-noout", "-subject"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "O = system:nodes" in kubelet and "CN = system:node:127.0.0.1" in kubelet
    config = yaml.safe_load(
        kube_config.kubeconfig(pki, "admin", "https://127.0.0.1:6443", kube_config.CONTEXTS)
    )
    assert [c["name"] for c in config["contexts"]] == ["zdm-loopback", "kind-zdm"]
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_the_kubelet_and_containerd_get_the_settings_this_machine_needs(tmp_path):
    pki = kube_config.Pki(tmp_path)
    kubelet = yaml.safe_load(
        kube_config.kubelet_config(
            pki=pki, ports=kube_config.Ports(), runtime_socket=tmp_path / "c.sock",
            resolv_conf=tmp_path / "resolv.conf", pod_logs=tmp_path / "logs",
        )
    )  # fmt: skip
    assert kubelet["address"] == kubelet["healthzBindAddress"] == "127.0.0.1"
    assert kubelet["readOnlyPort"] == 0
    assert (kubelet["cgroupDriver"], kubelet["failCgroupV1"], kubelet["failSwapOn"]) == (
        "cgroupfs",
        False,
        False,
    )
    assert kubelet["makeIPTablesUtilChains"] is False  # the host's iptables are left alone
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    containerd = tomllib.loads(
        kube_config.containerd_config(
            root=tmp_path / "root", state=tmp_path / "state", socket=tmp_path / "c.sock",
            runc_root=tmp_path / "runc", cni_conf=tmp_path / "cni", opt=tmp_path / "opt",
        )
    )  # fmt: skip
    cri = containerd["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["stream_server_address"] == "127.0.0.1"
    assert cri["sandbox_image"] == f"docker.io/{kube_config.PAUSE_IMAGE}"
    assert containerd["grpc"]["address"] == str(tmp_path / "c.sock")
    assert containerd["root"] == str(tmp_path / "root")
    assert json.loads(kube_config.CNI_CONFLIST)["plugins"] == [{"type": "loopback"}]


def _kubectl() -> str:
    found = sorted(Path.home().glob(".cache/pytest-zdm/kubernetes/*/bin/kubectl")) or [
        shutil.which("kubectl")
    ]
    if not found[0]:
        pytest.skip("needs kubectl (kubectl kustomize renders the overlay)")
    return str(found[0])


def test_the_loopback_overlay_keeps_every_pod_on_loopback_below_the_ephemeral_ports():
    docs = kube_images.render(_kubectl(), kube_images.OVERLAY, cassandra_image=None, proxy_image=None)
    workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]
    assert sorted(d["metadata"]["name"] for d in workloads) == [
        "cassandra-origin",
        "cassandra-target",
        "zdm-proxy",
    ]
    ports: list[int] = []
    for doc in workloads:
        spec = doc["spec"]["template"]["spec"]
        assert spec["hostNetwork"] is True, doc["metadata"]["name"]
        assert "volumeClaimTemplates" not in doc["spec"]
        for container in spec["containers"]:
            assert container["image"].startswith("pytest-zdm/")
            ports += [p["containerPort"] for p in container["ports"]]
            env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
            for name in ("CASSANDRA_LISTEN_ADDRESS", "CASSANDRA_BROADCAST_ADDRESS", "CASSANDRA_RPC_ADDRESS"):
                assert env.get(name, "127.0.0.1") == "127.0.0.1"
    assert all(port < 32768 for port in ports) and len(set(ports)) == len(ports) == 4, ports
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    for key in ("ZDM_ORIGIN_CONTACT_POINTS", "ZDM_TARGET_CONTACT_POINTS", "ZDM_PROXY_LISTEN_ADDRESS",
                "ZDM_METRICS_ADDRESS"):  # fmt: skip
        assert config[key] == "127.0.0.1", key
    assert "0.0.0.0" not in yaml.safe_dump_all(docs)
    replaced = kube_images.render(
        _kubectl(), kube_images.OVERLAY, cassandra_image="example/c:1", proxy_image="example/p:2"
    )
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in replaced if d["kind"] in ("StatefulSet", "Deployment")}  # fmt: skip
    assert images == {
        "cassandra-origin": "example/c:1",
        "cassandra-target": "example/c:1",
        "zdm-proxy": "example/p:2",
    }


def test_the_shipped_cassandra_manifest_can_be_paused_and_keeps_its_data():
    docs = [d for d in yaml.safe_load_all((ROOT / "k8s" / "cassandra.yaml").read_text()) if d]
    for sts in (d for d in docs if d["kind"] == "StatefulSet"):
        assert sts["spec"]["template"]["spec"]["shareProcessNamespace"] is True
        assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
        env = {e["name"]: e["value"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "-Dcassandra.settings.authenticator=PasswordAuthenticator" in env["JVM_EXTRA_OPTS"]


def test_the_pause_image_is_a_docker_archive_of_one_layer(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF not really")
    archive = kube_images.pause_archive(binary, tmp_path / "pause.tar", tag="pytest-zdm/pause:test")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["pytest-zdm/pause:test"]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Entrypoint"] == ["/pause"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        member = inner.getmember("pause")
        assert member.mode == 0o755 and inner.extractfile(member).read() == binary.read_bytes()  # type: ignore[union-attr]
    assert kube_images.normalized("pytest-zdm/pause:test") == "docker.io/pytest-zdm/pause:test"
    assert kube_images.normalized("registry.local:5000/x:1") == "registry.local:5000/x:1"


def test_mounts_are_found_only_under_the_directories_named(tmp_path):
    assert mounts_under([tmp_path]) == []
    assert "/proc" in mounts_under([Path("/proc")])
