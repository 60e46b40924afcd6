"""A real zdm-proxy process, configured only with settings the proxy actually reads.

Its environment is built from scratch (:class:`~pytest_zdm.lab.proxy.ProxyConfig`; nothing inherited from
the caller's shell) and readiness is judged from the proxy's own ``/health/readiness`` endpoint, not from a
port being open, and only once the proxy itself holds its CQL and metrics ports (it stays up when it cannot
bind the metrics port, and another proxy's endpoint there would answer for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_zdm.lab.proxy import ProxyConfig, parsed_configurations
from pytest_zdm.provision import ProxyArtifact
from pytest_zdm.proxy.health import both_clusters_up
from pytest_zdm.runtime.logs import LogWatcher
from pytest_zdm.runtime.process import LoggedProcess


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
            listens_on={"CQL listen": self.cfg.listen_port, "metrics and health": self.cfg.metrics_port},
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
