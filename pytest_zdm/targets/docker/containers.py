"""The docker target's containers: started with testcontainers, controlled through the Docker API.

Each container carries labels naming its run directory and the supervisor that owns it, and the run marker
in its environment (its processes are then found like the local target's). Ryuk, testcontainers' reaper,
is not used (its image cannot be pulled everywhere): the supervisor removes its containers itself, and
:func:`remove_orphans` removes those of a supervisor that died without doing so.

Logs: Docker keeps each container's output across stop and start; :class:`ContainerLog` copies it into the
run directory (``origin/logs/system.log``, ``proxy/proxy.log``: the local target's layout) whenever it is
read and before a container is removed, so the evidence outlives the containers.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import psutil
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from pytest_zdm.lab.cassandra import FAST_BOOT_JVM_OPTIONS, FAST_BOOT_PROPERTIES, READY_LINE
from pytest_zdm.lab.proxy import ProxyConfig, parsed_configurations
from pytest_zdm.proxy.health import both_clusters_up
from pytest_zdm.runtime import leftovers
from pytest_zdm.runtime.logs import LogWatcher
from pytest_zdm.runtime.ports import LOOPBACK
from pytest_zdm.runtime.wait import wait_until

RUN_DIR_LABEL = "pytest-zdm.run-dir"
#: ``pid:start`` of the supervisor, its start in seconds since boot (clock steps do not move it).
SUPERVISOR_LABEL = "pytest-zdm.supervisor-since-boot"
#: The same with a wall-clock start, as release 0.1 writes and reads it: kept for a 0.1 on the same
#: engine, which removes a container whose label it lacks or cannot match.
LEGACY_SUPERVISOR_LABEL = "pytest-zdm.supervisor"
CQL_PORT = 9042
METRICS_PORT = 14001
_POLL = 0.5


class ContainerExited(RuntimeError):
    """The container stopped before it was ready."""


def owner_labels(run_dir: Path) -> dict[str, str]:
    """Labels tying a container to its run and to this (supervisor) process, for :func:`remove_orphans`."""
    return {
        RUN_DIR_LABEL: str(run_dir),
        SUPERVISOR_LABEL: f"{os.getpid()}:{leftovers.current_process_started()}",
        LEGACY_SUPERVISOR_LABEL: f"{os.getpid()}:{psutil.Process().create_time()}",
    }


def ping_error(host: str | None = None, timeout: float = 5.0) -> str | None:
    """None when a Docker engine answers at ``host`` (default: ``DOCKER_HOST`` or the standard socket)."""
    try:
        client = docker.DockerClient(base_url=host, timeout=int(timeout)) if host else docker.from_env()
    except docker.errors.DockerException as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        client.ping()
        return None
    except Exception as exc:  # docker-py raises requests' and its own errors here
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        client.close()


def remove_orphans(client: docker.DockerClient) -> list[str]:
    """Remove containers and networks whose supervisor is gone; one line per thing removed."""
    removed: list[str] = []
    things: list[Any] = [
        *client.containers.list(all=True, filters={"label": RUN_DIR_LABEL}),
        *client.networks.list(filters={"label": RUN_DIR_LABEL}),
    ]
    for thing in things:
        labels = thing.attrs.get("Labels") or (thing.attrs.get("Config") or {}).get("Labels") or {}
        owner = labels.get(SUPERVISOR_LABEL) or labels.get(LEGACY_SUPERVISOR_LABEL, "")
        pid, _, started = str(owner).partition(":")  # a legacy (wall-clock) start is told apart by its size
        try:
            if leftovers.process_alive(int(pid), float(started)):
                continue
        except ValueError:
            pass
        try:
            if isinstance(thing, Container):
                thing.remove(force=True, v=True)
            else:
                thing.remove()
        except docker.errors.NotFound:
            continue
        removed.append(f"removed {thing.name} left by {labels.get(RUN_DIR_LABEL)} (its supervisor is gone)")
    return removed


class ContainerLog(LogWatcher):
    """The Docker log of one role (a node, the proxy) mirrored into a file of the run directory.

    A role may go through several containers (the proxy is replaced when reconfigured); earlier containers'
    output is kept ahead of the current one's, so marks taken before a replacement stay valid.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._earlier = b""
        self._current = b""
        self._container: Container | None = None
        self._written = -1

    def follow(self, container: Container) -> None:
        """From now on mirror ``container`` (the previous one's output is kept)."""
        if self._container is not None:
            self.sync()
            self._earlier += self._current
        self._current = b""
        self._container = container

    def sync(self) -> None:
        """Copy the container's output so far into the file (the last copy stays if it is gone)."""
        if self._container is not None:
            with contextlib.suppress(docker.errors.APIError):
                self._current = self._container.logs(stdout=True, stderr=True)
        data = self._earlier + self._current
        if len(data) != self._written:
            self.path.write_bytes(data)
            self._written = len(data)

    def mark(self) -> int:
        """The current end of the log."""
        self.sync()
        return super().mark()

    def search(self, pattern: str, since: int = 0) -> Any:
        """The first match of ``pattern`` after ``since`` (the log is refreshed first)."""
        self.sync()
        return super().search(pattern, since)

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines (the log is refreshed first)."""
        self.sync()
        return super().tail(lines)


def _wait(container: Container, ready: Any, deadline: float, what: str) -> None:
    """Poll ``ready()`` until it holds; fail early when the container stops, late at the deadline."""

    def up() -> bool:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            raise ContainerExited(
                f"{what}: container {container.name} exited with code {code} before it was ready"
            )
        return bool(ready())

    wait_until(
        up,
        timeout=deadline - time.monotonic(),
        what=f"{what}: ready (container {container.name})",
        interval=_POLL,
        error=TimeoutError,
    )


def _publish(container: DockerContainer, inside: int, host_port: int) -> None:
    """Publish ``inside`` on 127.0.0.1:``host_port`` only (never on every interface of the host)."""
    ports: dict[str, Any] = container.ports
    ports[f"{inside}/tcp"] = (LOOPBACK, host_port)


def _without_ryuk() -> None:
    """Keep testcontainers from starting Ryuk (unless the user asked for it): removal is done here."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def _marker() -> dict[str, str]:
    marker = os.environ.get(leftovers.RUN_MARKER)
    return {leftovers.RUN_MARKER: marker} if marker else {}


