"""One settings object for the whole framework.

Every setting exists under one name as an ini option (``zdm_target``), a command-line option
(``--zdm-target``) and, where it makes sense (secrets, CI paths), an environment variable. The help text
is defined once here and shared by both registrations and the README table (``zdm-verify settings``
prints it). Precedence: command line > environment variable > ini file > default.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from pytest_zdm.errors import SettingError
from pytest_zdm.phases import parse_phase

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
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingError(f"{name}: expected true or false, got {raw!r}")


def _parse_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingError(f"{name}: expected a positive number of seconds, got {raw!r}")
    return value


def _parse_heap(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if not value[:-1].isdigit() or value[-1] not in "MG":
        raise SettingError(f"{name}: expected a JVM heap size such as 256M or 1G, got {raw!r}")
    megabytes = int(value[:-1]) * (1024 if value[-1] == "G" else 1)
    if megabytes < 128:
        raise SettingError(f"{name}: expected at least 128M (Cassandra 5.0 does not boot below), got {raw!r}")
    return value


def _parse_path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingError(f"{name}: expected a path, got an empty value")
    return Path(os.path.expandvars(raw.strip())).expanduser()


def _parse_existing_file(name: str, raw: str) -> Path:
    path = _parse_path(name, raw)
    if not path.is_file():
        raise SettingError(f"{name}: expected the path of an existing file, got {raw!r}")
    return path


def _parse_existing_dir(name: str, raw: str) -> Path:
    path = _parse_path(name, raw)
    if not path.is_dir():
        raise SettingError(f"{name}: expected the path of an existing directory, got {raw!r}")
    return path


def _parse_source(name: str, raw: str) -> Path:
    path = _parse_path(name, raw)
    if path.is_dir() or (path.is_file() and path.name.endswith((".tar.gz", ".tgz"))):
        return path
    raise SettingError(f"{name}: expected a zdm-proxy checkout directory or a .tar.gz of one, got {raw!r}")


def _parse_sha256(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise SettingError(f"{name}: expected a sha256 digest (64 hex digits), got {raw!r}")
    return value


def _parse_paths(name: str, raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not paths:
        raise SettingError(f"{name}: expected comma-separated test files or directories, got {raw!r}")
    for path in paths:
        if not Path(path.split("::")[0]).expanduser().exists():
            raise SettingError(f"{name}: expected existing test files or directories, got {path!r}")
    return paths


def _parse_phase(name: str, raw: str) -> int:
    value = raw.strip()
    if value not in {"1", "2", "3", "4"}:
        raise SettingError(f"{name}: expected a ZDM phase the proxy serves, 1 to 4, got {raw!r}")
    return int(value)


def _parse_env_pairs(name: str, raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingError(f"{name}: expected comma-separated NAME=VALUE pairs, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _parse_rate(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(
            f"{name}: expected a number of rows per second (0 for no limit), got {raw!r}"
        ) from None
    if value < 0:
        raise SettingError(f"{name}: expected a number of rows per second (0 for no limit), got {raw!r}")
    return value


def _parse_count(name: str, raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingError(f"{name}: expected a positive whole number, got {raw!r}")
    return int(raw)


def _parse_share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise SettingError(f"{name}: expected a share between 0 and 1, got {raw!r}")
    return value


def _parse_tables(name: str, raw: str) -> tuple[str, ...]:
    tables = tuple(t.strip() for t in raw.split(",") if t.strip())
    for table in tables:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", table):
            raise SettingError(f"{name}: expected comma-separated keyspace.table names, got {table!r}")
    return tables


def _choice(choices: Iterable[str], *, upper: bool = False) -> Callable[[str, str], str]:
    allowed = tuple(choices)

    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip()
        if value not in allowed:
            raise SettingError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _parse_image(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", value):
        raise SettingError(f"{name}: expected a container image reference such as cassandra:5.0, got {raw!r}")
    return value


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingError(f"{name}: expected a non-empty value")
    return raw.strip()


def _any_text(name: str, raw: str) -> str:
    """A value taken as given (an empty password is a real value for clusters without authentication)."""
    del name
    return raw


def _parse_port(name: str, raw: str) -> int:
    value = raw.strip()
    if not value.isdigit() or not 0 < int(value) <= 65535:
        raise SettingError(f"{name}: expected a TCP port number 1..65535, got {raw!r}")
    return int(value)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def _parse_k8s_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not _DNS_LABEL.fullmatch(value):
        raise SettingError(
            f"{name}: expected a Kubernetes name (lower-case letters, digits and '-', at most 63), "
            f"got {raw!r}"
        )
    return value


def _parse_selector(name: str, raw: str) -> str:
    """An equality-based label selector, ``key=value[,key=value]``, the form Services use."""
    parts = [part.strip() for part in raw.split(",")]
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key.strip()) or not _LABEL_VALUE.fullmatch(value.strip()):
            raise SettingError(f"{name}: expected a label selector such as app=zdm-proxy, got {raw!r}")
    return ",".join(f"{k.strip()}={v.strip()}" for k, _, v in (part.partition("=") for part in parts))


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


def _default_cache(rootdir: Path) -> Path:
    del rootdir
    return Path(platformdirs.user_cache_dir("pytest-zdm"))


OPTIONS: tuple[Option, ...] = (
    Option(
        "zdm_target",
        "where the ZDM environment comes from: " + ", ".join(TARGET_NAMES),
        _choice(TARGET_NAMES),
        lambda _: "local",
    ),
    Option(
        "zdm_attach",
        "run directory of an environment left running (zdm-verify up, --zdm-keep): use it, never stop it",
        _parse_existing_dir,
        env="PYTEST_ZDM_ATTACH",
    ),
    Option(
        "zdm_static_config",
        "the static target's settings file: fixed origin, target and proxy endpoints (contact points or an "
        "Astra secure connect bundle); secrets only through the environment variables it names",
        _parse_path,
        lambda root: root / "zdm.toml",
        env="PYTEST_ZDM_STATIC_CONFIG",
    ),
    Option(
        "zdm_phase",
        "ZDM phase the proxy is configured for now (1 deploy proxy, 2 migrate data, 3 async dual reads, "
        "4 reads on target); the connection suite checks the proxy's routing against it",
        _parse_phase,
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
        _parse_path,
        lambda root: root / "reports" / "gate.json",
    ),
    Option(
        "zdm_gate_suites",
        "comma-separated paths whose checks the gate requires (collected on their own, so a required check "
        "that was deselected or not collected is noticed); default: the rootdir's suites directory, else "
        "the paths given to pytest",
        _parse_paths,
        lambda root: (str(root / "suites"),),
    ),
    Option(
        "zdm_allow_destructive",
        "run destructive checks (stop/pause nodes, restart the proxy) even on targets that are not "
        "disposable",
        _parse_bool,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_keep",
        "leave the environment running after the run and print how to reach and stop it",
        _parse_bool,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_cache_dir",
        "where provisioned artifacts (Cassandra jars, zdm-proxy binary) are cached",
        _parse_path,
        _default_cache,
        env="PYTEST_ZDM_CACHE_DIR",
    ),
    Option(
        "zdm_run_dir",
        "where each run's directory (node and proxy logs, state) is created",
        _parse_path,
        lambda root: root / "reports" / "runs",
        env="PYTEST_ZDM_RUN_DIR",
    ),
    Option(
        "zdm_cassandra_version",
        "Apache Cassandra version fetched from Maven Central for the local target",
        _text,
        lambda _: CASSANDRA_VERSION,
    ),
    Option(
        "zdm_cassandra_home",
        "an existing Cassandra installation (its lib/*.jar) to use instead of fetching jars",
        _parse_existing_dir,
        env="PYTEST_ZDM_CASSANDRA_HOME",
    ),
    Option(
        "zdm_cassandra_classpath",
        "a directory of Cassandra jars to use instead of fetching them",
        _parse_existing_dir,
        env="PYTEST_ZDM_CASSANDRA_CLASSPATH",
    ),
    Option(
        "zdm_proxy_commit",
        "zdm-proxy commit installed with go install for the local target",
        _text,
        lambda _: ZDM_PROXY_COMMIT,
    ),
    Option(
        "zdm_proxy_binary",
        "an existing zdm-proxy binary to use instead of building one",
        _parse_existing_file,
        env="PYTEST_ZDM_PROXY_BINARY",
    ),
    Option(
        "zdm_proxy_source",
        "a zdm-proxy source to build with go build when go install cannot fetch zdm_proxy_commit (some Go "
        "module proxies refuse the module): a git checkout at that commit or a .tar.gz made by git archive",
        _parse_source,
        env="PYTEST_ZDM_PROXY_SOURCE",
    ),
    Option(
        "zdm_proxy_source_sha256",
        "expected sha256 of the zdm_proxy_source archive, checked before it is unpacked",
        _parse_sha256,
        env="PYTEST_ZDM_PROXY_SOURCE_SHA256",
    ),
    Option(
        "zdm_cassandra_heap",
        "JVM heap of each Cassandra node (local and docker targets)",
        _parse_heap,
        lambda _: "256M",
    ),
    Option(
        "zdm_fast_boot",
        "start Cassandra nodes (local and docker) with test fast-boot properties (false: Cassandra's stock "
        "start-up)",
        _parse_bool,
        lambda _: True,
        is_flag=True,
    ),
    Option(
        "zdm_startup_timeout",
        "seconds allowed for the environment to become ready",
        _parse_float,
        lambda _: 240.0,
    ),
    Option(
        "zdm_protocol_version",
        "CQL protocol version of the framework's driver sessions (3, 4 or 5); v5 through zdm-proxy 2.4 "
        "fails in the Python driver with 'CRC mismatch on header'",
        _choice(("3", "4", "5")),
        lambda _: "4",
    ),
    Option(
        "zdm_primary_cluster",
        "ZDM_PRIMARY_CLUSTER the proxy is started with (local and docker targets)",
        _choice(PRIMARY_CLUSTERS, upper=True),
        lambda _: "ORIGIN",
    ),
    Option(
        "zdm_read_mode",
        "ZDM_READ_MODE the proxy is started with (local and docker targets)",
        _choice(READ_MODES, upper=True),
        lambda _: "PRIMARY_ONLY",
    ),
    Option(
        "zdm_proxy_env",
        "extra ZDM_* settings for the proxy (local and docker targets), comma-separated NAME=VALUE (e.g. to "
        "reproduce a deployment's configuration; the configuration lint reports names the proxy ignores)",
        _parse_env_pairs,
        lambda _: {},
    ),
    Option(
        "zdm_docker_cassandra_image",
        "image of the docker target's origin and target Cassandra containers",
        _parse_image,
        lambda _: DOCKER_CASSANDRA_IMAGE,
        env="PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE",
    ),
    Option(
        "zdm_docker_proxy_image",
        "image of the docker target's zdm-proxy container",
        _parse_image,
        lambda _: DOCKER_PROXY_IMAGE,
        env="PYTEST_ZDM_DOCKER_PROXY_IMAGE",
    ),
    Option(
        "zdm_docker_network",
        "networking of the docker target's containers: bridge (a network of their own, ports published on "
        "127.0.0.1) or host (the host's network, each container on its own free loopback ports)",
        _choice(DOCKER_NETWORKS),
        lambda _: "bridge",
        env="PYTEST_ZDM_DOCKER_NETWORK",
    ),
    Option(
        "zdm_docker_build_images",
        "build the docker target's images on this machine from the local target's artifacts (Cassandra "
        "jars, zdm-proxy binary) instead of pulling the image settings; for machines that reach no "
        "container registry (the first build needs root and debootstrap)",
        _parse_bool,
        lambda _: False,
        env="PYTEST_ZDM_DOCKER_BUILD_IMAGES",
        is_flag=True,
    ),
    Option(
        "zdm_compare_tables",
        "your tables (keyspace.table, comma-separated) whose data must agree on both clusters; read only",
        _parse_tables,
        lambda _: (),
    ),
    Option(
        "zdm_compare_writetime",
        "also compare WRITETIME of your tables' cells (false when data was migrated without its write times)",
        _parse_bool,
        lambda _: False,
        is_flag=True,
    ),
    Option(
        "zdm_compare_rate",
        "at most this many rows per second read from each cluster when comparing your tables (0: no limit)",
        _parse_rate,
        lambda _: 0.0,
    ),
    Option(
        "zdm_perf_operations",
        "operations of the performance suite's workload (run through the proxy and straight to origin)",
        _parse_count,
        lambda _: 2000,
    ),
    Option(
        "zdm_perf_rate",
        "operations per second of the performance suite's workload (fixed rate)",
        _parse_rate,
        lambda _: 200.0,
    ),
    Option(
        "zdm_budget_p99_overhead_ms",
        "performance budget: p99 write latency through the proxy minus straight to origin, in ms "
        "(the default suits the loopback local target; set your own for a real deployment)",
        _parse_rate,
        lambda _: 250.0,
    ),
    Option(
        "zdm_budget_error_rate",
        "performance budget: largest share of the workload's requests allowed to fail (0 to 1)",
        _parse_share,
        lambda _: 0.0,
    ),
    Option(
        "zdm_request_timeout",
        "seconds the framework's driver sessions wait for a request before giving up",
        _parse_float,
        lambda _: 12.0,
    ),
)
# The kind and kube targets: where the clusters and the proxy are, and how to log in to them.
OPTIONS += (
    Option(
        "zdm_kube_context",
        "kubeconfig context of the kube target (default: the kubeconfig's current context)",
        _text,
    ),
    Option(
        "zdm_kind_cluster",
        "name of the kind cluster of the kind target; its context is kind-<name>",
        _parse_k8s_name,
        lambda _: "kind",
    ),
    Option(
        "zdm_kubeconfig",
        "kubeconfig file of the kind and kube targets (default: KUBECONFIG, else ~/.kube/config)",
        _parse_existing_file,
    ),
    Option(
        "zdm_kubectl",
        "the kubectl that runs the port-forwards of the kind and kube targets",
        _text,
        lambda _: "kubectl",
    ),
    Option(
        "zdm_kube_namespace",
        "namespace of the Cassandra services and the proxy (kind and kube targets)",
        _parse_k8s_name,
        lambda _: "default",
    ),
    Option(
        "zdm_kube_origin_service",
        "Service of the origin Cassandra cluster (kind and kube targets)",
        _parse_k8s_name,
        lambda _: "cassandra-origin",
    ),
    Option(
        "zdm_kube_target_service",
        "Service of the target Cassandra cluster (kind and kube targets)",
        _parse_k8s_name,
        lambda _: "cassandra-target",
    ),
    Option(
        "zdm_kube_cql_port",
        "CQL port of the origin and target Services (kind and kube targets)",
        _parse_port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_service",
        "Service of zdm-proxy (kind and kube targets)",
        _parse_k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_port",
        "CQL port of the zdm-proxy Service (kind and kube targets)",
        _parse_port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_metrics_port",
        "health/metrics port of the zdm-proxy Service (kind and kube targets)",
        _parse_port,
        lambda _: 14001,
    ),
    Option(
        "zdm_kube_proxy_selector",
        "label selector of the zdm-proxy pods, watched for restarts and CrashLoopBackOff (kind and kube "
        "targets)",
        _parse_selector,
        lambda _: "app=zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_deployment",
        "Deployment of zdm-proxy whose environment (env, envFrom ConfigMaps) the configuration lint reads "
        "(kind and kube targets)",
        _parse_k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_forward_timeout",
        "seconds kubectl port-forward may take to report its local port, and a probe of it to answer",
        _parse_float,
        lambda _: 30.0,
    ),
    Option(
        "zdm_origin_username",
        "username of the origin cluster (kind and kube targets; the local target uses its own)",
        _text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_USERNAME",
    ),
    Option(
        "zdm_origin_password",
        "password of the origin cluster (kind and kube targets); never printed or written to a report",
        _any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_PASSWORD",
        secret=True,
    ),
    Option(
        "zdm_target_username",
        "username of the target cluster, also the login through the proxy (kind and kube targets)",
        _text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_USERNAME",
    ),
    Option(
        "zdm_target_password",
        "password of the target cluster, also the login through the proxy (kind and kube targets); "
        "never printed or written to a report",
        _any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_PASSWORD",
        secret=True,
    ),
)
OPTIONS_BY_NAME = {opt.name: opt for opt in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run (see ``OPTIONS`` for what each means)."""

    zdm_target: str
    zdm_attach: Path | None
    zdm_static_config: Path
    zdm_phase: int | None
    zdm_gate: int | None
    zdm_gate_file: Path
    zdm_gate_suites: tuple[str, ...]
    zdm_allow_destructive: bool
    zdm_keep: bool
    zdm_cache_dir: Path
    zdm_run_dir: Path
    zdm_cassandra_version: str
    zdm_cassandra_home: Path | None
    zdm_cassandra_classpath: Path | None
    zdm_proxy_commit: str
    zdm_proxy_binary: Path | None
    zdm_proxy_source: Path | None
    zdm_proxy_source_sha256: str | None
    zdm_cassandra_heap: str
    zdm_fast_boot: bool
    zdm_startup_timeout: float
    zdm_protocol_version: str
    zdm_primary_cluster: str
    zdm_read_mode: str
    zdm_proxy_env: Mapping[str, str]
    zdm_docker_cassandra_image: str
    zdm_docker_proxy_image: str
    zdm_docker_network: str
    zdm_docker_build_images: bool
    zdm_compare_tables: tuple[str, ...]
    zdm_compare_writetime: bool
    zdm_compare_rate: float
    zdm_perf_operations: int
    zdm_perf_rate: float
    zdm_budget_p99_overhead_ms: float
    zdm_budget_error_rate: float
    zdm_request_timeout: float
    zdm_kube_context: str | None
    zdm_kind_cluster: str
    zdm_kubeconfig: Path | None
    zdm_kubectl: str
    zdm_kube_namespace: str
    zdm_kube_origin_service: str
    zdm_kube_target_service: str
    zdm_kube_cql_port: int
    zdm_kube_proxy_service: str
    zdm_kube_proxy_port: int
    zdm_kube_proxy_metrics_port: int
    zdm_kube_proxy_selector: str
    zdm_kube_proxy_deployment: str
    zdm_kube_forward_timeout: float
    zdm_origin_username: str
    zdm_origin_password: str = field(repr=False)
    zdm_target_username: str
    zdm_target_password: str = field(repr=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe copy for handing to the supervisor process (secrets included: never log it)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """Inverse of :meth:`to_json`."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "sources":
                continue
            value = data.get(f.name)
            if isinstance(value, str) and "Path" in str(f.type):
                value = Path(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


def resolve(
    *,
    cli: Mapping[str, str | None],
    ini: Mapping[str, str | None],
    environ: Mapping[str, str],
    rootdir: Path,
) -> Settings:
    """Build :class:`Settings` from raw strings: CLI > environment > ini > default.

    ``is not None`` (never ``or``) decides whether a layer has a value, so an explicit ``false`` or an
    empty string on the command line still overrides the ini file. An empty environment variable counts
    as unset, as shells and CI systems usually mean it.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        raw: str | None = None
        source = "default"
        if cli.get(opt.name) is not None:
            raw, source = cli[opt.name], "command line"
        elif opt.env and environ.get(opt.env):  # an empty variable counts as unset
            raw, source = environ[opt.env], f"environment {opt.env}"
        elif ini.get(opt.name) is not None:
            raw, source = ini[opt.name], "ini"
        if raw is None:
            values[opt.name] = opt.default(rootdir) if opt.default else None
        else:
            values[opt.name] = opt.parse(opt.name, raw)
        sources[opt.name] = source
    if values["zdm_cassandra_home"] and values["zdm_cassandra_classpath"]:
        raise SettingError(
            "zdm_cassandra_home, zdm_cassandra_classpath: expected at most one of them, got both"
        )
    if values["zdm_proxy_source_sha256"] and not (
        values["zdm_proxy_source"] and values["zdm_proxy_source"].is_file()
    ):
        raise SettingError(
            "zdm_proxy_source_sha256: expected together with a .tar.gz zdm_proxy_source (a checkout is "
            "identified by its commit)"
        )
    if values["zdm_docker_build_images"]:
        chosen = [
            n for n in ("zdm_docker_cassandra_image", "zdm_docker_proxy_image") if sources[n] != "default"
        ]
        if chosen:
            raise SettingError(
                f"zdm_docker_build_images, {', '.join(chosen)}: expected either locally built images or "
                "image names, got both"
            )
    for name in ("zdm_run_dir", "zdm_static_config"):  # relative paths are relative to the rootdir
        if not values[name].is_absolute():
            values[name] = rootdir / values[name]
    return Settings(**values, sources=sources)


def readme_table() -> str:
    """The README's settings table, generated from ``OPTIONS`` so the two cannot drift apart."""
    rows = ["| ini | command line | environment | default | what it sets |", "|---|---|---|---|---|"]
    for opt in OPTIONS:
        default = opt.default(Path("<rootdir>")) if opt.default else ""
        if opt.name == "zdm_cache_dir":
            default = "user cache dir/pytest-zdm"
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if isinstance(default, tuple):
            shown = ",".join(default)
        rows.append(f"| `{opt.name}` | `{opt.cli}` | {opt.env or ''} | {shown} | {opt.help} |")
    return "\n".join(rows)
