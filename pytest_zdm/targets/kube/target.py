"""The ``kube`` and ``kind`` targets: a deployment already running in a Kubernetes cluster.

Origin and target Cassandra and zdm-proxy are found by Service name (and the proxy's pods by label) in one
namespace of one kubeconfig context (``kind``: the context ``kind-<zdm_kind_cluster>``), and reached with
``kubectl port-forward`` on 127.0.0.1, kubectl picking the local ports. Nothing is deployed. The node and
proxy controls (:mod:`.controls`: delete the proxy's pods, scale a Cassandra workload down and back, freeze
Cassandra through exec) change the cluster, so they run only for destructive checks: on ``kind`` without
opt-in (a kind cluster is a throwaway cluster made for tests: the target is disposable), on ``kube`` only
with ``--zdm-allow-destructive``.

Ready means what it means for the local target: a CQL login works on each cluster and through the proxy,
and the proxy's ``/health/readiness`` is 200 with both clusters UP. The proxy's pods feed the stability
marker (restarts, pod replacements, CrashLoopBackOff); its Deployment's environment (``env`` and ``envFrom``
ConfigMaps, Secret keys without their values) feeds the configuration lint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from kubernetes.client import V1Pod

from pytest_zdm import lint
from pytest_zdm.cql import connect, release_version, wait_for_login
from pytest_zdm.errors import ControlError, SettingError, StartupError, ZdmError
from pytest_zdm.model import Control, CqlEndpoint, Credentials, EnvironmentInfo, Progress
from pytest_zdm.proxy.health import both_clusters_up, readiness
from pytest_zdm.runtime.wait import wait_until
from pytest_zdm.settings import Settings
from pytest_zdm.targets.base import Target
from pytest_zdm.targets.kube import resources
from pytest_zdm.targets.kube.api import KubeApi, resolve_context
from pytest_zdm.targets.kube.controls import KUBE_CONTROLS, ClusterService, KubeControls
from pytest_zdm.targets.kube.portforward import LOOPBACK, ForwardKeeper, PortForward

_LOG_HEAD_BYTES = 256 * 1024  # the proxy's start-up lines (configuration, control connections) are here
_LOG_TAIL_LINES = 2000


@dataclass(frozen=True)
class _Service:
    """A Service the target forwards: which cluster it is, the setting naming it, its ports to forward."""

    cluster: str
    setting: str
    name: str
    ports: tuple[tuple[int, str], ...]  # (port, the setting that names it); the first is the CQL port


class KubeTarget(Target):
    """A ZDM deployment in a kubeconfig context, reached through port-forwards owned by the supervisor."""

    name: ClassVar[str] = "kube"
    controls = frozenset({Control.PROXY_STATUS, Control.PROXY_LOGS, Control.PROXY_CONFIG}) | KUBE_CONTROLS
    #: Someone's deployment: destructive checks (which use the node and proxy controls) need the opt-in.
    disposable = False
    context_setting: ClassVar[str] = "zdm_kube_context"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api: KubeApi | None = None
        self.forwards: list[PortForward] = []
        self.keeper: ForwardKeeper | None = None
        self.node_controls: KubeControls | None = None
        self.proxy_pods = resources.ProxyPods(self.settings.zdm_kube_proxy_selector)

    @classmethod
    def credentials(cls, settings: Settings) -> Mapping[str, Credentials]:
        """From the settings; the proxy forwards the client's login to the target cluster (ZDM's rule)."""
        origin = Credentials(settings.zdm_origin_username, settings.zdm_origin_password)
        target = Credentials(settings.zdm_target_username, settings.zdm_target_password)
        return {"origin": origin, "target": target, "proxy": target}

    @classmethod
    def context(cls, settings: Settings) -> str:
        """The kubeconfig context to use, checked to exist."""
        return resolve_context(
            settings.zdm_kubeconfig, settings.zdm_kube_context, setting=cls.context_setting
        )

    @classmethod
    def plan(cls, settings: Settings) -> Mapping[str, Any]:
        """Check, before anything runs, that the kubeconfig and the context exist (no API call).

        A missing kind cluster or context is then one usage error at start, not an error per check.
        """
        return {"context": cls.context(settings)}

    @classmethod
    def report_header(cls, settings: Settings, plan: Mapping[str, Any]) -> list[str]:
        """Report-header lines before anything starts (no API call)."""
        context = plan.get("context") or cls.planned_context(settings)
        return [
            f"zdm: {cls.name} context {context}, namespace {settings.zdm_kube_namespace}: Services "
            f"{settings.zdm_kube_origin_service}:{settings.zdm_kube_cql_port} (origin), "
            f"{settings.zdm_kube_target_service}:{settings.zdm_kube_cql_port} (target), "
            f"{settings.zdm_kube_proxy_service}:{settings.zdm_kube_proxy_port} (proxy, health/metrics "
            f"{settings.zdm_kube_proxy_metrics_port}), proxy pods {settings.zdm_kube_proxy_selector}; "
            "reached with kubectl port-forward on 127.0.0.1"
        ]

    @classmethod
    def planned_context(cls, settings: Settings) -> str:
        """The context as configured (``current`` when the kubeconfig's current context is meant)."""
        return settings.zdm_kube_context or "(current)"

    def _kubectl(self, context: str) -> list[str]:
        settings = self.settings
        binary = shutil.which(settings.zdm_kubectl)
        if binary is None:
            raise SettingError(
                f"zdm_kubectl: {settings.zdm_kubectl!r} is not an executable on PATH; expected kubectl "
                "(it runs the port-forwards)"
            )
        command = [binary]
        if settings.zdm_kubeconfig is not None:
            command += ["--kubeconfig", str(settings.zdm_kubeconfig)]
        return [*command, "--context", context, "--namespace", settings.zdm_kube_namespace]

    def start(self, plan: Mapping[str, Any], progress: Progress) -> EnvironmentInfo:
        """Find the Services and pods, port-forward them, and return once logins and readiness work."""
        del plan
        settings = self.settings
        deadline = time.monotonic() + settings.zdm_startup_timeout
        context = self.context(settings)
        kubectl = self._kubectl(context)
        api = self.api = KubeApi(
            settings.zdm_kubeconfig,
            context,
            settings.zdm_kube_namespace,
            context_setting=self.context_setting,
            timeout=settings.zdm_kube_forward_timeout,
        )
        progress(f"{self.name}: context {context} ({api.server}), namespace {settings.zdm_kube_namespace}")
        services = self._services()
        selectors: dict[str, str] = {}
        for service in services:
            found = api.service(service.name, service.setting)
            for port, port_setting in service.ports:
                resources.service_port(found, port, setting=service.setting, port_setting=port_setting)
            selector = selectors[service.cluster] = resources.selector_text(
                found.spec.selector if found.spec else None
            )
            self._wait_pods(selector, service.setting, f"Service {service.name!r}", deadline)
        self._wait_proxy_pods(deadline, progress)
        deployment = api.deployment(settings.zdm_kube_proxy_deployment, "zdm_kube_proxy_deployment")
        local: dict[str, dict[int, int]] = {}
        forwards: dict[str, PortForward] = {}
        for service in services:
            forward = PortForward(
                kubectl,
                f"svc/{service.name}",
                [port for port, _ in service.ports],
                log_path=self.run_dir / "port-forwards.log",
                timeout=settings.zdm_kube_forward_timeout,
                setting=service.setting,
                pods=self._pod_uids(selectors[service.cluster], service.setting),
            )
            self.forwards.append(forward)
            forwards[service.cluster] = forward
            local[service.cluster] = forward.start()
            forward.probe()
            shown = ", ".join(
                f"{remote} -> {LOOPBACK}:{port}" for remote, port in local[service.cluster].items()
            )
            progress(f"port-forward svc/{service.name}: {shown} (kubectl pid {forward.pid})")
        self.keeper = ForwardKeeper(self.forwards, progress)
        self.keeper.start()
        endpoints = {
            s.cluster: CqlEndpoint(LOOPBACK, local[s.cluster][s.ports[0][0]], pinned=True) for s in services
        }
        proxy_http = f"http://{LOOPBACK}:{local['proxy'][settings.zdm_kube_proxy_metrics_port]}"
        credentials = self.credentials(settings)
        names = {service.cluster: service.name for service in services}
        versions: dict[str, str] = {}
        for cluster, endpoint in endpoints.items():
            error = wait_for_login(
                endpoint,
                credentials[cluster],
                timeout=max(1.0, deadline - time.monotonic()),
                protocol_version=int(settings.zdm_protocol_version),
            )
            if error is not None:
                login = "target" if cluster == "proxy" else cluster
                raise StartupError(
                    f"zdm_{login}_username: no CQL login to {cluster} through the port-forward of Service "
                    f"{names[cluster]!r} ({endpoint}) within zdm_startup_timeout: {error} (credentials "
                    f"from zdm_{login}_username and zdm_{login}_password)"
                )
            endpoints[cluster], versions[cluster] = self._describe(endpoint, credentials[cluster])
            progress(f"{cluster}: CQL login works through {endpoint} (Cassandra {versions[cluster]})")

        def not_ready(_: str) -> StartupError:
            status, body = readiness(proxy_http)
            return StartupError(
                f"zdm-proxy readiness at {proxy_http} (port-forward of Service "
                f"{settings.zdm_kube_proxy_service!r}) is {status or 'unreachable'}: {body}"
            )

        wait_until(
            lambda: both_clusters_up(proxy_http),
            timeout=deadline - time.monotonic(),
            what="zdm-proxy readiness",
            interval=0.5,
            error=not_ready,
        )
        versions["proxy"] = resources.proxy_image_version(deployment)
        settings_seen, _ = self._lint(deployment)
        self.node_controls = KubeControls(
            api,
            {
                s.cluster: ClusterService(
                    s.cluster, s.setting, s.name, selectors[s.cluster], forwards[s.cluster],
                    endpoints[s.cluster], credentials[s.cluster],
                )
                for s in services
            },
            proxy_selector=settings.zdm_kube_proxy_selector,
            proxy_deployment=settings.zdm_kube_proxy_deployment,
            proxy_http=proxy_http,
            timeout=settings.zdm_startup_timeout,
            protocol_version=int(settings.zdm_protocol_version),
            progress=progress,
        )  # fmt: skip
        return EnvironmentInfo(
            target=self.name,
            origin=endpoints["origin"],
            target_cluster=endpoints["target"],
            proxy=endpoints["proxy"],
            proxy_http=proxy_http,
            usernames={cluster: credentials[cluster].username for cluster in ("origin", "target", "proxy")},
            versions=versions,
            controls=tuple(sorted(c.value for c in self.controls)),
            logs={"port-forwards": str(self.run_dir / "port-forwards.log")},
            proxy_settings=resources.public_settings(settings_seen),
        )

    def _services(self) -> list[_Service]:
        settings = self.settings
        cql = ((settings.zdm_kube_cql_port, "zdm_kube_cql_port"),)
        proxy = (
            (settings.zdm_kube_proxy_port, "zdm_kube_proxy_port"),
            (settings.zdm_kube_proxy_metrics_port, "zdm_kube_proxy_metrics_port"),
        )
        return [
            _Service("origin", "zdm_kube_origin_service", settings.zdm_kube_origin_service, cql),
            _Service("target", "zdm_kube_target_service", settings.zdm_kube_target_service, cql),
            _Service("proxy", "zdm_kube_proxy_service", settings.zdm_kube_proxy_service, proxy),
        ]

    def _describe(self, endpoint: CqlEndpoint, credentials: Credentials) -> tuple[CqlEndpoint, str]:
        """The endpoint with its datacenter, and the release version, read over one connection."""
        client = connect(endpoint, credentials, protocol_version=int(self.settings.zdm_protocol_version))
        try:
            row = client.session.execute("SELECT data_center FROM system.local").one()
            version = release_version(client)
        finally:
            client.close()
        datacenter = str(row.data_center) if row is not None and row.data_center else None
        return CqlEndpoint(endpoint.host, endpoint.port, datacenter, pinned=True), version

    def _wait_pods(self, selector: str, setting: str, what: str, deadline: float) -> None:
        api = self.api
        assert api is not None
        pods: list[V1Pod] = []

        def serving() -> bool:
            pods[:] = api.pods(selector, setting)
            return bool(resources.serving_pods(pods))

        def none_ready(_: str) -> StartupError:
            problems = [p for pod in pods for p in resources.pod_problems(pod)] or [
                f"no pod matches {selector}"
            ]
            return StartupError(
                f"{setting}: {what} has no ready pod within zdm_startup_timeout: {'; '.join(problems)}"
            )

        wait_until(serving, timeout=deadline - time.monotonic(), what=what, interval=1.0, error=none_ready)

    def _pod_uids(self, selector: str, setting: str) -> Callable[[], frozenset[str]]:
        """The UIDs of the non-terminating pods a Service selects, read when called (for the keeper)."""

        def uids() -> frozenset[str]:
            assert self.api is not None
            pods = self.api.pods(selector, setting)
            return frozenset(resources.uid(pod) for pod in pods if not resources.terminating(pod))

        return uids

    def _current_proxy_pods(self) -> list[V1Pod]:
        assert self.api is not None
        return self.api.pods(self.settings.zdm_kube_proxy_selector, "zdm_kube_proxy_selector")

    def _wait_proxy_pods(self, deadline: float, progress: Progress) -> None:
        seen: dict[str, Any] = {}

        def running() -> bool:
            seen.update(self.proxy_pods.observe(self._current_proxy_pods()))
            return bool(seen["running"])

        def not_running(_: str) -> StartupError:
            return StartupError(
                "zdm_kube_proxy_selector: the zdm-proxy pods are not ready within zdm_startup_timeout: "
                + "; ".join(seen.get("problems", ()))
            )

        wait_until(
            running,
            timeout=deadline - time.monotonic(),
            what="zdm-proxy pods",
            interval=1.0,
            error=not_running,
        )
        progress(f"zdm-proxy pods ready: {', '.join(seen['pods'])}")

    def _lint(self, deployment: Any) -> tuple[dict[str, str], list[lint.Finding]]:
        """The proxy's settings and lint findings from its Deployment and the sources it references."""
        assert self.api is not None
        setting = "zdm_kube_proxy_deployment"
        config_map_names, secret_names = resources.referenced_sources(deployment)
        config_maps = {
            name: found
            for name in config_map_names
            if (found := self.api.config_map(name, setting)) is not None
        }
        secret_keys = {
            name: keys for name in secret_names if (keys := self.api.secret_keys(name, setting)) is not None
        }
        docs = resources.lint_documents(deployment, config_maps, secret_keys)
        return lint.lint_kubernetes_objects(docs, phase=None)

    def _proxy_log(self, pod: V1Pod) -> str:
        assert self.api is not None
        containers = pod.spec.containers if pod.spec else []
        chosen = next((c.name for c in containers if "zdm-proxy" in (c.image or "")), None)
        container = chosen or (containers[0].name if containers else None)
        name = resources.name_of(pod)
        setting = "zdm_kube_proxy_selector"
        head = self.api.pod_log(name, container, setting, limit_bytes=_LOG_HEAD_BYTES)
        if len(head.encode()) < _LOG_HEAD_BYTES:
            return head
        tail = self.api.pod_log(name, container, setting, tail_lines=_LOG_TAIL_LINES)
        return f"{head}\n[... log of pod {name} cut here ...]\n{tail}"

    def stop(self) -> None:
        """Put back what the controls left changed, then stop the keeper and every kubectl by its PID."""
        if self.node_controls is not None:
            self.node_controls.put_back()
            self.node_controls = None
        if self.keeper is not None:
            self.keeper.stop()
        for forward in self.forwards:
            forward.stop()
        if self.api is not None:
            self.api.close()
            self.api = None

    def control(self, verb: Control, arg: Any = None) -> Any:
        """The proxy's status (pods), logs and configuration; node and proxy controls (:mod:`.controls`)."""
        if self.api is None:
            raise ControlError(f"{verb.value}: the {self.name} target was never started")
        if verb in KUBE_CONTROLS:
            if self.node_controls is None:
                raise ControlError(f"{verb.value}: the {self.name} target is not started")
            return self.node_controls.control(verb, arg)
        if verb is Control.PROXY_STATUS:
            try:
                status = self.proxy_pods.observe(self._current_proxy_pods())
            except ZdmError as exc:  # an API hiccup is evidence against stability, not a broken check
                status = self.proxy_pods.unreadable(str(exc))
            status["forward_restarts"] = sum(forward.restarts for forward in self.forwards)
            return status
        if verb is Control.PROXY_LOGS:
            pods = sorted(self._current_proxy_pods(), key=resources.name_of)
            return "\n".join(f"--- pod {resources.name_of(pod)} ---\n{self._proxy_log(pod)}" for pod in pods)
        if verb is Control.PROXY_CONFIG:
            deployment = self.api.deployment(
                self.settings.zdm_kube_proxy_deployment, "zdm_kube_proxy_deployment"
            )
            settings, findings = self._lint(deployment)
            parsed = None
            for pod in sorted(self._current_proxy_pods(), key=resources.name_of):
                try:
                    parsed = lint.parsed_configuration_from_log(self._proxy_log(pod))
                    break
                except ZdmError:
                    continue
            return {
                "environment": resources.public_settings(settings),
                "parsed": parsed,
                "findings": [str(finding) for finding in findings],
            }
        raise ControlError(f"{verb.value}: not a control of the {self.name} target")


class KindTarget(KubeTarget):
    """The ``kube`` target on a kind cluster: its context is ``kind-<zdm_kind_cluster>``.

    Disposable: a kind cluster is a throwaway cluster made to test in (the shipped ``k8s/`` deployment is
    put there for the run), so the destructive checks run without ``--zdm-allow-destructive``. A kind
    cluster that holds something to keep is reached as ``--zdm-target=kube --zdm-kube-context=kind-NAME``.
    """

    name: ClassVar[str] = "kind"
    disposable = True
    context_setting: ClassVar[str] = "zdm_kind_cluster"

    @classmethod
    def context(cls, settings: Settings) -> str:
        """``kind-<cluster>``, checked to exist (kind adds it to the kubeconfig with the cluster)."""
        cluster = settings.zdm_kind_cluster
        return resolve_context(
            settings.zdm_kubeconfig,
            f"kind-{cluster}",
            setting="zdm_kind_cluster",
            hint=f"; create the cluster with: kind create cluster --name {cluster}",
        )

    @classmethod
    def planned_context(cls, settings: Settings) -> str:
        """``kind-<cluster>``."""
        return f"kind-{settings.zdm_kind_cluster}"