@dataclass(frozen=True)
class NodeSpec:
    """One Cassandra container: where clients reach it and how it is configured.

    ``network`` None means host networking: the node then listens on 127.0.0.1 on its own ports
    (``storage_port``, ``jmx_port``) so two nodes and the proxy coexist on the host's network.
    """

    cluster: str
    container_name: str
    image: str
    cluster_name: str
    native_port: int
    heap: str
    fast_boot: bool
    directory: Path
    labels: Mapping[str, str]
    storage_port: int | None = None
    jmx_port: int | None = None


def node_environment(spec: NodeSpec, *, host_network: bool) -> dict[str, str]:
    """The container's environment, understood alike by ``cassandra:5.0`` and the locally built image.

    The official image's variables set the cluster name, addresses and heap; everything else goes into
    ``JVM_EXTRA_OPTS`` as system properties: the fast-boot properties the local target uses, and
    ``cassandra.settings.*`` overrides of cassandra.yaml (Cassandra 5.0 applies them over the file when
    ``cassandra.config.allow_system_properties`` is true), which
    turn on password authentication and, on the host network, move the node to its own ports.
    """
    yaml: dict[str, str] = {"authenticator": "PasswordAuthenticator", "auto_snapshot": "false"}
    props: dict[str, str] = {}
    env = {
        "CASSANDRA_CLUSTER_NAME": spec.cluster_name,
        "MAX_HEAP_SIZE": spec.heap,
        "HEAP_NEWSIZE": "64M",  # the official image's cassandra-env.sh wants both or neither
        **_marker(),
    }
    if spec.fast_boot:
        props.update(FAST_BOOT_PROPERTIES)
        yaml.update({"num_tokens": "1", "initial_token": "0"})
    if host_network:
        assert spec.storage_port is not None and spec.jmx_port is not None, "host network: ports are planned"
        env.update(
            {
                "CASSANDRA_LISTEN_ADDRESS": LOOPBACK,
                "CASSANDRA_BROADCAST_ADDRESS": LOOPBACK,
                "CASSANDRA_RPC_ADDRESS": LOOPBACK,
                "CASSANDRA_SEEDS": f"{LOOPBACK}:{spec.storage_port}",
            }
        )
        yaml.update({"storage_port": str(spec.storage_port), "native_transport_port": str(spec.native_port)})
        props["cassandra.jmx.local.port"] = str(spec.jmx_port)  # the official image's 7199 would collide
    props["cassandra.config.allow_system_properties"] = "true"  # off by default: the overrides need it
    props.update({f"cassandra.settings.{k}": v for k, v in yaml.items()})
    jvm = [*(FAST_BOOT_JVM_OPTIONS if spec.fast_boot else ()), *(f"-D{k}={v}" for k, v in props.items())]
    env["JVM_EXTRA_OPTS"] = " ".join(jvm)
    return env


