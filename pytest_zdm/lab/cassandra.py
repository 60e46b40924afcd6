"""How the framework's own Cassandra nodes are configured, whether run as processes or in containers.

The ``local`` target runs them from the Maven jars, the ``docker`` target in locally built or official
images; both use the same ``cassandra.yaml``, JVM options and fast-boot properties from here, so the two
labs behave alike. Facts from Cassandra's own launch scripts and conf files, checked per line against
each release's jars (``Config`` fields, the property names its classes read):

- ``cassandra.yaml``: 4.1 renamed the keys with units (``commitlog_sync_period_in_ms`` became
  ``commitlog_sync_period: 10000ms``, ``commitlog_segment_size_in_mb`` became ``commitlog_segment_size``);
  4.0 knows only the old names, 4.1 and 5.0 the new ones (and the old as deprecated aliases).
- JVM options: ``conf/jvm11-server.options`` on Java 11 (4.0, 4.1, and 5.0 when run on 11),
  ``conf/jvm17-server.options`` on Java 17 (5.0 only). G1 on every line: 4.x's files still default to
  CMS on Java 11, which the lab does not use so that every version runs on the same collector.
- Fast-boot properties: every one below is read by 4.0.19, 4.1.10 and 5.0.6 alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.model import Credentials
from pytest_zdm.settings import CASSANDRA_VERSION

#: The superuser of a fresh cluster: the lab's clusters keep it (they exist only for the run).
SUPERUSER = Credentials("cassandra", "cassandra")
DATACENTER = "datacenter1"
READY_LINE = r"Startup complete"

#: conf/jvm11-server.options (4.0, 4.1, 5.0): module access the server needs on Java 11, which permits
#: illegal reflective access by default but warns; Netty's direct-buffer setting.
_JAVA11_OPTIONS = [
    "-XX:-UseBiasedLocking",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-exports", "java.base/jdk.internal.util=ALL-UNNAMED",
    "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]  # fmt: skip

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
    # Estimating a memtable row's heap overhead by building 100,000 rows costs ~1.8 s of a boot on two
    # cores; 100 rows is what Cassandra's own test JVMs use (build.xml) and sizes memtables the same way.
    "cassandra.memtable_row_overhead_computation_step": "100",
}

#: JVM options of a fast-boot node: the client compiler (C1) only. A lab node lives minutes, and on two
#: cores the server compiler spent ~4 s compiling start-up code while both nodes booted (median ready
#: 11.2 s -> 7.4 s, bench/boot_time.py). C1 code scans ~40% slower (bench/consistency_scan.py): long
#: big-table rehearsals on the lab run faster with ``--zdm-fast-boot=false`` (the JVM's tiered default).
FAST_BOOT_JVM_OPTIONS: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)

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
    #: The Cassandra release the node runs (decides the yaml's key names).
    version: str = CASSANDRA_VERSION


def line_of(version: str) -> str:
    """``4.1`` for ``4.1.10``."""
    return ".".join(version.split(".")[:2])


def _commitlog_keys(version: str) -> str:
    if line_of(version) == "4.0":
        return "commitlog_sync_period_in_ms: 10000\ncommitlog_segment_size_in_mb: 8\n"
    return "commitlog_sync_period: 10000ms\ncommitlog_segment_size: 8MiB\n"


def render_yaml(cfg: NodeConfig) -> str:
    """A minimal cassandra.yaml for a single node of ``cfg.version`` (the yaml ships only in the tarball)."""
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
{_commitlog_keys(cfg.version)}authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
auto_snapshot: false
"""


#: Every JVM option a node on Java 17 is launched with apart from heap and system properties.
JVM_OPTIONS = (*_SERVER_OPTIONS, *_G1_OPTIONS, *_JAVA17_OPTIONS)


def jvm_options(java_major: int) -> tuple[str, ...]:
    """Every JVM option a node on Java ``java_major`` (11 or 17) gets, apart from heap and properties.

    The docker target's locally built images start Cassandra with exactly these too.
    """
    if java_major == 11:
        return (*_SERVER_OPTIONS, *_G1_OPTIONS, *_JAVA11_OPTIONS)
    return JVM_OPTIONS


#: Console-only logging (a node's output is its log).
LOGBACK_XML = _LOGBACK
