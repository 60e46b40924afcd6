"""One real single-node Apache Cassandra cluster run from its Maven jars.

The node gets its own cluster name, directories and loopback ports, PasswordAuthenticator with the
``cassandra``/``cassandra`` superuser, a small fixed heap, and (unless ``fast_boot`` is off) the system
properties Cassandra's own test tooling uses to skip start-up waits that only matter for multi-node rings.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.local.process import LoggedProcess, LogWatcher
from pytest_zdm.provision import CassandraArtifact, require_tool

READY_LINE = r"Startup complete"

#: conf/jvm17-server.options of Cassandra 5.0 (module access the server needs on Java 17).
_JAVA17_OPTIONS = [
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]  # fmt: skip

#: conf/jvm-server.options (minus AlwaysPreTouch, which only slows a test boot).
_SERVER_OPTIONS = [
    "-ea",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-Xss256k",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
]

_G1_OPTIONS = [
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
]

#: System properties that skip waits meant for multi-node rings (see cassandra-from-jars facts).
FAST_BOOT_PROPERTIES = {
    "cassandra.skip_wait_for_gossip_to_settle": "0",
    "cassandra.ring_delay_ms": "100",
    "cassandra.superuser_setup_delay_ms": "0",
    "cassandra.auth_bcrypt_gensalt_log2_rounds": "4",
    "cassandra.unsafesystem": "true",
    "cassandra.skip_sync": "true",
    "cassandra.load_ring_state": "false",
}

_LOGBACK = """<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


@dataclass(frozen=True)
class NodeConfig:
    """Where and how one node runs."""

    name: str
    cluster_name: str
    host: str
    storage_port: int
    native_port: int
    directory: Path
    heap: str
    fast_boot: bool
    datacenter: str = "datacenter1"


def render_yaml(cfg: NodeConfig) -> str:
    """A minimal cassandra.yaml for a single node (Cassandra ships its yaml only in the tarball)."""
    data = cfg.directory / "data"
    tokens = "num_tokens: 1\ninitial_token: 0\n" if cfg.fast_boot else "num_tokens: 16\n"
    return f"""cluster_name: '{cfg.cluster_name}'
{tokens}partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{cfg.host}:{cfg.storage_port}"
listen_address: {cfg.host}
rpc_address: {cfg.host}
storage_port: {cfg.storage_port}
native_transport_port: {cfg.native_port}
start_native_transport: true
data_file_directories:
  - {data}/data
commitlog_directory: {data}/commitlog
saved_caches_directory: {data}/saved_caches
hints_directory: {data}/hints
cdc_raw_directory: {data}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
authenticator: PasswordAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
auto_snapshot: false
"""


class CassandraNode:
    """Lifecycle of one node: write its config, start, wait for ready, stop, pause."""

    def __init__(self, cfg: NodeConfig, artifact: CassandraArtifact, *, timeout: float) -> None:
        self.cfg = cfg
        self.artifact = artifact
        self.timeout = timeout
        self.log_path = cfg.directory / "logs" / "system.log"
        self.log = LogWatcher(self.log_path)
        self._process: LoggedProcess | None = None
        self._java = require_tool("java", "the local target runs Cassandra on Java 11 or 17")

    @property
    def conf_dir(self) -> Path:
        """Where cassandra.yaml and logback.xml are written."""
        return self.cfg.directory / "conf"

    def write_config(self) -> None:
        """Write cassandra.yaml and logback.xml (idempotent)."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "cassandra.yaml").write_text(render_yaml(self.cfg))
        (self.conf_dir / "logback.xml").write_text(_LOGBACK)

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
        return [
            self._java,
            f"-Xms{self.cfg.heap}",
            f"-Xmx{self.cfg.heap}",
            *_SERVER_OPTIONS,
            *_G1_OPTIONS,
            *_JAVA17_OPTIONS,
            *(f"-D{k}={v}" for k, v in props.items()),
            "-cp",
            f"{self.conf_dir}:{self.artifact.classpath}",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def launch(self) -> None:
        """Start the JVM without waiting (so two nodes can boot side by side)."""
        self.write_config()
        since = self.log.mark()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.cfg.directory), "LANG": "C.UTF-8"}
        self._process = LoggedProcess(
            self.command(),
            log_path=self.log_path,
            ready=lambda: self.log.search(READY_LINE, since) is not None,
            timeout=self.timeout,
            env=env,
            cwd=self.cfg.directory,
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


#: Every JVM option a node is launched with apart from heap and system properties (the docker target's
#: locally built image starts Cassandra with exactly these).
JVM_OPTIONS = (*_SERVER_OPTIONS, *_G1_OPTIONS, *_JAVA17_OPTIONS)
#: Console-only logging (a node's output is its log).
LOGBACK_XML = _LOGBACK
