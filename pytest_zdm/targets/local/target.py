"""The embedded default target: two real Cassandra nodes and a real zdm-proxy on loopback.

Origin and target are independent single-node clusters (own cluster names, directories, ports, and
Cassandra versions: ``zdm_origin_cassandra_version``, ``zdm_target_cassandra_version``, each on the Java
its release runs on); the proxy is pointed at both with real ``ZDM_*`` settings. Everything listens on
127.0.0.1 on ports picked free at plan time, so a run never collides with another run or with a crashed
run's leftovers.

Ready means what a migration team would check by hand: a CQL login works on each cluster and through the
proxy, and the proxy's ``/health/readiness`` is 200 with both clusters UP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pytest_zdm.cql import connect, login_error, release_version, wait_for_login
from pytest_zdm.errors import ProvisionError, StartupError
from pytest_zdm.lab.cassandra import DATACENTER, SUPERUSER, NodeConfig
from pytest_zdm.lab.proxy import ProxyConfig, team_settings
from pytest_zdm.model import CLUSTERS, Control, CqlEndpoint, Credentials, EnvironmentInfo, Progress
from pytest_zdm.provision import CassandraArtifact, provision_cassandra, provision_proxy
from pytest_zdm.runtime.logs import LogWatcher
from pytest_zdm.runtime.ports import LOOPBACK, free_ports, release_ports, reserve_ports
from pytest_zdm.settings import Settings
from pytest_zdm.targets.base import Target
from pytest_zdm.targets.controls import NodeAndProxyControls
from pytest_zdm.targets.local import bootcache
from pytest_zdm.targets.local.bootcache import BootCache
from pytest_zdm.targets.local.node import CassandraNode
from pytest_zdm.targets.local.proxy import ZdmProxyProcess

_PORT_NAMES = (
    "origin_storage",
    "origin_native",
    "target_storage",
    "target_native",
    "proxy_listen",
    "proxy_metrics",
)


def _startup_failure(what: str, reason: object, log: LogWatcher) -> StartupError:
    return StartupError(f"{what} did not start: {reason}\n--- last lines of {log.path} ---\n{log.tail(40)}")


class LocalTarget(NodeAndProxyControls, Target):
    """Processes on this machine, owned by the supervisor for the whole run."""

    name = "local"
    controls = frozenset(Control)
    disposable = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes: dict[str, CassandraNode] = {}
        self.proxy: ZdmProxyProcess | None = None
        self._reserved: list[int] = []  # ports reserved for this environment until it stops

    @classmethod
    def credentials(cls, settings: Any) -> Mapping[str, Credentials]:
        """The local clusters use Cassandra's default superuser; the proxy forwards the client's login."""
        del settings
        return {"origin": SUPERUSER, "target": SUPERUSER, "proxy": SUPERUSER}

    @classmethod
    def plan(cls, settings: Any) -> Mapping[str, Any]:
        """Pick six free loopback ports (two per node, listen and metrics for the proxy); start reserves them.

        The team's proxy configuration, if named, is read now: a bad file is a usage error before anything
        starts.
        """
        team_settings(settings)
        return dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES)), strict=True))

    @classmethod
    def report_header(cls, settings: Settings, plan: Mapping[str, Any]) -> list[str]:
        """Planned endpoints, the artifacts and the proxy's routing, before anything starts."""
        planned = cls.planned_info(plan)
        origin, target = (settings.cassandra_version(c) for c in CLUSTERS)
        cassandra = (
            f"Cassandra origin {origin}, target {target} (Maven jars)"
            if not (settings.zdm_cassandra_home or settings.zdm_cassandra_classpath)
            else f"Cassandra from {settings.zdm_cassandra_home or settings.zdm_cassandra_classpath}"
        )
        proxy = (
            f"zdm-proxy binary {settings.zdm_proxy_binary}"
            if settings.zdm_proxy_binary
            else f"zdm-proxy commit {settings.zdm_proxy_commit} (go install"
            + (", else go build of zdm_proxy_source)" if settings.zdm_proxy_source else ")")
        )
        return [
            f"zdm: endpoints (planned) origin {planned['origin']}, target {planned['target']}, "
            f"proxy {planned['proxy']}, proxy health/metrics {planned['proxy_http']}",
            f"zdm: {cassandra}, {proxy}, primary {settings.zdm_primary_cluster}, read mode "
            f"{settings.zdm_read_mode}, CQL protocol v{settings.zdm_protocol_version}",
        ]

    @staticmethod
    def planned_info(plan: Mapping[str, Any]) -> dict[str, str]:
        """Endpoints as planned, for the report header before anything starts."""
        return {
            "origin": f"{LOOPBACK}:{plan['origin_native']}",
            "target": f"{LOOPBACK}:{plan['target_native']}",
            "proxy": f"{LOOPBACK}:{plan['proxy_listen']}",
            "proxy_http": f"http://{LOOPBACK}:{plan['proxy_metrics']}",
        }

    def _ports(self, plan: Mapping[str, Any]) -> dict[str, int]:
        """Reserve the planned ports (a planned port another run took meanwhile is replaced)."""
        planned = [int(plan[name]) for name in _PORT_NAMES] if plan else []
        self._reserved = reserve_ports(len(_PORT_NAMES), prefer=planned)
        return dict(zip(_PORT_NAMES, self._reserved, strict=True))

    def start(self, plan: Mapping[str, Any], progress: Progress) -> EnvironmentInfo:
        """Provision, boot both nodes side by side, then the proxy; return once everything is ready."""
        settings = self.settings
        begin = time.monotonic()
        deadline = begin + settings.zdm_startup_timeout
        artifacts = {
            c: provision_cassandra(settings, progress, settings.cassandra_version(c)) for c in CLUSTERS
        }
        proxy_artifact = provision_proxy(settings, progress)
        caches = self._boot_caches(artifacts, progress)
        ports = self._ports(plan)
        for cluster in CLUSTERS:
            cfg = NodeConfig(
                name=cluster,
                cluster_name=f"zdm-{cluster}",
                host=LOOPBACK,
                storage_port=ports[f"{cluster}_storage"],
                native_port=ports[f"{cluster}_native"],
                directory=self.run_dir / cluster,
                heap=settings.zdm_cassandra_heap,
                fast_boot=settings.zdm_fast_boot,
                datacenter=DATACENTER,
                version=artifacts[cluster].version,
            )
            self.nodes[cluster] = CassandraNode(
                cfg, artifacts[cluster], timeout=settings.zdm_startup_timeout, boot_cache=caches.get(cluster)
            )
        boot = "fast-boot properties" if settings.zdm_fast_boot else "stock start-up settings"
        what = {c: f"Cassandra {a.version} on {a.java or 'java on PATH'}" for c, a in artifacts.items()}
        progress(
            f"starting origin ({LOOPBACK}:{ports['origin_native']}, {what['origin']}) and target "
            f"({LOOPBACK}:{ports['target_native']}, {what['target']}) nodes, "
            f"heap {settings.zdm_cassandra_heap}, {boot}; logs in {self.run_dir}"
        )
        for node in self.nodes.values():
            node.launch()
        for cluster, node in self.nodes.items():
            self._step(node.wait_ready, f"{cluster} Cassandra node", node.log)
            self._wait_login(node.cfg, deadline, node.log)
            progress(f"{cluster} node ready after {time.monotonic() - begin:.1f}s (pid {node.pid})")
        proxy_cfg = ProxyConfig(
            origin_host=LOOPBACK,
            origin_port=ports["origin_native"],
            target_host=LOOPBACK,
            target_port=ports["target_native"],
            listen_host=LOOPBACK,
            listen_port=ports["proxy_listen"],
            metrics_port=ports["proxy_metrics"],
            origin_credentials=(SUPERUSER.username, SUPERUSER.password),
            target_credentials=(SUPERUSER.username, SUPERUSER.password),
            primary_cluster=settings.zdm_primary_cluster,
            read_mode=settings.zdm_read_mode,
            origin_dc=DATACENTER,
            target_dc=DATACENTER,
            extra=dict(settings.zdm_proxy_env),
            team=team_settings(settings),
        )
        remaining = max(10.0, deadline - time.monotonic())
        self.proxy = ZdmProxyProcess(proxy_cfg, proxy_artifact, self.run_dir / "proxy", timeout=remaining)
        progress(f"starting zdm-proxy {proxy_artifact.version} on {LOOPBACK}:{ports['proxy_listen']}")
        proxy = self.proxy
        self._step(proxy.start, "zdm-proxy", proxy.log)
        proxy_endpoint = CqlEndpoint(LOOPBACK, ports["proxy_listen"], DATACENTER)
        error = login_error(proxy_endpoint, SUPERUSER, protocol_version=int(settings.zdm_protocol_version))
        if error:
            raise _startup_failure("zdm-proxy", f"CQL login through the proxy failed: {error}", proxy.log)
        progress(f"zdm-proxy ready after {time.monotonic() - begin:.1f}s (pid {proxy.pid})")
        versions = {cluster: self._release_version(cluster) for cluster in CLUSTERS}
        for cluster, artifact in artifacts.items():
            if artifact.java is not None:
                versions[f"{cluster}_java"] = artifact.java.version
        versions["proxy"] = proxy_artifact.version
        if proxy_artifact.commit:
            versions["proxy_commit"] = proxy_artifact.commit
        return EnvironmentInfo(
            target=self.name,
            origin=CqlEndpoint(LOOPBACK, ports["origin_native"], DATACENTER),
            target_cluster=CqlEndpoint(LOOPBACK, ports["target_native"], DATACENTER),
            proxy=proxy_endpoint,
            proxy_http=proxy_cfg.http,
            usernames={c: SUPERUSER.username for c in ("origin", "target", "proxy")},
            versions=versions,
            controls=tuple(sorted(c.value for c in self.controls)),
            logs={
                "origin": str(self.nodes["origin"].log_path),
                "target": str(self.nodes["target"].log_path),
                "proxy": str(proxy.log_path),
            },
            proxy_settings=proxy_cfg.public_environment(),
        )

    def _boot_caches(
        self, artifacts: Mapping[str, CassandraArtifact], progress: Progress
    ) -> dict[str, BootCache]:
        """Each cluster's boot cache (built on first use); none with stock settings or when it cannot be had.

        A boot cache that cannot be built is not a reason to fail the run: the nodes boot without it, and
        the progress line says why.
        """
        settings = self.settings
        if not (settings.zdm_fast_boot and settings.zdm_boot_cache):
            return {}
        caches: dict[str, BootCache] = {}
        for cluster, artifact in artifacts.items():
            names = tuple(f"zdm-{c}" for c, a in artifacts.items() if a.version == artifact.version)
            try:
                caches[cluster] = bootcache.ensure(
                    artifact, names, cache_dir=settings.zdm_cache_dir, heap=settings.zdm_cassandra_heap,
                    progress=progress,
                )  # fmt: skip
            except (ProvisionError, StartupError, OSError, TimeoutError) as exc:
                progress(f"booting {cluster} without the boot cache: {str(exc).splitlines()[0]}")
        return caches

    @staticmethod
    def _step(step: Callable[[], None], what: str, log: LogWatcher) -> None:
        try:
            step()
        except Exception as exc:
            raise _startup_failure(what, exc, log) from None

    @staticmethod
    def _wait_login(cfg: NodeConfig, deadline: float, log: LogWatcher) -> None:
        endpoint = CqlEndpoint(cfg.host, cfg.native_port, cfg.datacenter)
        error = wait_for_login(endpoint, SUPERUSER, timeout=max(0.0, deadline - time.monotonic()))
        if error is not None:
            raise _startup_failure(f"{cfg.name} Cassandra node", f"CQL login never worked: {error}", log)

    def _release_version(self, cluster: str) -> str:
        cfg = self.nodes[cluster].cfg
        client = connect(
            CqlEndpoint(cfg.host, cfg.native_port, cfg.datacenter),
            SUPERUSER,
            schema_metadata_enabled=False,
            token_metadata_enabled=False,
        )
        try:
            return release_version(client)
        finally:
            client.close()

    def stop(self) -> None:
        """Kill the proxy and both JVMs (SIGKILL: their data is deleted anyway), keep the logs."""
        if self.proxy is not None:
            self.proxy.stop(graceful=False)
        for node in self.nodes.values():
            node.stop(graceful=False)
            node.remove_data()
        release_ports(self._reserved)
        self._reserved = []

    def _start_node(self, cluster: str, node: CassandraNode) -> None:
        node.launch()
        self._step(node.wait_ready, f"{cluster} Cassandra node", node.log)
        self._wait_login(node.cfg, time.monotonic() + self.settings.zdm_startup_timeout, node.log)
