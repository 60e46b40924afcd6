"""Node and proxy controls of the kind and kube targets, carried out through the Kubernetes API.

What each verb means in a cluster (the error-recovery checks need these):

- **restart_proxy**: delete the proxy's pods; their Deployment replaces them. Done when the old pods are
  gone, as many new ones are Ready, the port-forward reaches one of them and ``/health/readiness`` says both
  clusters are UP.
- **reconfigure_proxy**: set the extra ``ZDM_*`` settings as ``env`` entries of the proxy's container in its
  Deployment (they override its ``envFrom`` sources; an entry of the same name is replaced), so the
  Deployment rolls its pods; ``{}`` puts the container's own ``env`` back. Done as for a restart. The
  target puts it back at stop too, so a run that ends early leaves the Deployment as it found it.
- **stop_node / kill_node**: scale the workload that owns the cluster's pod (its StatefulSet, or the
  Deployment of its ReplicaSet) down by one, so the pod is gone and stays gone; ``kill`` also deletes it
  with no grace period (SIGKILL, a crash). Its data stays on its volume.
- **start_node**: scale back to the replicas it had; done when the pods are Ready and a CQL login works
  through the cluster's port-forward, restarted on the same local port.
- **pause_node / resume_node**: ``kill -STOP`` / ``-CONT`` of the Cassandra process (``java``) through
  ``exec``: a node that hangs with its sockets open. A process that is PID 1 of its container ignores
  SIGSTOP sent from inside it, so this needs ``shareProcessNamespace: true`` in the pod (as in ``k8s/``); a
  pod without it is reported as such, not silently left running.

Every wait is bounded by ``zdm_startup_timeout``; every failure is one line naming the setting concerned.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.client import V1Pod

from pytest_zdm.cql import wait_for_login
from pytest_zdm.errors import ControlError, StartupError, ZdmError
from pytest_zdm.model import Control, CqlEndpoint, Credentials, Progress
from pytest_zdm.proxy.health import both_clusters_up
from pytest_zdm.runtime.wait import wait_until
from pytest_zdm.targets.kube import resources
from pytest_zdm.targets.kube.api import KubeApi
from pytest_zdm.targets.kube.portforward import PortForward

#: The node and proxy controls the kind and kube targets carry out (on top of status, logs, configuration).
KUBE_CONTROLS = frozenset(
    {
        Control.STOP_NODE,
        Control.KILL_NODE,
        Control.START_NODE,
        Control.PAUSE_NODE,
        Control.RESUME_NODE,
        Control.RESTART_PROXY,
        Control.RECONFIGURE_PROXY,
    }
)

#: Signals every ``java`` process the shell can see, then prints ``PID STATE`` for each (T: stopped).
_SIGNAL_JAVA = r"""
pids=""
for d in /proc/[0-9]*; do
  if [ "$(cat "$d/comm" 2>/dev/null)" = java ]; then pids="$pids ${d#/proc/}"; fi
