"""A real single-node Kubernetes cluster on 127.0.0.1, started and stopped by PID: ``kube-cluster``.

What runs (binaries from :mod:`tooling.kube_build`; containerd and runc from Debian): containerd with its own
root, state and socket; etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet, each
listening on 127.0.0.1 only. The node is named 127.0.0.1 (``--hostname-override``) and so has that
address; pods use the host's network (there is no pod network, no kube-proxy, no DNS). Configuration and
certificates: :mod:`tooling.kube_config`.

The cluster is thrown away at stop: every process is stopped by the PID recorded at start (pods first,
through the CRI, then the runtime, then the control plane), the mounts the kubelet and containerd made are
unmounted, the ``kubepods`` cgroups removed, and the kernel settings the kubelet changes
(``vm.overcommit_memory``, ``kernel.panic``, ``kernel.panic_on_oops``...) set back to the values read before
it started. ``stop`` then checks that nothing is left and says what is. Only containerd's image store and
the logs are kept (``<zdm_cache_dir>/kube-cluster``).
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import Progress, require_tool
from pytest_zdm.runtime import leftovers
from pytest_zdm.runtime.ports import is_free
from pytest_zdm.runtime.wait import WaitTimeout, wait_until
from tooling import kube_config as cfg
from tooling import kube_host as host
from tooling.kube_build import KubeBinaries

#: Kernel settings the kubelet sets on start (pkg/kubelet/cm/container_manager_linux.go): restored at stop.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: Where k8s/loopback keeps Cassandra's data (a hostPath: it outlives a pod, as a volume would).
VOLUMES = Path("/var/lib/pytest-zdm-kube")
_RUNTIME_BASE = Path("/run/pytest-zdm-kube")
#: Start order; stop is the reverse, with the pods removed between the kubelet and containerd.
COMPONENTS = ("containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")


@dataclass(frozen=True)
class ClusterDirs:
    """Where one cluster lives: ``home`` (kept: images, logs) and its per-start and runtime directories."""

    home: Path

    @property
    def run(self) -> Path:
        """Everything made at start and removed at stop: certificates, configs, etcd, the kubelet's root."""
        return self.home / "run"

    @property
    def logs(self) -> Path:
        """One log per component, kept after stop for post-mortems."""
        return self.home / "logs"

    @property
    def images(self) -> Path:
        """The root of containerd (its image store, kept between runs)."""
        return self.home / "containerd"

    @property
    def runtime(self) -> Path:
        """Sockets, containerd's state and runc's root: short (Unix socket paths are limited to 108 bytes)."""
        return _RUNTIME_BASE / hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]

    @property
    def socket(self) -> Path:
        """The socket of containerd (the kubelet's CRI endpoint)."""
        return self.runtime / "containerd.sock"

    @property
    def state(self) -> Path:
        """PIDs, start times and the host's settings as they were before start."""
        return self.home / "state.json"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig, with the contexts ``zdm-loopback`` and ``kind-zdm``."""
        return self.home / "kubeconfig"

    @property
    def pki(self) -> cfg.Pki:
        """The cluster's certificates."""
        return cfg.Pki(self.run / "pki")


def cluster_dirs(cache_dir: Path) -> ClusterDirs:
    """The cluster that belongs to a cache directory."""
    return ClusterDirs(cache_dir / "kube-cluster")


def _state(dirs: ClusterDirs) -> dict[str, Any]:
    try:
        data = json.loads(dirs.state.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(dirs: ClusterDirs, state: dict[str, Any]) -> None:
    dirs.state.write_text(json.dumps(state, indent=2))


def running(dirs: ClusterDirs) -> dict[str, int]:
    """The components that run now (same PID and start time as recorded), by name."""
    found = {}
    for name, proc in (_state(dirs).get("processes") or {}).items():
        if leftovers.process_alive(int(proc["pid"]), float(proc["started"])):
            found[name] = int(proc["pid"])
    return found


def _https_ok(url: str, dirs: ClusterDirs, *, client_cert: bool) -> bool:
    context = ssl.create_default_context(cafile=str(dirs.pki.crt("ca")))
    if client_cert:
        context.load_cert_chain(str(dirs.pki.crt("admin")), str(dirs.pki.key("admin")))
    else:  # a component's self-signed serving certificate: only liveness is asked
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=context, timeout=3) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