class CassandraContainer:
    """One single-node Cassandra cluster in a container: start, wait, stop, kill, pause, remove."""

    def __init__(self, spec: NodeSpec, network: Network | None, *, timeout: float) -> None:
        self.spec = spec
        self.network = network
        self.timeout = timeout
        self.log_path = spec.directory / "logs" / "system.log"
        self.log = ContainerLog(self.log_path)
        self._tc: DockerContainer | None = None
        self._since = 0

    @property
    def container(self) -> Container:
        """The running (or stopped) container."""
        assert self._tc is not None, "launch() first"
        return self._tc.get_wrapped_container()

    def launch(self) -> None:
        """Create and start the container without waiting for Cassandra."""
        spec = self.spec
        _without_ryuk()
        tc = DockerContainer(spec.image).with_name(spec.container_name)
        tc.with_envs(**node_environment(spec, host_network=self.network is None))
        if self.network is None:
            tc.with_kwargs(network="host", labels=dict(spec.labels))
        else:
            tc.with_network(self.network).with_network_aliases(spec.cluster).with_kwargs(
                labels=dict(spec.labels)
            )
            _publish(tc, CQL_PORT, spec.native_port)
        self._since = self.log.mark()
        tc.start()
        self._tc = tc
        self.log.follow(tc.get_wrapped_container())

    def wait_ready(self) -> None:
        """Block until the log says ``Startup complete`` after the latest start."""
        since = self._since
        deadline = time.monotonic() + self.timeout
        _wait(
            self.container,
            lambda: self.log.search(READY_LINE, since) is not None,
            deadline,
            self.spec.cluster,
        )

    def running(self) -> bool:
        """True while the container runs (paused counts as running)."""
        if self._tc is None:
            return False
        self.container.reload()
        return self.container.status in ("running", "paused")

    def start(self) -> None:
        """Start the stopped container again (same data) without waiting."""
        self._since = self.log.mark()
        self.container.start()

    def stop(self, *, graceful: bool = True) -> None:
        """``docker stop`` (SIGTERM, Cassandra drains) or ``docker kill`` (SIGKILL, a crash)."""
        if not self.running():
            return
        if self.container.status == "paused":
            self.container.unpause()  # a frozen process cannot act on SIGTERM
        if graceful:
            self.container.stop(timeout=60)
        else:
            self.container.kill()
        self.log.sync()

    def pause(self) -> None:
        """``docker pause``: every process frozen, sockets left open (a node that hangs)."""
        self.container.pause()

    def resume(self) -> None:
        """``docker unpause``."""
        self.container.unpause()

    def remove(self) -> None:
        """Keep the log, then remove the container and its volumes."""
        if self._tc is None:
            return
        self.log.sync()
        with contextlib.suppress(docker.errors.NotFound):
            self._tc.stop(force=True, delete_volume=True)
        self._tc = None


