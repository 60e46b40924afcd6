"""Kubernetes API objects turned into what the framework needs: ports to forward, proxy health, lint input.

Plain functions over the ``kubernetes`` client's model objects (``V1Service``, ``V1Pod``, ``V1Deployment``,
``V1ConfigMap``), so all of it is tested without a cluster on objects built as the client returns them.
Nothing here calls the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient, V1ConfigMap, V1Container, V1Deployment, V1Pod, V1Service

from pytest_zdm import lint
from pytest_zdm.errors import SettingError

#: Reasons a container waits that mean it will not start by itself (the kubelet's own words).
FAILED_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: How a masked secret value is shown (the configuration lint counts it as set).
MASKED = "***"


def name_of(obj: Any) -> str:
    """``metadata.name`` of an API object (every object the API returns has one)."""
    return str(obj.metadata.name) if obj.metadata is not None else "?"


def uid(pod: V1Pod) -> str:
    """The pod's UID (a pod replaced under the same name is another pod)."""
    return str(pod.metadata.uid or pod.metadata.name) if pod.metadata is not None else "?"


def terminating(pod: V1Pod) -> bool:
    """Whether the pod is being deleted."""
    return pod.metadata is not None and pod.metadata.deletion_timestamp is not None


def cassandra_container(pod: V1Pod) -> str | None:
    """The container running Cassandra: one named or imaged ``cassandra``, else the pod's first."""
    containers = list(pod.spec.containers if pod.spec else [])
    for container in containers:
        if "cassandra" in container.name or "cassandra" in (container.image or ""):
            return str(container.name)
    return str(containers[0].name) if containers else None


def selector_text(labels: Mapping[str, str] | None) -> str:
    """``{"app": "x"}`` as the label selector ``app=x`` (empty when there is no selector)."""
    return ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


def service_port(service: V1Service, port: int, *, setting: str, port_setting: str) -> int:
    """The port of ``service`` to forward, checked to exist; a one-line error naming the setting otherwise.

    ``kubectl port-forward svc/NAME`` needs a selector (it forwards to one pod behind the Service), so a
    Service without one (e.g. one backed by hand-made Endpoints) is refused here, before kubectl says so
    less clearly.
    """
    name = name_of(service)
    if not (service.spec and service.spec.selector):
        raise SettingError(
            f"{setting}: Service {name!r} has no pod selector, so kubectl cannot port-forward to it; "
            "expected a Service that selects the pods"
        )
    numbers = [p.port for p in service.spec.ports or []]
    if port not in numbers:
        shown = ", ".join(str(n) for n in numbers) or "none"
        raise SettingError(
            f"{port_setting}: Service {name!r} has no port {port} (its ports: {shown}); set {port_setting} "
            "to the port to use"
        )
    return port


def _restarts(pod: V1Pod) -> int:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    return sum(status.restart_count or 0 for status in statuses)


def _last_exit(pod: V1Pod) -> tuple[int | None, str | None]:
    """Exit code and reason of the most recent container termination in ``pod``."""
    latest: tuple[Any, int | None, str | None] | None = None
    for status in (pod.status.container_statuses if pod.status else None) or []:
        for state in (status.state, status.last_state):
            terminated = state.terminated if state else None
            if terminated is None:
                continue
            when = terminated.finished_at
            if latest is None or (when is not None and (latest[0] is None or when > latest[0])):
                latest = (when, terminated.exit_code, terminated.reason)
    return (latest[1], latest[2]) if latest else (None, None)


def pod_problems(pod: V1Pod) -> list[str]:
    """Why ``pod`` does not serve (empty when it runs with every container ready)."""
    name = name_of(pod)
    if terminating(pod):
        return [f"pod {name} is terminating"]
    problems: list[str] = []
    phase = pod.status.phase if pod.status else None
    for status in (pod.status.container_statuses if pod.status else None) or []:
        waiting = status.state.waiting if status.state else None
        restarts = status.restart_count or 0
        if waiting is not None and waiting.reason in FAILED_WAITING:
            code, reason = _last_exit(pod)
            last = f"; last exit code {code} ({reason})" if code is not None else ""
            problems.append(
                f"pod {name} container {status.name}: {waiting.reason} (restarted {restarts}x{last})"
            )
        elif not status.ready:
            why = f" ({waiting.reason})" if waiting is not None and waiting.reason else ""
            problems.append(f"pod {name} container {status.name} is not ready{why}")
    if phase != "Running" and not problems:
        problems.append(f"pod {name} is {phase or 'in an unknown phase'}")
    return problems


def serving_pods(pods: Iterable[V1Pod]) -> list[str]:
    """Names of the pods that run with every container ready."""
    return [name_of(pod) for pod in pods if not pod_problems(pod)]


