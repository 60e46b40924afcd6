"""How the framework's own Cassandra nodes are configured, whether run as processes or in containers.

The ``local`` target runs them from the Maven jars, the ``docker`` target in locally built or official
images; both use the same ``cassandra.yaml``, JVM options and fast-boot properties from here, so the two
labs behave alike. Facts from Cassandra's own launch scripts and conf files (5.0 line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.model import Credentials

#: The superuser of a fresh cluster: the lab's clusters keep it (they exist only for the run).
SUPERUSER = Credentials("cassandra", "cassandra")
DATACENTER = "datacenter1"
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
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
auto_snapshot: false
"""


#: Every JVM option a node is launched with apart from heap and system properties (the docker target's
#: locally built image starts Cassandra with exactly these).
JVM_OPTIONS = (*_SERVER_OPTIONS, *_G1_OPTIONS, *_JAVA17_OPTIONS)
#: Console-only logging (a node's output is its log).
LOGBACK_XML = _LOGBACK