done
if [ -z "$pids" ]; then echo "no java process in this container" >&2; exit 3; fi
kill -{signal} $pids
sleep 0.3
for p in $pids; do echo "$p $(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' /proc/$p/status)"; done
"""


def _signal_java(signal: str) -> str:
    """The script for ``kill -SIGNAL`` (not ``str.format``: the shell's ``${d#/proc/}`` has braces)."""
    return _SIGNAL_JAVA.replace("{signal}", signal)


@dataclass(frozen=True)
class ClusterService:
    """What a control needs to know about one cluster's Service: its pods, its forward, its login."""

    cluster: str
    setting: str
    name: str
    selector: str
    forward: PortForward
    endpoint: CqlEndpoint
    credentials: Credentials


class KubeControls:
    """The node and proxy controls of one started kind/kube target."""

    def __init__(
        self,
        api: KubeApi,
        services: Mapping[str, ClusterService],
        *,
        proxy_selector: str,
        proxy_deployment: str,
        proxy_http: str,
        timeout: float,
        protocol_version: int,
        progress: Progress,
    ) -> None:
        self.api = api
        self.services = services
        self.proxy_selector = proxy_selector
        self.proxy_deployment = proxy_deployment
        #: The proxy container's own ``env`` before the first reconfiguration (None: never reconfigured).
        self._original_env: list[dict[str, Any]] | None = None
        self.proxy_http = proxy_http
        self.timeout = timeout
        self.protocol_version = protocol_version
        self.progress = progress
        self._down: dict[str, tuple[str, str, int]] = {}  # cluster -> (kind, name, replicas it had)
        self._paused: dict[str, tuple[str, str | None]] = {}  # cluster -> (pod, container)
        self._lock = threading.Lock()

    def control(self, verb: Control, cluster: Any) -> Any:
        """Carry out one of :data:`KUBE_CONTROLS` (``cluster``: origin or target for node controls)."""
        with self._lock:
            if verb is Control.RESTART_PROXY:
                return self.restart_proxy()
            if verb is Control.RECONFIGURE_PROXY:
                return self.reconfigure_proxy({str(k): str(v) for k, v in dict(cluster or {}).items()})
            if cluster not in ("origin", "target"):
                raise ControlError(f"{verb.value}: expected cluster origin or target, got {cluster!r}")
            service = self.services[cluster]
            if verb in (Control.STOP_NODE, Control.KILL_NODE):
                self.stop_node(service, kill=verb is Control.KILL_NODE)
            elif verb is Control.START_NODE:
                self.start_node(service)
            elif verb is Control.PAUSE_NODE:
                self.signal_node(service, "STOP")
            elif verb is Control.RESUME_NODE:
                self.signal_node(service, "CONT")
            else:
                raise ControlError(f"{verb.value}: not a node control")
            return None

    # --- helpers -----------------------------------------------------------------------------------------
    def _pods(self, selector: str, setting: str) -> list[V1Pod]:
        return sorted(self.api.pods(selector, setting), key=resources.name_of)

    def _wait(self, check: Callable[[], Any], what: str, deadline: float) -> Any:
        def failed(message: str) -> ControlError:
            return ControlError(f"{message} (zdm_startup_timeout)")

        return wait_until(
            check, timeout=max(1.0, deadline - time.monotonic()), what=what, interval=1.0, error=failed,
            retry_on=(StartupError,),
        )  # fmt: skip

    def _reforward(self, service: ClusterService, deadline: float) -> None:
        """Start the port-forward again on the same local port (its pod was replaced), until it answers."""

        def forwarded() -> bool:
            service.forward.restart()
            service.forward.probe()
            return True

        self._wait(forwarded, f"the port-forward of Service {service.name!r} working again", deadline)

    # --- proxy -------------------------------------------------------------------------------------------
    def _proxy_pods_now(self) -> list[V1Pod]:
        pods = self._pods(self.proxy_selector, "zdm_kube_proxy_selector")
        old = [pod for pod in pods if not resources.terminating(pod)]
        if not old:
            raise ControlError(f"zdm_kube_proxy_selector: no zdm-proxy pod matches {self.proxy_selector}")
        return old

    def _await_new_proxy(self, old: list[V1Pod], deadline: float) -> None:
        """Until none of ``old`` is left, as many new pods are Ready, forwarded, and readiness says UP."""
        gone = {resources.uid(pod) for pod in old}

        def replaced() -> bool:
            pods = self._pods(self.proxy_selector, "zdm_kube_proxy_selector")
            if any(resources.uid(pod) in gone for pod in pods):
                return False
            return len(resources.serving_pods(pods)) >= len(old)

        self._wait(replaced, "zdm-proxy pods replaced and Ready", deadline)
        self._reforward(self.services["proxy"], deadline)
        self._wait(
            lambda: both_clusters_up(self.proxy_http), "zdm-proxy readiness 200 with both UP", deadline
        )

    def restart_proxy(self) -> None:
        """Delete the proxy's pods and wait for their replacements to serve through the port-forward."""
        deadline = time.monotonic() + self.timeout
        old = self._proxy_pods_now()
        for pod in old:
            self.api.delete_pod(resources.name_of(pod), "zdm_kube_proxy_selector")
        self.progress(f"restart_proxy: deleted pod(s) {', '.join(resources.name_of(p) for p in old)}")
        self._await_new_proxy(old, deadline)
        self.progress("restart_proxy: new pod(s) ready, port-forward restarted, readiness 200")

    def _env_patch(self, extra: Mapping[str, str]) -> list[dict[str, Any]] | None:
        """The JSON patch giving the proxy container its own env plus ``extra``; None when already so."""
        setting = "zdm_kube_proxy_deployment"
        index, container = resources.proxy_container(self.api.deployment(self.proxy_deployment, setting))
        current = resources.env_entries(container)
        if self._original_env is None:
            if not extra:
                return None
            self._original_env = current
        wanted = [entry for entry in self._original_env if entry.get("name") not in extra]
        wanted += [{"name": name, "value": value} for name, value in sorted(extra.items())]
        if wanted == current:
            return None
        return [{"op": "add", "path": f"/spec/template/spec/containers/{index}/env", "value": wanted}]

    def reconfigure_proxy(self, extra: Mapping[str, str]) -> None:
        """Roll the proxy's Deployment with ``extra`` settings (``{}``: as it was); wait as for a restart."""
        deadline = time.monotonic() + self.timeout
        old = self._proxy_pods_now()
        patch = self._env_patch(extra)
        if patch is None:  # the Deployment already says so: the pods must still start again with it
            self.restart_proxy()
            return
        self.api.patch_deployment(self.proxy_deployment, patch, "zdm_kube_proxy_deployment")
        if not extra:
            self._original_env = None
        shown = ", ".join(sorted(extra)) or "none (the Deployment's own settings)"
        self.progress(f"reconfigure_proxy: Deployment {self.proxy_deployment} rolled with extra {shown}")
        self._await_new_proxy(old, deadline)
        self.progress("reconfigure_proxy: new pod(s) ready, port-forward restarted, readiness 200")

    def put_back(self) -> list[str]:
        """At stop: undo what the controls left changed (extra proxy settings, a node scaled down).

        Only the API calls, no waiting: the cluster converges by itself. Returns what was put back.
        """
        done: list[str] = []
        with self._lock:
            if self._original_env is not None:
                with contextlib.suppress(ZdmError):
                    patch = self._env_patch({})
                    if patch is not None:
                        self.api.patch_deployment(self.proxy_deployment, patch, "zdm_kube_proxy_deployment")
                        done.append(f"Deployment {self.proxy_deployment}: its own settings")
                self._original_env = None
            for cluster, (kind, owner, replicas) in list(self._down.items()):
                with contextlib.suppress(ZdmError):
                    self.api.scale(kind, owner, replicas, self.services[cluster].setting)
                    done.append(f"{kind} {owner}: {replicas} replica(s)")
                del self._down[cluster]
            for cluster, (pod, container) in list(self._paused.items()):
                with contextlib.suppress(ZdmError):
                    command = ["sh", "-c", _signal_java("CONT")]
                    self.api.exec(pod, container, command, self.services[cluster].setting)
                    done.append(f"pod {pod}: resumed")
                del self._paused[cluster]
        for line in done:
            self.progress(f"put back at stop: {line}")
        return done

    # --- nodes -------------------------------------------------------------------------------------------
    def stop_node(self, service: ClusterService, *, kill: bool) -> None:
        """Scale the cluster's workload down by one (its pod goes and stays gone); kill: no grace period."""
        if service.cluster in self._down:
            return
        deadline = time.monotonic() + self.timeout
        pods = [
            pod for pod in self._pods(service.selector, service.setting) if not resources.terminating(pod)
        ]
        if not pods:
            raise ControlError(f"{service.setting}: Service {service.name!r} has no pod to take down")
        pod = pods[-1]  # a StatefulSet scaled down removes its highest ordinal
        kind, owner = self.api.owner(pod, service.setting)
        replicas = self.api.replicas(kind, owner, service.setting)
        self.api.scale(kind, owner, max(0, replicas - 1), service.setting)
        self._down[service.cluster] = (kind, owner, replicas)
        if kill:
            with contextlib.suppress(ZdmError):  # the scale-down may have removed it already
                self.api.delete_pod(resources.name_of(pod), service.setting, grace_seconds=0)
        before = {resources.uid(p) for p in pods}
        self.progress(
            f"{'kill' if kill else 'stop'}_node {service.cluster}: {kind} {owner} scaled {replicas} -> "
            f"{max(0, replicas - 1)} (pod {resources.name_of(pod)})"
        )

        def down() -> bool:
            now = {resources.uid(p) for p in self._pods(service.selector, service.setting)}
            return len(before & now) < len(before)

        self._wait(down, f"pod {resources.name_of(pod)} gone", deadline)

    def start_node(self, service: ClusterService) -> None:
        """Scale back to the replicas it had; done when a CQL login works through the port-forward."""
        deadline = time.monotonic() + self.timeout
        if service.cluster in self._down:
            kind, owner, replicas = self._down[service.cluster]
            self.api.scale(kind, owner, replicas, service.setting)
            self.progress(f"start_node {service.cluster}: {kind} {owner} scaled back to {replicas}")
            del self._down[service.cluster]
        else:
            replicas = 1

        def ready() -> bool:
            pods = self._pods(service.selector, service.setting)
            return len(resources.serving_pods(pods)) >= replicas

        self._wait(ready, f"Service {service.name!r}: {replicas} pod(s) Ready", deadline)
        self._reforward(service, deadline)
        error = wait_for_login(
            service.endpoint, service.credentials, timeout=max(1.0, deadline - time.monotonic()),
            protocol_version=self.protocol_version,
        )  # fmt: skip
        if error is not None:
            raise ControlError(
                f"start_node {service.cluster}: no CQL login through {service.endpoint} within "
                f"zdm_startup_timeout: {error}"
            )

    def signal_node(self, service: ClusterService, signal: str) -> None:
        """``kill -STOP`` (pause) or ``-CONT`` (resume) the Cassandra process through exec."""
        verb = "pause_node" if signal == "STOP" else "resume_node"
        if signal == "STOP":
            pods = resources.serving_pods(self._pods(service.selector, service.setting))
            if not pods:
                raise ControlError(f"{verb} {service.cluster}: Service {service.name!r} has no running pod")
            pod_name = pods[0]
            pod = next(
                p for p in self._pods(service.selector, service.setting) if resources.name_of(p) == pod_name
            )
            container = resources.cassandra_container(pod)
        else:
            if service.cluster not in self._paused:
                return
            pod_name, container = self._paused[service.cluster]
        code, output = self.api.exec(pod_name, container, ["sh", "-c", _signal_java(signal)], service.setting)
        states = dict(line.split()[:2] for line in output.splitlines() if len(line.split()) >= 2)
        if code != 0 or not states:
            raise ControlError(
                f"{verb} {service.cluster}: kill -{signal} in pod {pod_name} failed: {output.strip()}"
            )
        if signal == "STOP":
            running = [pid for pid, state in states.items() if state != "T"]
            if running:
                self.api.exec(pod_name, container, ["sh", "-c", _signal_java("CONT")], service.setting)
                raise ControlError(
                    f"{verb} {service.cluster}: java (pid {', '.join(running)}) in pod {pod_name} did not "
                    "stop: a container's PID 1 ignores SIGSTOP sent from inside it; set "
                    "shareProcessNamespace: true in the pod spec (as k8s/cassandra.yaml does)"
                )
            self._paused[service.cluster] = (pod_name, container)
        else:
            self._paused.pop(service.cluster, None)
        self.progress(
            f"{verb} {service.cluster}: kill -{signal} of java pid(s) {', '.join(states)} in pod {pod_name}"
        )
