"""The ``docker`` target: origin, target and zdm-proxy as containers started with testcontainers.

Images are settings: the official ``cassandra:5.0`` and ``datastax/zdm-proxy`` by default, or any image that
honours the official images' environment (this project's CI builds such images without a registry).
Networking is a setting too: ``bridge`` (a network of the run's own, the proxy reaching the nodes by name,
ports published on 127.0.0.1 only) or ``host`` (each container on its own free loopback ports; the
only mode an engine started with ``--bridge=none`` offers).

Nodes get what the local target's get: own cluster names, password authentication (cassandra/cassandra),
the small heap and the fast-boot properties; the proxy gets the same ``ZDM_*`` environment. Ready means
the same too: a CQL login on each cluster and through the proxy, and readiness 200 with both clusters UP.
Controls map to Docker: stop/kill/start a node's container, ``docker pause``/``unpause`` for a hung node,
restart the proxy's container, replace it to reconfigure.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import docker

from pytest_zdm.cql import connect, login_error, release_version, wait_for_login
from pytest_zdm.errors import StartupError, ZdmError
from pytest_zdm.lab.cassandra import DATACENTER, SUPERUSER
from pytest_zdm.lab.proxy import VERSION_LINE, ProxyConfig, team_settings
from pytest_zdm.model import CLUSTERS, Control, CqlEndpoint, Credentials, EnvironmentInfo, Progress
from pytest_zdm.runtime.ports import LOOPBACK, free_ports, release_ports, reserve_ports
from pytest_zdm.settings import Settings
from pytest_zdm.targets.base import Target
from pytest_zdm.targets.controls import NodeAndProxyControls
from pytest_zdm.targets.docker.containers import (
    CQL_PORT,
    METRICS_PORT,
    CassandraContainer,
    ContainerLog,
    NodeSpec,
    ProxyContainer,
    ProxySpec,
    owner_labels,
    remove_orphans,
)

#: Ports picked on the host: every listening port with host networking, the published ones with a bridge.
HOST_PORTS = (
    "origin_storage",
    "origin_native",
    "origin_jmx",
    "target_storage",
    "target_native",
    "target_jmx",
    "proxy_listen",
    "proxy_metrics",
)
BRIDGE_PORTS = ("origin_native", "target_native", "proxy_listen", "proxy_metrics")


def _port_names(settings: Settings) -> tuple[str, ...]:
    return HOST_PORTS if settings.zdm_docker_network == "host" else BRIDGE_PORTS


def docker_client() -> docker.DockerClient:
    """A client of the engine ``DOCKER_HOST`` names (or the standard socket); one line when none answers."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker-py raises its own and requests' errors here
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        where = os.environ.get("DOCKER_HOST") or "the standard socket"
        raise StartupError(
            f"docker target: no Docker engine answers at {where} ({reason}); start one or set DOCKER_HOST"
        ) from None
    return client


def _startup_failure(what: str, reason: object, log: ContainerLog) -> StartupError:
    return StartupError(f"{what} did not start: {reason}\n--- last lines of {log.path} ---\n{log.tail(40)}")


