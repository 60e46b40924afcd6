"""Every setting of the framework: its name, help text, parser, default and environment variable.

One table drives the command line, the ini file, the environment and the settings reference in the docs,
so the four cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from pytest_zdm.phases import parse_phase
from pytest_zdm.settings import values

#: Pinned artifacts: what ``provision`` fetches unless told otherwise.
CASSANDRA_VERSION = "5.0.6"
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
CONSISTENCY_LEVELS = ("LOCAL_QUORUM", "LOCAL_ONE", "QUORUM", "ONE", "ALL", "EACH_QUORUM")


@dataclass(frozen=True)
class Option:
    """How one setting is named, documented, parsed and defaulted."""

    name: str
    help: str
    parse: Callable[[str, str], Any]
    default: Callable[[Path], Any] | None = None
    env: str | None = None
    secret: bool = False
    is_flag: bool = False

    @property
    def cli(self) -> str:
        """The command-line spelling, e.g. ``--zdm-target``."""
        return "--" + self.name.replace("_", "-")

    @property
    def on_command_line(self) -> bool:
        """Whether the setting is a command-line and ini option.

        Secrets are not: a command line shows in ``ps`` and CI logs, an ini file gets committed. They come
        from their environment variable or from a file (the ``<name>_file`` setting).
        """
        return not self.secret


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
        "Apache Cassandra version fetched from Maven Central for the local target",
        values.text,
        lambda _: CASSANDRA_VERSION,
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
        "zdm_startup_timeout",
        "seconds allowed for the environment to become ready",
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
        values.count,
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
        "zdm_perf_operations",
        "operations of the performance suite's workload (run through the proxy and straight to origin)",
        values.count,
        lambda _: 2000,
    ),
    Option(
        "zdm_perf_rate",
        "operations per second of the performance suite's workload (fixed rate)",
        values.rate,
        lambda _: 200.0,
    ),
    Option(
        "zdm_budget_p99_overhead_ms",
        "performance budget: p99 write latency through the proxy minus straight to origin, in ms "
        "(the default suits the loopback local target; set your own for a real deployment)",
        values.rate,
        lambda _: 250.0,
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
# The kind and kube targets: where the clusters and the proxy are, and how to log in to them.
OPTIONS += (
    Option(
        "zdm_kube_context",
        "kubeconfig context of the kube target (default: the kubeconfig's current context)",
        values.text,
    ),
    Option(
        "zdm_kind_cluster",
        "name of the kind cluster of the kind target; its context is kind-<name>",
        values.k8s_name,
        lambda _: "kind",
    ),
    Option(
        "zdm_kubeconfig",
        "kubeconfig file of the kind and kube targets (default: KUBECONFIG, else ~/.kube/config)",
        values.existing_file,
    ),
    Option(
        "zdm_kubectl",
        "the kubectl that runs the port-forwards of the kind and kube targets",
        values.text,
        lambda _: "kubectl",
    ),
    Option(
        "zdm_kube_namespace",
        "namespace of the Cassandra services and the proxy (kind and kube targets)",
        values.k8s_name,
        lambda _: "default",
    ),
    Option(
        "zdm_kube_origin_service",
        "Service of the origin Cassandra cluster (kind and kube targets)",
        values.k8s_name,
        lambda _: "cassandra-origin",
    ),
    Option(
        "zdm_kube_target_service",
        "Service of the target Cassandra cluster (kind and kube targets)",
        values.k8s_name,
        lambda _: "cassandra-target",
    ),
    Option(
        "zdm_kube_cql_port",
        "CQL port of the origin and target Services (kind and kube targets)",
        values.port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_service",
        "Service of zdm-proxy (kind and kube targets)",
        values.k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_port",
        "CQL port of the zdm-proxy Service (kind and kube targets)",
        values.port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_metrics_port",
        "health/metrics port of the zdm-proxy Service (kind and kube targets)",
        values.port,
        lambda _: 14001,
    ),
    Option(
        "zdm_kube_proxy_selector",
        "label selector of the zdm-proxy pods, watched for restarts and CrashLoopBackOff (kind and kube "
        "targets)",
        values.selector,
        lambda _: "app=zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_deployment",
        "Deployment of zdm-proxy whose environment (env, envFrom ConfigMaps) the configuration lint reads "
        "(kind and kube targets)",
        values.k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_forward_timeout",
        "seconds kubectl port-forward may take to report its local port, and a probe of it to answer",
        values.seconds,
        lambda _: 30.0,
    ),
    Option(
        "zdm_origin_username",
        "username of the origin cluster (kind and kube targets; the local target uses its own)",
        values.text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_USERNAME",
    ),
    Option(
        "zdm_origin_password_file",
        "a file holding the origin cluster's password (e.g. a mounted Kubernetes Secret); the environment "
        "variable PYTEST_ZDM_ORIGIN_PASSWORD wins over it",
        values.existing_file,
        env="PYTEST_ZDM_ORIGIN_PASSWORD_FILE",
    ),
    Option(
        "zdm_origin_password",
        "password of the origin cluster (kind and kube targets): from this environment variable or "
        "zdm_origin_password_file only, never a command-line or ini value; never printed or written",
        values.any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_PASSWORD",
        secret=True,
    ),
    Option(
        "zdm_target_username",
        "username of the target cluster, also the login through the proxy (kind and kube targets)",
        values.text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_USERNAME",
    ),
    Option(
        "zdm_target_password_file",
        "a file holding the target cluster's password; the environment variable PYTEST_ZDM_TARGET_PASSWORD "
        "wins over it",
        values.existing_file,
        env="PYTEST_ZDM_TARGET_PASSWORD_FILE",
    ),
    Option(
        "zdm_target_password",
        "password of the target cluster, also the login through the proxy (kind and kube targets): from "
        "this environment variable or zdm_target_password_file only, never a command-line or ini value; "
        "never printed or written",
        values.any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_PASSWORD",
        secret=True,
    ),
)

OPTIONS_BY_NAME = {opt.name: opt for opt in OPTIONS}
