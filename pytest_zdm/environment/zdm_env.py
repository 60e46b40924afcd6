"""A started environment as tests see it.

Endpoints, credentials, versions, and controls sent to the supervisor that owns the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

from pytest_zdm.cql import CqlClient, connect
from pytest_zdm.environment.supervisor import control_address
from pytest_zdm.errors import ControlError, UnsupportedControl
from pytest_zdm.model import Control, Credentials, EnvironmentInfo
from pytest_zdm.settings import Settings


@dataclass
class ZdmEnv:
    """A started environment as tests see it: endpoints, credentials, versions and controls."""

    info: EnvironmentInfo
    credentials: Mapping[str, Credentials] = field(repr=False)
    run_dir: Path
    settings: Settings = field(repr=False)
    ready_seconds: float | None = None

    @property
    def target(self) -> str:
        """Name of the target that provides the environment."""
        return self.info.target

    def supports(self, verb: Control) -> bool:
        """Whether the target can carry out ``verb``."""
        return verb.value in self.info.controls

    def connect(self, cluster: str, *, keyspace: str | None = None, **options: Any) -> CqlClient:
        """A new driver session to ``origin``, ``target`` or ``proxy`` (close it when done)."""
        options.setdefault("protocol_version", int(self.settings.zdm_protocol_version))
        options.setdefault("request_timeout", self.settings.zdm_request_timeout)
        options.setdefault("consistency_level", self.settings.zdm_consistency_level)
        return connect(self.info.endpoint(cluster), self.credentials[cluster], keyspace=keyspace, **options)

    def control(self, verb: Control, arg: Any = None, *, timeout: float | None = None) -> Any:
        """Ask the supervisor to carry out ``verb``; raises :class:`ControlError` with its reason."""
        if not self.supports(verb):
            raise UnsupportedControl(f"target {self.target!r} does not support {verb.value}")
        args: tuple[Any, ...] = (verb.value,) if arg is None else (verb.value, arg)
        status, result = _request(self.run_dir, args, timeout or self.settings.zdm_startup_timeout)
        if status != "ok":
            shown = "" if arg is None or isinstance(arg, dict) else f" {arg}"
            raise ControlError(f"{verb.value}{shown}: {result}")
        return result

    def stop_node(self, cluster: str) -> None:
        """Stop the node of ``cluster`` (graceful)."""
        self.control(Control.STOP_NODE, cluster)

    def kill_node(self, cluster: str) -> None:
        """Kill the node of ``cluster`` with SIGKILL (a crash, not a shutdown).

        A crashed single node loses what Cassandra had not made durable: the writes it acknowledged in
        its last moments (periodic commit log) and, on a fast-boot lab node, the tables created since
        its last flush (``cassandra.unsafesystem``). A check that restarts a killed node and reads its
        data back runs with ``--zdm-fast-boot=false`` and counts such losses (bench/faults_under_load.py).
        """
        self.control(Control.KILL_NODE, cluster)

    def start_node(self, cluster: str) -> None:
        """Start a stopped node and wait until it accepts logins."""
        self.control(Control.START_NODE, cluster)

    def pause_node(self, cluster: str) -> None:
        """Freeze the node of ``cluster`` (SIGSTOP)."""
        self.control(Control.PAUSE_NODE, cluster)

    def resume_node(self, cluster: str) -> None:
        """Thaw a paused node."""
        self.control(Control.RESUME_NODE, cluster)

    def restart_proxy(self) -> Any:
        """Restart the proxy and wait for readiness."""
        return self.control(Control.RESTART_PROXY)

    def reconfigure_proxy(self, settings: Mapping[str, str]) -> Any:
        """Restart the proxy with these extra ``ZDM_*`` settings (replacing earlier extras; {} restores)."""
        return self.control(Control.RECONFIGURE_PROXY, dict(settings))

    def proxy_status(self) -> Mapping[str, Any]:
        """Pid, number of starts since the environment began, running or not."""
        result: Mapping[str, Any] = self.control(Control.PROXY_STATUS)
        return result

    def proxy_logs(self) -> str:
        """The proxy's recent log lines."""
        return str(self.control(Control.PROXY_LOGS))

    def proxy_config(self) -> Mapping[str, Any]:
        """The proxy's effective configuration (environment given and the parsed configuration it logged)."""
        result: Mapping[str, Any] = self.control(Control.PROXY_CONFIG)
        return result


def _request(run_dir: Path, args: tuple[Any, ...], timeout: float) -> tuple[str, Any]:
    try:
        key = (run_dir / "control.key").read_bytes()  # removed when the supervisor stops
        with Client(control_address(run_dir), family="AF_UNIX", authkey=key) as conn:
            conn.send(args)
            if not conn.poll(timeout):
                return "error", f"no answer from the supervisor within {timeout:.0f}s"
            status, result = conn.recv()
            return str(status), result
    except (OSError, EOFError, AuthenticationError) as exc:  # the last: a supervisor of another key
        return "error", f"supervisor unreachable ({exc}); see {run_dir / 'supervisor.log'}"
