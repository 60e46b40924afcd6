"""The files a single-node Kubernetes cluster on loopback runs from: certificates, kubeconfigs, configs.

Everything names 127.0.0.1 only: the API server's certificate, the kubeconfigs, the kubelet's address. The
certificates are made with the ``openssl`` command (ECDSA P-256: fast to make, accepted by every
component); etcd listens on loopback without TLS, reached by the API server only. Written fresh at every
start: the cluster is thrown away at stop, only containerd's image store is kept between runs.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import require_tool

LOOPBACK = "127.0.0.1"
#: The node's name (``--hostname-override``): the kubelet refuses ``--node-ip=127.0.0.1``, but a node named
#: 127.0.0.1 gets that InternalIP, which is what Kubernetes' own hack/local-up-cluster.sh does.
NODE_NAME = LOOPBACK
CLUSTER_NAME = "zdm-loopback"
#: The context of the cluster, and an alias under the name a kind cluster called ``zdm`` would have, so
#: ``--zdm-target=kind --zdm-kind-cluster=zdm`` reaches it as it would reach kind.
CONTEXTS = (CLUSTER_NAME, "kind-zdm")
#: Bookkeeping only: there is no kube-proxy, so no ClusterIP is ever routed. Kept inside 127.0.0.0/8 so no
#: address of this cluster, even unused, lies in a private range.
SERVICE_CIDR = "127.0.100.0/24"
SERVICE_FIRST_IP = "127.0.100.1"
PAUSE_IMAGE = "pytest-zdm/pause:3.10.1"


@dataclass(frozen=True)
class Ports:
    """The cluster's fixed loopback ports (below the ephemeral range, where free-port picking never lands)."""

    apiserver: int = 6443
    etcd_client: int = 2379
    etcd_peer: int = 2380
    kubelet: int = 10250
    kubelet_healthz: int = 10248
    controller_manager: int = 10257
    scheduler: int = 10259

    def named(self) -> dict[str, int]:
        """Each port with the component that listens on it."""
        return {
            "kube-apiserver": self.apiserver,
            "etcd (clients)": self.etcd_client,
            "etcd (peers)": self.etcd_peer,
            "kubelet": self.kubelet,
            "kubelet (healthz)": self.kubelet_healthz,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
        }


def _openssl(args: list[str], what: str) -> None:
    openssl = require_tool("openssl", "the loopback cluster's certificates are made with it")
    done = subprocess.run([openssl, *args], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProvisionError(f"openssl ({what}) failed: {last}")


def _key(path: Path) -> None:
    _openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(path)], f"key {path.name}")
    path.chmod(0o600)