@dataclass
class ProxySpec:
    """The proxy container: its image, its configuration and where clients reach it on 127.0.0.1."""

    image: str
    cfg: ProxyConfig
    listen_port: int
    metrics_port: int
    name_prefix: str
    directory: Path
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def http(self) -> str:
        """Base URL of the proxy's health and metrics endpoints, as published."""
        return f"http://{LOOPBACK}:{self.metrics_port}"


class ProxyContainer:
    """zdm-proxy in a container; a restart keeps the container, a reconfiguration replaces it."""

    def __init__(self, spec: ProxySpec, network: Network | None, *, timeout: float) -> None:
        self.spec = spec
        self.network = network
        self.timeout = timeout
        self.log_path = spec.directory / "proxy.log"
        self.log = ContainerLog(self.log_path)
        self.starts = 0
        self._tc: DockerContainer | None = None
        self._since = 0

    @property
    def cfg(self) -> ProxyConfig:
        """The configuration the current container runs with."""
        return self.spec.cfg

    @property
    def container(self) -> Container:
        """The current container."""
        assert self._tc is not None, "launch() first"
        return self._tc.get_wrapped_container()

    def launch(self) -> None:
        """Create and start a container with the current configuration, without waiting."""
        spec = self.spec
        _without_ryuk()
        tc = DockerContainer(spec.image).with_name(f"{spec.name_prefix}-proxy-{self.starts + 1}")
        tc.with_envs(**spec.cfg.environment(), **_marker())
        if self.network is None:
            tc.with_kwargs(network="host", labels=dict(spec.labels))
        else:
            tc.with_network(self.network).with_kwargs(labels=dict(spec.labels))
            _publish(tc, CQL_PORT, spec.listen_port)
            _publish(tc, METRICS_PORT, spec.metrics_port)
        self._since = self.log.mark()
        tc.start()
        self._tc = tc
        self.log.follow(tc.get_wrapped_container())
        self.starts += 1

    def wait_ready(self) -> None:
        """Block until ``/health/readiness`` is 200 with both clusters UP."""
        deadline = time.monotonic() + self.timeout
        _wait(self.container, lambda: both_clusters_up(self.spec.http), deadline, "zdm-proxy")

    def start(self) -> None:
        """Launch and wait."""
        self.launch()
        self.wait_ready()

    def restart(self, *, extra: Mapping[str, str] | None = None) -> None:
        """Stop gracefully and start again; with ``extra`` a new container with those extra settings."""
        if extra is None and self._tc is not None:
            self.container.stop(timeout=20)
            self._since = self.log.mark()
            self.container.start()
            self.starts += 1
            self.wait_ready()
            return
        self.remove()
        if extra is not None:
            self.spec = replace(self.spec, cfg=replace(self.spec.cfg, extra=dict(extra)))
        self.start()

    def status(self) -> dict[str, Any]:
        """Pid, number of starts, and whether the proxy runs (exit code if it stopped)."""
        if self._tc is None:
            return {"pid": None, "starts": self.starts, "running": False, "exit_code": None}
        self.container.reload()
        state = self.container.attrs.get("State", {})
        running = bool(state.get("Running"))
        return {
            "pid": state.get("Pid") or None,
            "starts": self.starts,
            "running": running,
            "exit_code": None if running else state.get("ExitCode"),
            "container": self.container.name,
        }

    def parsed_configuration(self) -> Mapping[str, Any] | None:
        """The configuration the proxy logged at its latest start (passwords left out by it)."""
        self.log.sync()
        found = parsed_configurations(self.log_path)
        return found[-1] if found else None

    def remove(self) -> None:
        """Keep the log, then remove the container."""
        if self._tc is None:
            return
        self.log.sync()
        with contextlib.suppress(docker.errors.NotFound):
            self._tc.stop(force=True, delete_volume=True)
        self._tc = None