class Cluster:
    """Start, stop and describe the cluster of one :class:`ClusterDirs`."""

    def __init__(self, dirs: ClusterDirs, binaries: KubeBinaries, progress: Progress) -> None:
        self.dirs = dirs
        self.binaries = binaries
        self.progress = progress
        self.ports = cfg.Ports()

    # --- start -------------------------------------------------------------------------------------------
    def start(self, *, timeout: float = 180.0) -> Path:
        """Start every component and wait until the node is Ready; returns the admin kubeconfig."""
        if os.geteuid() != 0:
            raise ProvisionError("kube-cluster: the kubelet and containerd need root")
        live = running(self.dirs)
        if live and set(live) == set(COMPONENTS):
            self.progress(f"cluster already running ({', '.join(f'{n} pid {p}' for n, p in live.items())})")
            return self.dirs.kubeconfig
        if live:
            raise ProvisionError(
                f"kube-cluster: a partly running cluster ({', '.join(sorted(live))}); stop it first "
                "(python -m tooling kube-cluster stop)"
            )
        for name, port in self.ports.named().items():
            if not is_free(port):
                raise ProvisionError(
                    f"kube-cluster: port {port} ({name}) is in use by {host.port_holders(port)}"
                )
        for tool in ("containerd", "runc"):
            require_tool(tool, "the loopback cluster's container runtime (apt-get install containerd runc)")
        if not Path("/usr/lib/cni/loopback").is_file():
            raise ProvisionError(
                "kube-cluster: /usr/lib/cni/loopback not found (apt-get install containernetworking-plugins)"
            )
        began = time.monotonic()
        self._prepare()
        deadline = began + timeout
        try:
            self._start_containerd(deadline)
            self._start_control_plane(deadline)
            self._start_kubelet(deadline)
        except BaseException:
            self.progress("start failed: stopping what was started")
            self.stop()
            raise
        self.progress(f"cluster ready in {time.monotonic() - began:.1f}s; KUBECONFIG={self.dirs.kubeconfig}")
        return self.dirs.kubeconfig

    def _prepare(self) -> None:
        """Fresh per-start directories and files; the host's settings as they are now, for stop."""
        dirs = self.dirs
        dirs.home.mkdir(parents=True, exist_ok=True)
        state = _state(dirs)
        # A crashed start may have left the kubelet's values: keep the ones read before the first start.
        sysctls = state.get("sysctls") or {key: host.read_sysctl(key) for key in KUBELET_SYSCTLS}
        cgroups_before = state.get("cgroups_before")
        if cgroups_before is None:
            cgroups_before = [str(p) for p in host.kubepods_cgroups()]
        containerd_dirs_before = state.get("containerd_dirs_before")
        if containerd_dirs_before is None:
            containerd_dirs_before = [
                p for p in ("/run/containerd/s", "/run/containerd/runc") if Path(p).exists()
            ]
        _save(dirs, {"processes": {}, "sysctls": sysctls, "cgroups_before": cgroups_before,
                     "containerd_dirs_before": containerd_dirs_before})  # fmt: skip
        host.unmount_under(self._owned_dirs())
        for path in (dirs.run, dirs.runtime, VOLUMES):
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
        for path in (dirs.run, dirs.logs, dirs.images, dirs.runtime, VOLUMES):
            path.mkdir(parents=True, exist_ok=True)
        self.progress("making certificates (openssl, ECDSA P-256)")
        dirs.pki.make()
        server = f"https://{cfg.LOOPBACK}:{self.ports.apiserver}"
        dirs.kubeconfig.write_text(cfg.kubeconfig(dirs.pki, "admin", server, cfg.CONTEXTS))
        dirs.kubeconfig.chmod(0o600)
        for user in ("controller-manager", "scheduler", "kubelet"):
            (dirs.run / f"{user}.kubeconfig").write_text(cfg.kubeconfig(dirs.pki, user, server))
        (dirs.run / "cni").mkdir()
        (dirs.run / "cni" / "10-loopback.conflist").write_text(cfg.CNI_CONFLIST)
        # The host's resolv.conf names a resolver in a private range: pods get loopback only.
        (dirs.run / "resolv.conf").write_text(f"nameserver {cfg.LOOPBACK}\n")
        (dirs.run / "containerd.toml").write_text(
            cfg.containerd_config(
                root=dirs.images, state=dirs.runtime / "state", socket=dirs.socket,
                runc_root=dirs.runtime / "runc", cni_conf=dirs.run / "cni", opt=dirs.run / "containerd-opt",
            )
        )  # fmt: skip
        (dirs.run / "kubelet.yaml").write_text(
            cfg.kubelet_config(
                pki=dirs.pki, ports=self.ports, runtime_socket=dirs.socket,
                resolv_conf=dirs.run / "resolv.conf", pod_logs=dirs.run / "pod-logs",
            )
        )  # fmt: skip

    def _launch(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        """Start one component in its own session, its output in ``logs/<name>.log``; record its PID."""
        log = self.dirs.logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state = _state(self.dirs)
        state.setdefault("processes", {})[name] = {
            "pid": proc.pid,
            "started": leftovers.process_started(proc.pid),
        }
        _save(self.dirs, state)
        return proc

    def _wait(
        self, name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool], deadline: float
    ) -> None:
        began = time.monotonic()

        def check() -> bool:
            if proc.poll() is not None:
                tail = self._tail(name)
                raise ProvisionError(f"{name} exited with code {proc.returncode} at start:\n{tail}")
            return ready()

        try:
            wait_until(
                check, timeout=max(1.0, deadline - time.monotonic()), what=f"{name} ready", interval=0.2
            )
        except WaitTimeout as exc:
            raise ProvisionError(f"{exc}\n{self._tail(name)}") from None
        self.progress(f"{name} ready in {time.monotonic() - began:.1f}s (pid {proc.pid})")

    def _tail(self, name: str, lines: int = 15) -> str:
        log = self.dirs.logs / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return f"--- last lines of {log} ---\n" + "\n".join(text.splitlines()[-lines:])

    def _start_containerd(self, deadline: float) -> None:
        containerd = require_tool("containerd", "the cluster's container runtime")
        proc = self._launch("containerd", [containerd, "--config", str(self.dirs.run / "containerd.toml")])
        self._wait("containerd", proc, lambda: self._crictl_ok("info"), deadline)

    def _crictl_ok(self, *args: str) -> bool:
        done = subprocess.run(
            [str(self.binaries.path("crictl")), "--runtime-endpoint", f"unix://{self.dirs.socket}", *args],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        return done.returncode == 0

    def _start_control_plane(self, deadline: float) -> None:
        b, p, d, pki = self.binaries, self.ports, self.dirs, self.dirs.pki
        lo = cfg.LOOPBACK
        etcd = self._launch("etcd", [
            str(b.path("etcd")), "--name=zdm", f"--data-dir={d.run / 'etcd'}",
            f"--listen-client-urls=http://{lo}:{p.etcd_client}", f"--advertise-client-urls=http://{lo}:{p.etcd_client}",
            f"--listen-peer-urls=http://{lo}:{p.etcd_peer}", f"--initial-advertise-peer-urls=http://{lo}:{p.etcd_peer}",
            f"--initial-cluster=zdm=http://{lo}:{p.etcd_peer}", "--unsafe-no-fsync", "--log-level=warn",
        ])  # fmt: skip
        self._wait("etcd", etcd, lambda: _http_ok(f"http://{lo}:{p.etcd_client}/health"), deadline)
        apiserver = self._launch("kube-apiserver", [
            str(b.path("kube-apiserver")), f"--bind-address={lo}", f"--advertise-address={lo}",
            f"--secure-port={p.apiserver}", f"--etcd-servers=http://{lo}:{p.etcd_client}",
            f"--service-cluster-ip-range={cfg.SERVICE_CIDR}", "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.crt('apiserver')}", f"--tls-private-key-file={pki.key('apiserver')}",
            f"--client-ca-file={pki.crt('ca')}",
            f"--kubelet-client-certificate={pki.crt('apiserver-kubelet-client')}",
            f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-issuer=https://{lo}:{p.apiserver}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--authorization-mode=Node,RBAC", "--profiling=false",
        ])  # fmt: skip
        self._wait(
            "kube-apiserver", apiserver,
            lambda: _https_ok(f"https://{lo}:{p.apiserver}/readyz", d, client_cert=True), deadline,
        )  # fmt: skip
        common = ["--leader-elect=false", f"--bind-address={lo}", "--profiling=false"]
        manager = self._launch("kube-controller-manager", [
            str(b.path("kube-controller-manager")), *common, f"--secure-port={p.controller_manager}",
            f"--kubeconfig={d.run / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={d.run / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={d.run / 'controller-manager.kubeconfig'}",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.crt('ca')}",
            f"--service-cluster-ip-range={cfg.SERVICE_CIDR}", "--use-service-account-credentials=true",
        ])  # fmt: skip
        self._wait(
            "kube-controller-manager", manager,
            lambda: _https_ok(f"https://{lo}:{p.controller_manager}/healthz", d, client_cert=False), deadline,
        )  # fmt: skip
        scheduler = self._launch("kube-scheduler", [
            str(b.path("kube-scheduler")), *common, f"--secure-port={p.scheduler}",
            f"--kubeconfig={d.run / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={d.run / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={d.run / 'scheduler.kubeconfig'}",
        ])  # fmt: skip
        self._wait(
            "kube-scheduler", scheduler,
            lambda: _https_ok(f"https://{lo}:{p.scheduler}/healthz", d, client_cert=False), deadline,
        )  # fmt: skip

    def _start_kubelet(self, deadline: float) -> None:
        d = self.dirs
        kubelet = self._launch("kubelet", [
            str(self.binaries.path("kubelet")), f"--config={d.run / 'kubelet.yaml'}",
            f"--kubeconfig={d.run / 'kubelet.kubeconfig'}", f"--hostname-override={cfg.NODE_NAME}",
            f"--root-dir={d.run / 'kubelet'}", f"--cert-dir={d.run / 'kubelet-pki'}",
        ])  # fmt: skip
        self._wait("kubelet (node Ready)", kubelet, self._node_ready, deadline)
        self._wait("serviceaccount default", kubelet, self._default_service_account, deadline)

    def kubectl(self) -> list[str]:
        """The cluster's own kubectl with its admin kubeconfig."""
        kubectl = self.binaries.path("kubectl")
        return [str(kubectl), "--kubeconfig", str(self.dirs.kubeconfig), "--context", cfg.CLUSTER_NAME]

    def _get(self, *args: str) -> dict[str, Any] | None:
        done = subprocess.run([*self.kubectl(), "get", *args, "-o", "json"], capture_output=True, timeout=30,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            return None
        data = json.loads(done.stdout)
        return data if isinstance(data, dict) else None

    def _node_ready(self) -> bool:
        node = self._get("node", cfg.NODE_NAME)
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _default_service_account(self) -> bool:
        return self._get("serviceaccount", "default", "-n", "default") is not None

    # --- stop --------------------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop everything by PID, undo the host changes; returns what is still left (empty when clean)."""
        began = time.monotonic()
        state = _state(self.dirs)
        processes = state.get("processes") or {}
        for name in ("kube-controller-manager", "kube-scheduler", "kubelet"):
            self._end(name, processes.get(name))
        if name_running("containerd", processes) and not self._crictl_ok("rmp", "--all", "--force"):
            self.progress("crictl rmp --all --force failed; the pods' processes are killed below")
        self._end("containerd", processes.get("containerd"))
        for proc in self._shims():
            self.progress(f"stopping containerd-shim pid {proc.pid} (its pods were not removed)")
            host.terminate(proc)
        for pid in host.pod_pids():
            self.progress(f"killing pid {pid}, still in a kubepods cgroup")
            host.terminate_pid(pid)
        for name in ("kube-apiserver", "etcd"):
            self._end(name, processes.get(name))
        host.unmount_under(self._owned_dirs())
        host.remove_cgroups(state.get("cgroups_before") or [])
        for key, value in (state.get("sysctls") or {}).items():
            if value is not None and host.read_sysctl(key) != value:
                host.write_sysctl(key, value)
                self.progress(f"{key.replace('/', '.')} set back to {value}")
        for shim_dir in ("/run/containerd/s", "/run/containerd/runc"):
            if shim_dir not in (state.get("containerd_dirs_before") or []):
                host.remove_empty_tree(Path(shim_dir))
        for path in (self.dirs.run, self.dirs.runtime, VOLUMES):
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
        self.dirs.kubeconfig.unlink(missing_ok=True)
        left = self.leftovers(state)
        if not left:
            self.dirs.state.unlink(missing_ok=True)
            self.progress(f"cluster stopped in {time.monotonic() - began:.1f}s; nothing left behind")
        return left

    def _end(self, name: str, proc: dict[str, Any] | None) -> None:
        if proc is None or not leftovers.process_alive(int(proc["pid"]), float(proc["started"])):
            return
        began = time.monotonic()
        host.terminate_pid(int(proc["pid"]))
        self.progress(f"{name} stopped (pid {proc['pid']}, {time.monotonic() - began:.1f}s)")

    def _owned_dirs(self) -> tuple[Path, ...]:
        """Where this cluster mounts things: the kubelet's root, containerd's state, the volumes."""
        return (self.dirs.run, self.dirs.runtime, VOLUMES)

    def _shims(self) -> list[psutil.Process]:
        """The containerd-shim processes of this cluster (their arguments name its containerd socket)."""
        socket = str(self.dirs.socket)
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if "containerd-shim" in (proc.info.get("name") or "") and socket in cmdline:
                found.append(proc)
        return found

    def leftovers(self, state: dict[str, Any] | None = None) -> list[str]:
        """What this cluster left on the host: processes, mounts, cgroups, changed kernel settings."""
        state = _state(self.dirs) if state is None else state
        left = [f"{name} still runs (pid {pid})" for name, pid in running(self.dirs).items()]
        left += [f"containerd-shim still runs (pid {proc.pid})" for proc in self._shims()]
        left += [f"pid {pid} still in a kubepods cgroup" for pid in host.pod_pids()]
        left += [f"still mounted: {point}" for point in host.mounts_under(self._owned_dirs())]
        before = state.get("cgroups_before") or []
        left += [f"cgroup left: {path}" for path in host.kubepods_cgroups() if str(path) not in before]
        for key, value in (state.get("sysctls") or {}).items():
            now = host.read_sysctl(key)
            if value is not None and now != value:
                left += [f"{key.replace('/', '.')} is {now}, was {value} before the cluster started"]
        return left

    # --- status ------------------------------------------------------------------------------------------
    def status(self) -> list[str]:
        """One line per component (running or not), then the node and the pods when the API answers."""
        live = running(self.dirs)
        lines = [f"{name}: " + (f"running (pid {live[name]})" if name in live else "not running")
                 for name in COMPONENTS]  # fmt: skip
        if "kube-apiserver" in live and self.dirs.kubeconfig.exists():
            for args in (("nodes", "-o", "wide"), ("pods", "-A", "-o", "wide")):
                done = subprocess.run([*self.kubectl(), "get", *args], capture_output=True, text=True,
                                      timeout=30, check=False)  # fmt: skip
                lines += (done.stdout or done.stderr).rstrip().splitlines()
            lines.append(f"KUBECONFIG={self.dirs.kubeconfig} (contexts: {', '.join(cfg.CONTEXTS)})")
        return lines


def name_running(name: str, processes: dict[str, Any]) -> bool:
    """Whether the recorded process ``name`` still runs."""
    proc = processes.get(name)
    return proc is not None and leftovers.process_alive(int(proc["pid"]), float(proc["started"]))