@dataclass(frozen=True)
class Pki:
    """The cluster's certificate authority and the certificates signed by it."""

    home: Path

    def crt(self, name: str) -> Path:
        """Certificate ``name``."""
        return self.home / f"{name}.crt"

    def key(self, name: str) -> Path:
        """Private key ``name``."""
        return self.home / f"{name}.key"

    @property
    def service_account_key(self) -> Path:
        """Signs service-account tokens (API server) and is read by the token controller."""
        return self.home / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        """Verifies service-account tokens."""
        return self.home / "sa.pub"

    def make(self) -> None:
        """The CA, the API server's serving certificate and one client certificate per component."""
        self.home.mkdir(parents=True, exist_ok=True)
        _key(self.key("ca"))
        _openssl(
            ["req", "-x509", "-new", "-key", str(self.key("ca")), "-days", "3650", "-subj",
             "/CN=pytest-zdm-loopback-ca", "-out", str(self.crt("ca"))],
            "CA",
        )  # fmt: skip
        sans = ",".join(
            [f"IP:{LOOPBACK}", f"IP:{SERVICE_FIRST_IP}", "DNS:localhost", "DNS:kubernetes",
             "DNS:kubernetes.default", "DNS:kubernetes.default.svc"]
        )  # fmt: skip
        self._sign("apiserver", "/CN=kube-apiserver", f"subjectAltName={sans}\nextendedKeyUsage=serverAuth")
        clients = {
            "admin": "/O=system:masters/CN=zdm-admin",
            "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
            "controller-manager": "/CN=system:kube-controller-manager",
            "scheduler": "/CN=system:kube-scheduler",
            "kubelet": f"/O=system:nodes/CN=system:node:{NODE_NAME}",
        }
        for name, subject in clients.items():
            self._sign(name, subject, "extendedKeyUsage=clientAuth")
        _key(self.service_account_key)
        _openssl(
            ["ec", "-in", str(self.service_account_key), "-pubout", "-out", str(self.service_account_pub)],
            "service-account public key",
        )

    def _sign(self, name: str, subject: str, extensions: str) -> None:
        _key(self.key(name))
        csr, ext = self.home / f"{name}.csr", self.home / f"{name}.ext"
        ext.write_text(extensions + "\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        _openssl(["req", "-new", "-key", str(self.key(name)), "-subj", subject, "-out", str(csr)], name)
        _openssl(
            ["x509", "-req", "-in", str(csr), "-CA", str(self.crt("ca")), "-CAkey", str(self.key("ca")),
             "-CAcreateserial", "-days", "3650", "-extfile", str(ext), "-out", str(self.crt(name))],
            name,
        )  # fmt: skip
        csr.unlink()
        ext.unlink()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig(pki: Pki, user: str, server: str, contexts: tuple[str, ...] = (CLUSTER_NAME,)) -> str:
    """A kubeconfig with the certificates embedded (it may be copied elsewhere and still work)."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.crt("ca"))},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki.crt(user)),
                    "client-key-data": _b64(pki.key(user)),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": CLUSTER_NAME, "user": user}} for name in contexts],
        "current-context": contexts[0],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def containerd_config(
    *, root: Path, state: Path, socket: Path, runc_root: Path, cni_conf: Path, opt: Path
) -> str:
    """The configuration of the cluster's containerd (format 2, 1.6): nothing shared with another one.

    ``restrict_oom_score_adj`` is required here: root lacks CAP_SYS_RESOURCE in this sandbox, and without it
    every pod sandbox fails with ``can't get final child's PID from pipe: EOF``.
    """
    cri = "io.containerd.grpc.v1.cri"
    return f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."{cri}"]
  sandbox_image = "docker.io/{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "{LOOPBACK}"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384

[plugins."{cri}".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni_conf}"

[plugins."{cri}".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."{cri}".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."{cri}".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{runc_root}"
"""


#: Pods here all use the host's network; the runtime still wants a network configuration to call the node's
#: network ready. Only the ``loopback`` plugin: a pod that does not use the host's network gets ``lo`` and
#: nothing else (no bridge, no address in a private range).
CNI_CONFLIST = json.dumps(
    {"cniVersion": "1.0.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]}, indent=2
)


def kubelet_config(*, pki: Pki, ports: Ports, runtime_socket: Path, resolv_conf: Path, pod_logs: Path) -> str:
    """The kubelet's configuration: loopback addresses, cgroup v1 with cgroupfs, no iptables chains."""
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": LOOPBACK,
        "port": ports.kubelet,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": ports.kubelet_healthz,
        "readOnlyPort": 0,
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this machine has cgroup v1 (hybrid); kubelet 1.35 will refuse it by default
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "resolvConf": str(resolv_conf),
        "podLogsDir": str(pod_logs),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki.crt("ca"))},
        },
        "authorization": {"mode": "AlwaysAllow"},  # reached on 127.0.0.1 by the API server's client cert only
        "makeIPTablesUtilChains": False,  # the host's iptables stay as they are
        "hairpinMode": "none",
        "imageGCHighThresholdPercent": 100,  # images come from no registry: never collect them
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "serializeImagePulls": False,
        "staticPodPath": "",
    }
    return yaml.safe_dump(doc, sort_keys=False)
