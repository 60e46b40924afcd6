"""What every layer shares about an environment: endpoints, credentials, what it yields, what it can do.

These records are neutral: targets produce them, the environment layer carries them between processes,
fixtures and suites read them. Nothing here imports a target, so any layer may import this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Progress = Callable[[str], None]
CLUSTERS = ("origin", "target")


class Control(str, enum.Enum):
    """What a test may do to a running environment, when the target supports it."""

    STOP_NODE = "stop_node"
    KILL_NODE = "kill_node"
    START_NODE = "start_node"
    PAUSE_NODE = "pause_node"
    RESUME_NODE = "resume_node"
    RESTART_PROXY = "restart_proxy"
    RECONFIGURE_PROXY = "reconfigure_proxy"
    PROXY_STATUS = "proxy_status"
    PROXY_LOGS = "proxy_logs"
    PROXY_CONFIG = "proxy_config"


class Capability(str, enum.Enum):
    """What a check may need to see or do, beyond the CQL endpoints every target gives.

    A target declares which it offers (and how a user provides the others); a check declares which it needs
    (marker ``zdm_needs``, or through the fixture it uses). A check whose need is missing cannot run there:
    it is reported as not verifiable with the capability and how to provide it, and the gate stays
    INCOMPLETE.
    """

    PROXY_SETTINGS = "proxy_settings"
    PROXY_LOG = "proxy_log"
    PROXY_STATUS = "proxy_status"
    NODE_CONTROL = "node_control"
    PROXY_CONTROL = "proxy_control"

    @property
    def description(self) -> str:
        """What it is, for people."""
        return _CAPABILITY_TEXT[self]

    @classmethod
    def of_controls(cls, controls: frozenset[Control] | set[Control]) -> frozenset[Capability]:
        """The capabilities a set of control verbs gives."""
        return frozenset(cap for cap, verbs in _CAPABILITY_CONTROLS.items() if verbs <= set(controls))


@dataclass(frozen=True)
class CqlEndpoint:
    """A CQL contact point and the datacenter a driver should treat as local there.

    A cluster reached through several contact points lists the others in ``more``. An Astra database is
    reached through its secure connect bundle instead: ``host``/``port`` are then the bundle's metadata
    service, shown to people, never dialled by the framework.
    """

    host: str
    port: int
    local_dc: str | None = None
    #: Only this address is usable (a tunnel such as a port-forward): drivers must not connect to the
    #: peers the cluster advertises, whose addresses are not reachable from here.
    pinned: bool = False
    more: tuple[tuple[str, int], ...] = ()
    secure_connect_bundle: str | None = None

    @property
    def contact_points(self) -> list[tuple[str, int]]:
        """Every (host, port) to hand the driver (empty for a secure connect bundle)."""
        return [] if self.secure_connect_bundle else [(self.host, self.port), *self.more]

    def __str__(self) -> str:
        if self.secure_connect_bundle:
            return f"secure connect bundle {Path(self.secure_connect_bundle).name}"
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.contact_points)


@dataclass(frozen=True)
class Credentials:
    """Username and password for a CQL login; the password never appears in ``repr`` or JSON."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class EnvironmentInfo:
    """What a started target yields: endpoints, versions and where its evidence (logs) is kept."""

    target: str
    origin: CqlEndpoint
    target_cluster: CqlEndpoint
    proxy: CqlEndpoint
    proxy_http: str
    usernames: Mapping[str, str]
    versions: Mapping[str, str] = field(default_factory=dict)
    controls: tuple[str, ...] = ()
    #: :class:`Capability` values the started environment offers.
    capabilities: tuple[str, ...] = ()
    #: An existing keyspace the framework works in (it creates no keyspace then), if the target names one.
    keyspace: str | None = None
    logs: Mapping[str, str] = field(default_factory=dict)
    proxy_settings: Mapping[str, str] = field(default_factory=dict)

    def endpoint(self, cluster: str) -> CqlEndpoint:
        """The CQL endpoint of ``origin``, ``target`` or ``proxy``."""
        return {"origin": self.origin, "target": self.target_cluster, "proxy": self.proxy}[cluster]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (no passwords: they are never written to the run directory)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvironmentInfo:
        """Inverse of :meth:`to_json`."""
        values = dict(data)
        for key in ("origin", "target_cluster", "proxy"):
            endpoint = dict(values[key])
            endpoint["more"] = tuple((str(h), int(p)) for h, p in endpoint.get("more", ()))
            values[key] = CqlEndpoint(**endpoint)
        values["controls"] = tuple(values.get("controls", ()))
        values["capabilities"] = tuple(values.get("capabilities", ()))
        return cls(**values)

    def describe(self) -> list[str]:
        """Lines for the report header and the ``--zdm-keep`` message."""
        return [
            f"origin  {self.origin}  (Cassandra {self.versions.get('origin', '?')}, "
            f"dc {self.origin.local_dc})",
            f"target  {self.target_cluster}  (Cassandra {self.versions.get('target', '?')}, "
            f"dc {self.target_cluster.local_dc})",
            f"proxy   {self.proxy}  (zdm-proxy {self.versions.get('proxy', '?')}), "
            f"health/metrics {self.proxy_http}",
        ]


_CAPABILITY_TEXT = {
    Capability.PROXY_SETTINGS: "the settings the proxy was given (its environment, YAML config or manifest)",
    Capability.PROXY_LOG: "the proxy's log (cluster names it connected to, the configuration it parsed)",
    Capability.PROXY_STATUS: "the proxy's process status (restarts)",
    Capability.NODE_CONTROL: "stopping, killing, pausing and starting a Cassandra node",
    Capability.PROXY_CONTROL: "restarting and reconfiguring the proxy",
}
_CAPABILITY_CONTROLS = {
    Capability.PROXY_SETTINGS: {Control.PROXY_CONFIG},
    Capability.PROXY_LOG: {Control.PROXY_LOGS},
    Capability.PROXY_STATUS: {Control.PROXY_STATUS},
    Capability.NODE_CONTROL: {
        Control.STOP_NODE,
        Control.KILL_NODE,
        Control.START_NODE,
        Control.PAUSE_NODE,
        Control.RESUME_NODE,
    },
    Capability.PROXY_CONTROL: {Control.RESTART_PROXY, Control.RECONFIGURE_PROXY},
}