@dataclass
class ProxyPods:
    """Restarts and failures of the zdm-proxy pods, counted across restarts and pod replacements.

    ``starts`` only grows: each pod ever seen counts its container restarts plus one, so a pod deleted and
    replaced by its Deployment counts as a start like a container restart does. The stability check
    compares it with the value at the start of a session (see :mod:`pytest_zdm.plugin.stability`).
    """

    selector: str
    _seen: dict[str, tuple[str, int]] = field(default_factory=dict, init=False, repr=False)

    def observe(self, pods: Iterable[V1Pod]) -> dict[str, Any]:
        """The proxy's status, in the shape of the local target's ``proxy_status`` plus evidence lines."""
        current = [pod for pod in pods if not terminating(pod)]
        for pod in current:
            _, before = self._seen.get(uid(pod), ("", 0))
            self._seen[uid(pod)] = (name_of(pod), max(before, _restarts(pod)))
        problems = [problem for pod in current for problem in pod_problems(pod)]
        if not current:
            problems.append(f"no zdm-proxy pod matches {self.selector}")
        live = {uid(pod) for pod in current}
        history = [
            f"pod {name} restarted {count}x"
            for key, (name, count) in self._seen.items()
            if count and key in live
        ]
        history += [
            f"pod {name} is gone (replaced)" for key, (name, _) in self._seen.items() if key not in live
        ]
        exits = [_last_exit(pod) for pod in current]
        code = next((c for c, _ in exits if c is not None), None)
        return {
            "pid": None,
            "starts": sum(count + 1 for _, count in self._seen.values()),
            "running": not problems,
            "exit_code": code,
            "problems": problems,
            "history": history,
            "pods": sorted(name_of(pod) for pod in current),
        }

    def unreadable(self, reason: str) -> dict[str, Any]:
        """The status when the pods could not be read: not running, with the reason as the evidence."""
        return {
            "pid": None,
            "starts": sum(count + 1 for _, count in self._seen.values()),
            "running": False,
            "exit_code": None,
            "problems": [f"the zdm-proxy pods could not be read: {reason}"],
            "history": [],
            "pods": [],
        }


def _serialize(obj: Any) -> Any:
    """The object as the API server sends it (camelCase JSON), the form manifests are written in."""
    return ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]


def _containers(deployment: V1Deployment) -> list[V1Container]:
    template = deployment.spec.template if deployment.spec else None
    return list((template.spec.containers if template and template.spec else None) or [])


def referenced_sources(deployment: V1Deployment) -> tuple[list[str], list[str]]:
    """Names of the ConfigMaps and Secrets the proxy containers take their whole environment from."""
    config_maps: list[str] = []
    secrets: list[str] = []
    for container in _containers(deployment):
        for source in container.env_from or []:
            if source.config_map_ref is not None and source.config_map_ref.name:
                config_maps.append(source.config_map_ref.name)
            if source.secret_ref is not None and source.secret_ref.name:
                secrets.append(source.secret_ref.name)
    return list(dict.fromkeys(config_maps)), list(dict.fromkeys(secrets))


def lint_documents(
    deployment: V1Deployment,
    config_maps: Mapping[str, V1ConfigMap],
    secret_keys: Mapping[str, Iterable[str]],
) -> list[dict[str, Any]]:
    """The Deployment and its ``envFrom`` sources as documents for :func:`lint.lint_kubernetes_objects`.

    ``secret_keys`` holds only the keys of the referenced Secrets: their values are never read into these
    documents (the lint counts a Secret's ``ZDM_*`` key as set). Sources missing from the mappings (not found,
    or not readable) are left out, and the lint says the settings may come from them. An ``envFrom`` prefix
    is applied to the keys, as the kubelet does.
    """
    doc = _serialize(deployment)
    doc.update({"apiVersion": "apps/v1", "kind": "Deployment"})  # list results carry no kind
    docs: list[dict[str, Any]] = [doc]
    for container in _containers(deployment):
        for source in container.env_from or []:
            prefix = source.prefix or ""
            config_map = source.config_map_ref.name if source.config_map_ref is not None else None
            secret = source.secret_ref.name if source.secret_ref is not None else None
            if config_map is not None and config_map in config_maps:
                data = config_maps[config_map].data or {}
                docs.append(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": config_map},
                        "data": {f"{prefix}{key}": value for key, value in data.items()},
                    }
                )
            if secret is not None and secret in secret_keys:
                keys = secret_keys[secret]
                docs.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": secret},
                        "data": {f"{prefix}{key}": "" for key in keys},
                    }
                )
    return docs


def public_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """Settings with every secret value masked (an empty value stays empty: it means no authentication)."""
    return {
        name: (MASKED if lint.is_secret(name) and value not in ("", lint.UNKNOWN_VALUE) else value)
        for name, value in settings.items()
    }


def proxy_image_version(deployment: V1Deployment) -> str:
    """The tag of the zdm-proxy image (``datastax/zdm-proxy:2.3.4`` -> ``2.3.4``), or ``?``."""
    for container in _containers(deployment):
        image = container.image or ""
        if "zdm-proxy" in image:
            name, _, digest = image.partition("@")
            tail = name.rsplit("/", 1)[-1]
            return tail.partition(":")[2] or (digest[:19] if digest else "latest")
    return "?"


def proxy_container(deployment: V1Deployment) -> tuple[int, V1Container]:
    """The zdm-proxy container of the Deployment (by image, else the first) and its index in the pod spec."""
    containers = _containers(deployment)
    if not containers:
        raise SettingError("zdm_kube_proxy_deployment: the Deployment has no container")
    for index, container in enumerate(containers):
        if "zdm-proxy" in (container.image or "") or container.name == "zdm-proxy":
            return index, container
    return 0, containers[0]


def env_entries(container: V1Container) -> list[dict[str, Any]]:
    """The container's ``env`` as the API server sends it (``valueFrom`` references kept, never resolved)."""
    return [dict(entry) for entry in (_serialize(container.env) or [])]
