"""One real single-node Apache Cassandra cluster run from its Maven jars, on the Java of its release.

The node gets its own cluster name, directories and loopback ports, PasswordAuthenticator with the
``cassandra``/``cassandra`` superuser, a small fixed heap, and (unless ``fast_boot`` is off) the system
properties Cassandra's own test tooling uses to skip start-up waits that only matter for multi-node rings.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pytest_zdm.lab.cassandra import (
    FAST_BOOT_JVM_OPTIONS,
    FAST_BOOT_PROPERTIES,
    LOGBACK_XML,
    READY_LINE,
    NodeConfig,
    jvm_options,
    render_yaml,
)
from pytest_zdm.provision import CassandraArtifact
from pytest_zdm.runtime.logs import LogWatcher
from pytest_zdm.runtime.process import LoggedProcess
from pytest_zdm.targets.local import bootcache
from pytest_zdm.targets.local.bootcache import BootCache


class CassandraNode:
    """Lifecycle of one node: write its config, start, wait for ready, stop, pause."""

    def __init__(
        self,
        cfg: NodeConfig,
        artifact: CassandraArtifact,
        *,
        timeout: float,
        boot_cache: BootCache | None = None,
        jvm_extra: Sequence[str] = (),
    ) -> None:
        self.cfg = replace(cfg, version=artifact.version)  # the yaml follows the jars actually run
        self.artifact = artifact
        self.timeout = timeout
        self.log_path = cfg.directory / "logs" / "system.log"
        self.log = LogWatcher(self.log_path)
        self._process: LoggedProcess | None = None
        #: AppCDS archive and template data directory (fast boot only: stock start-up uses neither).
        self.boot_cache = boot_cache if cfg.fast_boot else None
        self.jvm_extra = tuple(jvm_extra)
        self.seeded = False
        self._java = artifact.java_path
        self._java_major = artifact.java.major if artifact.java is not None else 17

    @property
    def conf_dir(self) -> Path:
        """Where cassandra.yaml and logback.xml are written."""
        return self.cfg.directory / "conf"

    def write_config(self) -> None:
        """Write cassandra.yaml and logback.xml (idempotent)."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "cassandra.yaml").write_text(render_yaml(self.cfg))
        (self.conf_dir / "logback.xml").write_text(LOGBACK_XML)

    def command(self) -> list[str]:
        """The java command line (Cassandra's launch script, reduced to what a test node needs)."""
        props = {
            "cassandra.config": (self.conf_dir / "cassandra.yaml").as_uri(),
            "cassandra.storagedir": str(self.cfg.directory / "data"),
            "cassandra.logdir": str(self.cfg.directory / "logs"),
            "logback.configurationFile": str(self.conf_dir / "logback.xml"),
            "cassandra-foreground": "yes",
            "pytest_zdm.node": f"{self.cfg.name}@{self.cfg.directory}",
        }
        if self.cfg.fast_boot:
            props.update(FAST_BOOT_PROPERTIES)
        archive = self.boot_cache.archive if self.boot_cache is not None else None
        sharing = [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"] if archive is not None else []
        return [
            self._java,
            f"-Xms{self.cfg.heap}",
            f"-Xmx{self.cfg.heap}",
            *jvm_options(self._java_major),
            *(FAST_BOOT_JVM_OPTIONS if self.cfg.fast_boot else ()),
            *sharing,
            *self.jvm_extra,
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            # the jars first: the class-data archive was dumped for exactly that class path (a prefix)
            f"{self.artifact.classpath}:{self.conf_dir}",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def launch(self) -> None:
        """Start the JVM without waiting (so two nodes can boot side by side).

        A node whose data directory is empty starts from the template of its cluster name when the boot
        cache has one (system keyspaces, auth tables and the superuser already there).
        """
        self.write_config()
        self.seeded = bootcache.seed_data(self.cfg, self.boot_cache) or self.seeded
        since = self.log.mark()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.cfg.directory), "LANG": "C.UTF-8"}
        self._process = LoggedProcess(
            self.command(),
            log_path=self.log_path,
            ready=lambda: self.log.search(READY_LINE, since) is not None,
            timeout=self.timeout,
            env=env,
            cwd=self.cfg.directory,
            listens_on={"CQL native transport": self.cfg.native_port, "storage": self.cfg.storage_port},
        )
        self._process.start_nowait()

    def wait_ready(self) -> None:
        """Block until the log says ``Startup complete`` (mirakuru raises on timeout or early exit)."""
        assert self._process is not None, "launch() first"
        self._process.wait_ready()

    @property
    def pid(self) -> int | None:
        """Process id of the JVM, while running."""
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        """True while the JVM process exists."""
        return self._process is not None and self._process.running()

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the JVM: SIGTERM and wait (keeps data consistent for a restart), or SIGKILL."""
        if self._process is not None:
            self._process.terminate(graceful=graceful)
            self._process.close()
            self._process = None

    def pause(self) -> None:
        """Freeze the JVM with SIGSTOP (a node that hangs without closing its sockets)."""
        if self._process is not None:
            self._process.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused JVM."""
        if self._process is not None:
            self._process.signal(signal.SIGCONT)

    def remove_data(self) -> None:
        """Delete this node's data (only ever the framework's own directory)."""
        shutil.rmtree(self.cfg.directory / "data", ignore_errors=True)