class DockerTarget(NodeAndProxyControls, Target):
    """Containers on a Docker engine, owned by the supervisor for the whole run."""

    name = "docker"
    controls = frozenset(Control)
    disposable = True  # the framework started the containers and removes them at the end

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes: dict[str, CassandraContainer] = {}
        self.proxy: ProxyContainer | None = None
        self.network: Any = None
        self.images: dict[str, str] = {}
        self._reserved: list[int] = []  # ports reserved for this environment until it stops

    @classmethod
    def credentials(cls, settings: Any) -> Mapping[str, Credentials]:
        """The nodes use Cassandra's default superuser; the proxy forwards the client's login."""
        del settings
        return {"origin": SUPERUSER, "target": SUPERUSER, "proxy": SUPERUSER}

    @classmethod
    def plan(cls, settings: Settings) -> Mapping[str, Any]:
        """Free loopback ports: all of them on the host network, the published ones with a bridge.

        The team's proxy configuration, if named, is read now: a bad file is a usage error at once.
        """
        team_settings(settings)
        names = _port_names(settings)
        return dict(zip(names, free_ports(len(names)), strict=True))

    @classmethod
    def report_header(cls, settings: Settings, plan: Mapping[str, Any]) -> list[str]:
        """Planned endpoints, images and networking, for the report header."""
        origin, target = (
            settings.zdm_docker_origin_cassandra_image,
            settings.zdm_docker_target_cassandra_image,
        )
        cassandra = origin if origin == target else f"origin {origin}, target {target}"
        images = f"images {cassandra}, {settings.zdm_docker_proxy_image}"
        lines = [f"zdm: docker {images}, {settings.zdm_docker_network} network"]
        if plan:
            lines.append(
                f"zdm: endpoints (planned) origin {LOOPBACK}:{plan['origin_native']}, target {LOOPBACK}:"
                f"{plan['target_native']}, proxy {LOOPBACK}:{plan['proxy_listen']}, proxy health/metrics "
                f"http://{LOOPBACK}:{plan['proxy_metrics']}"
            )
        return lines

    def _ports(self, plan: Mapping[str, Any]) -> dict[str, int]:
        """Reserve the planned ports (a planned port another run took meanwhile is replaced)."""
        names = _port_names(self.settings)
        planned = [int(plan[name]) for name in names] if all(name in plan for name in names) else []
        self._reserved = reserve_ports(len(names), prefer=planned)
        return dict(zip(names, self._reserved, strict=True))

    def _images(self, client: docker.DockerClient, progress: Progress) -> dict[str, str]:
        """Pull the images the engine lacks, the proxy's first (fail before booting nodes)."""
        settings = self.settings
        images = {
            "proxy": settings.zdm_docker_proxy_image,
            "origin": settings.zdm_docker_origin_cassandra_image,
            "target": settings.zdm_docker_target_cassandra_image,
        }
        setting = {
            "proxy": "zdm_docker_proxy_image",
            "origin": "zdm_docker_origin_cassandra_image",
            "target": "zdm_docker_target_cassandra_image",
        }
        for role, image in images.items():
            try:
                client.images.get(image)
                continue
            except docker.errors.ImageNotFound:
                pass
            progress(f"pulling {image}")
            try:
                client.images.pull(image)
            except docker.errors.APIError as exc:
                reason = (exc.explanation or str(exc)).splitlines()[0][:300]
                name = (
                    setting[role]
                    if image != settings.zdm_docker_cassandra_image
                    else "zdm_docker_cassandra_image"
                )
                raise StartupError(
                    f"{name}: cannot pull {image} ({reason}); on a machine that reaches no "
                    "registry, build or load the image and name it with this setting"
                ) from None
        return images

    def start(self, plan: Mapping[str, Any], progress: Progress) -> EnvironmentInfo:
        """Images, then both nodes side by side, then the proxy; return once everything is ready."""
        settings = self.settings
        begin = time.monotonic()
        client = docker_client()
        for line in remove_orphans(client):
            progress(line)
        self.images = self._images(client, progress)
        # The nodes' and proxy's own waits start after pulls and builds (the spawning process still
        # bounds the whole start, as it bounds the local target's provisioning).
        deadline = time.monotonic() + settings.zdm_startup_timeout
        ports = self._ports(plan)
        host = settings.zdm_docker_network == "host"
        labels = owner_labels(self.run_dir)
        prefix = f"pytest-zdm-{self.run_dir.name}"
        if not host:
            from testcontainers.core.network import Network

            self.network = Network(docker_network_kw={"labels": labels}).create()
        for cluster in CLUSTERS:
            spec = NodeSpec(
                cluster=cluster,
                container_name=f"{prefix}-{cluster}",
                image=self.images[cluster],
                cluster_name=f"zdm-{cluster}",
                native_port=ports[f"{cluster}_native"],
                heap=settings.zdm_cassandra_heap,
                fast_boot=settings.zdm_fast_boot,
                directory=self.run_dir / cluster,
                labels=labels,
                storage_port=ports.get(f"{cluster}_storage"),
                jmx_port=ports.get(f"{cluster}_jmx"),
            )
            self.nodes[cluster] = CassandraContainer(spec, self.network, timeout=settings.zdm_startup_timeout)
        boot = "fast-boot properties" if settings.zdm_fast_boot else "stock start-up settings"
        progress(
            f"starting origin ({LOOPBACK}:{ports['origin_native']}) and target ({LOOPBACK}:"
            f"{ports['target_native']}) Cassandra containers ({self.images['origin']}, "
            f"{self.images['target']}, "
            f"{settings.zdm_docker_network} network, heap {settings.zdm_cassandra_heap}, {boot}); "
            f"logs in {self.run_dir}"
        )
        for cluster, node in self.nodes.items():
            self._step(node.launch, f"{cluster} Cassandra container", node.log)
        for cluster, node in self.nodes.items():
            self._step(node.wait_ready, f"{cluster} Cassandra container", node.log)
            self._wait_login(cluster, deadline)
            name = node.spec.container_name
            progress(f"{cluster} node ready after {time.monotonic() - begin:.1f}s (container {name})")
        inside = {"origin": ("origin", CQL_PORT), "target": ("target", CQL_PORT)}
        if host:
            inside = {c: (LOOPBACK, ports[f"{c}_native"]) for c in CLUSTERS}
        proxy_cfg = ProxyConfig(
            origin_host=inside["origin"][0],
            origin_port=inside["origin"][1],
            target_host=inside["target"][0],
            target_port=inside["target"][1],
            listen_host=LOOPBACK if host else "0.0.0.0",
            listen_port=ports["proxy_listen"] if host else CQL_PORT,
            metrics_port=ports["proxy_metrics"] if host else METRICS_PORT,
            origin_credentials=(SUPERUSER.username, SUPERUSER.password),
            target_credentials=(SUPERUSER.username, SUPERUSER.password),
            primary_cluster=settings.zdm_primary_cluster,
            read_mode=settings.zdm_read_mode,
            origin_dc=DATACENTER,
            target_dc=DATACENTER,
            extra=dict(settings.zdm_proxy_env),
            team=team_settings(settings),
        )
        proxy_spec = ProxySpec(
            image=self.images["proxy"],
            cfg=proxy_cfg,
            listen_port=ports["proxy_listen"],
            metrics_port=ports["proxy_metrics"],
            name_prefix=prefix,
            directory=self.run_dir / "proxy",
            labels=labels,
        )
        remaining = max(10.0, deadline - time.monotonic())
        self.proxy = proxy = ProxyContainer(proxy_spec, self.network, timeout=remaining)
        progress(f"starting zdm-proxy ({self.images['proxy']}) on {LOOPBACK}:{ports['proxy_listen']}")
        self._step(proxy.start, "zdm-proxy", proxy.log)
        proxy_endpoint = CqlEndpoint(LOOPBACK, ports["proxy_listen"], DATACENTER)
        error = login_error(proxy_endpoint, SUPERUSER, protocol_version=int(settings.zdm_protocol_version))
        if error:
            raise _startup_failure("zdm-proxy", f"CQL login through the proxy failed: {error}", proxy.log)
        progress(f"zdm-proxy ready after {time.monotonic() - begin:.1f}s (container {proxy.container.name})")
        versions = {cluster: self._release_version(cluster) for cluster in CLUSTERS}
        found = proxy.log.search(VERSION_LINE)
        versions["proxy"] = found.group(1) if found else "?"
        versions["origin_image"] = self.images["origin"]
        versions["target_image"] = self.images["target"]
        versions["proxy_image"] = self.images["proxy"]
        labels = docker_client().images.get(self.images["proxy"]).labels or {}
        revision = labels.get("org.opencontainers.image.revision", "")
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            versions["proxy_commit"] = revision[:12]
        return EnvironmentInfo(
            target=self.name,
            origin=self._endpoint("origin"),
            target_cluster=self._endpoint("target"),
            proxy=proxy_endpoint,
            proxy_http=proxy_spec.http,
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

    def _endpoint(self, cluster: str) -> CqlEndpoint:
        return CqlEndpoint(LOOPBACK, self.nodes[cluster].spec.native_port, DATACENTER)

    @staticmethod
    def _step(step: Callable[[], None], what: str, log: ContainerLog) -> None:
        try:
            step()
        except ZdmError:
            raise
        except Exception as exc:  # docker-py, testcontainers and time-outs: one line plus the log's tail
            raise _startup_failure(what, exc, log) from None

    def _wait_login(self, cluster: str, deadline: float) -> None:
        node = self.nodes[cluster]
        error = wait_for_login(
            self._endpoint(cluster), SUPERUSER, timeout=max(0.0, deadline - time.monotonic())
        )
        if error is not None:
            raise _startup_failure(
                f"{cluster} Cassandra container", f"CQL login never worked: {error}", node.log
            )

    def _release_version(self, cluster: str) -> str:
        client = connect(self._endpoint(cluster), SUPERUSER)
        try:
            return release_version(client)
        finally:
            client.close()

    def stop(self) -> None:
        """Remove the proxy's and the nodes' containers (their logs stay in the run dir), then the network."""
        parts: list[Any] = [self.proxy, *self.nodes.values()]
        for part in parts:
            if part is None:
                continue
            try:
                part.remove()
            except Exception as exc:  # keep removing the others; say what is left
                print(f"pytest-zdm: could not remove a container of {self.run_dir}: {exc}", flush=True)
        if self.network is not None:
            try:
                self.network.remove()
            except Exception as exc:
                print(f"pytest-zdm: could not remove network {self.network.name}: {exc}", flush=True)
            self.network = None
        release_ports(self._reserved)
        self._reserved = []

    def _start_node(self, cluster: str, node: CassandraContainer) -> None:
        node.start()
        self._step(node.wait_ready, f"{cluster} Cassandra container", node.log)
        self._wait_login(cluster, time.monotonic() + self.settings.zdm_startup_timeout)
