"""A real zdm-proxy process configured only with settings the proxy actually reads.

The proxy takes its configuration from ``ZDM_*`` environment variables and silently ignores names it does
not know, so this module builds the environment from scratch (nothing inherited from the caller's shell)
and readiness is judged from the proxy's own ``/health/readiness`` endpoint, not from a port being open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_zdm.health import both_clusters_up
from pytest_zdm.local.process import LoggedProcess, LogWatcher
from pytest_zdm.provision import ProxyArtifact

CONFIG_LINE = r"Parsed configuration: (\{.*\})"


@dataclass(frozen=True)
class ProxyConfig:
    """What the local proxy is pointed at and how it routes."""

    origin_host: str
    origin_port: int
    target_host: str
    target_port: int
    listen_host: str
    listen_port: int
    metrics_port: int
    origin_credentials: tuple[str, str]
    target_credentials: tuple[str, str]
    primary_cluster: str = "ORIGIN"
    read_mode: str = "PRIMARY_ONLY"
    origin_dc: str = "datacenter1"
    target_dc: str = "datacenter1"
    extra: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The ``ZDM_*`` variables (real names, see proxy/pkg/config/config.go), then the user's extras.

        Extras are passed as given, unknown names included: reproducing a deployment's configuration is
        their purpose, and the configuration lint is what reports names the proxy ignores.
        """
        return {**self._base(), **self.extra}

    def _base(self) -> dict[str, str]:
        return {
            "ZDM_ORIGIN_CONTACT_POINTS": self.origin_host,
            "ZDM_ORIGIN_PORT": str(self.origin_port),
            "ZDM_ORIGIN_USERNAME": self.origin_credentials[0],
            "ZDM_ORIGIN_PASSWORD": self.origin_credentials[1],
            "ZDM_ORIGIN_LOCAL_DATACENTER": self.origin_dc,
            "ZDM_TARGET_CONTACT_POINTS": self.target_host,
            "ZDM_TARGET_PORT": str(self.target_port),
            "ZDM_TARGET_USERNAME": self.target_credentials[0],
            "ZDM_TARGET_PASSWORD": self.target_credentials[1],
            "ZDM_TARGET_LOCAL_DATACENTER": self.target_dc,
            "ZDM_PRIMARY_CLUSTER": self.primary_cluster,
            "ZDM_READ_MODE": self.read_mode,
            "ZDM_PROXY_LISTEN_ADDRESS": self.listen_host,
            "ZDM_PROXY_LISTEN_PORT": str(self.listen_port),
            "ZDM_METRICS_ENABLED": "true",
            "ZDM_METRICS_ADDRESS": self.listen_host,
            "ZDM_METRICS_PORT": str(self.metrics_port),
            "ZDM_LOG_LEVEL": "INFO",
            # 3 s instead of the proxy's 10 s default: the pause check waits this long, and a disposable
            # loopback environment has no slow cluster to wait for.
            "ZDM_PROXY_REQUEST_TIMEOUT_MS": "3000",
        }

    def public_environment(self) -> dict[str, str]:
        """:meth:`environment` with passwords masked, for logs, reports and the configuration lint."""
        return {k: ("***" if k.endswith("_PASSWORD") else v) for k, v in self.environment().items()}

    @property
    def http(self) -> str:
        """Base URL of the metrics / health endpoints."""
        return f"http://{self.listen_host}:{self.metrics_port}"


class ZdmProxyProcess:
    """Start, watch and stop one zdm-proxy; restarts append to the same log."""

    def __init__(self, cfg: ProxyConfig, artifact: ProxyArtifact, directory: Path, *, timeout: float) -> None:
        self.cfg = cfg
        self.artifact = artifact
        self.directory = directory
        self.timeout = timeout
        self.log_path = directory / "proxy.log"
        self.log = LogWatcher(self.log_path)
        self.starts = 0
        self._process: LoggedProcess | None = None

    def launch(self) -> None:
        """Start the proxy process without waiting."""
        self.directory.mkdir(parents=True, exist_ok=True)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.directory), **self.cfg.environment()}
        self._process = LoggedProcess(
            [str(self.artifact.binary)],
            log_path=self.log_path,
            ready=lambda: both_clusters_up(self.cfg.http),
            timeout=self.timeout,
            env=env,
            cwd=self.directory,
        )
        self._process.start_nowait()
        self.starts += 1

    def wait_ready(self) -> None:
        """Block until readiness is 200 with both clusters UP."""
        assert self._process is not None, "launch() first"
        self._process.wait_ready()

    def start(self) -> None:
        """Launch and wait."""
        self.launch()
        self.wait_ready()

    @property
    def pid(self) -> int | None:
        """Process id of the proxy, while running."""
        return self._process.pid if self._process is not None else None

    def stop(self, *, graceful: bool = True) -> None:
        """SIGTERM (the proxy drains and exits) or SIGKILL."""
        if self._process is not None:
            self._process.terminate(graceful=graceful)
            self._process.close()
            self._process = None

    def restart(self, *, extra: Mapping[str, str] | None = None) -> None:
        """Stop gracefully and start again (with new extra settings if given), waiting for readiness."""
        self.stop(graceful=True)
        if extra is not None:
            self.cfg = replace(self.cfg, extra=dict(extra))
        self.start()

    def status(self) -> dict[str, Any]:
        """Pid, number of starts, and whether the process runs (exit code if it died)."""
        proc = self._process.process if self._process is not None else None
        code = proc.poll() if proc is not None else None
        return {
            "pid": self.pid,
            "starts": self.starts,
            "running": proc is not None and code is None,
            "exit_code": code,
        }

    def parsed_configuration(self) -> Mapping[str, Any] | None:
        """The effective configuration the proxy logged at its latest start (passwords left out by it)."""
        matches = parsed_configurations(self.log_path)
        return matches[-1] if matches else None


def parsed_configurations(path: Path) -> list[dict[str, Any]]:
    """Every ``Parsed configuration`` a proxy logged in ``path``, oldest first (one per start)."""
    found: list[dict[str, Any]] = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return found
    for match in re.finditer(CONFIG_LINE, text):
        raw = match.group(1).replace('\\"', '"')
        try:
            found.append(json.loads(raw))
        except ValueError:
            continue
    return found
