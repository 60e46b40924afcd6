"""The catalogue of zdm-proxy's real settings, from its ``proxy/pkg/config/config.go`` (zdm-proxy 2.4).

Each ``Config`` field with its envconfig name, YAML key, Go type, default and whether it is required or
secret; the names that do not exist but are used as if they did (``ZDM_PHASE``...), the 1.x names, and the
routing each migration phase expects. :class:`Finding` is one problem found in a configuration.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

#: Value of a setting that is set but whose value this lint cannot see (Kubernetes ``valueFrom``,
#: ``$(VAR)`` references, Secret data, passwords absent from the proxy's startup log). Required-setting
#: checks count it as set; value checks skip it.
UNKNOWN_VALUE: Final = "<set; value not visible>"

#: Prefix of pseudo-setting names that carry unknown keys of a proxy YAML config (``yaml:phase``).
YAML_KEY_PREFIX: Final = "yaml:"

SEVERITIES: Final = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem in a zdm-proxy configuration, printable as one line."""

    #: Env name of the setting (``ZDM_READ_MODE``), even for YAML input; ``yaml:<key>`` for an unknown
    #: YAML key; ``phase`` or ``--config`` for problems that belong to no single setting.
    setting: str
    #: What is wrong and what was expected, one line, without secret values.
    problem: str
    #: ``error``: the proxy refuses to start or does something else than intended; ``warning``: suspicious.
    severity: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}"


#: Findings shown at most (a hostile 50 MB env file made 1.5 million lines); the rest are counted.
MAX_SHOWN_FINDINGS = 50


def summarize(findings: list[Finding], limit: int = MAX_SHOWN_FINDINGS) -> list[str]:
    """One line per kind of finding, at most ``limit`` lines, the rest counted (never one line each).

    Findings that differ only in numbers (line numbers, counts) are one kind: the first is shown with how
    many more there are like it.
    """
    kinds: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        key = (finding.setting, finding.severity, re.sub(r"[0-9]+", "#", finding.problem))
        kinds.setdefault(key, []).append(finding)
    lines = []
    for same in kinds.values():
        more = f" (and {len(same) - 1:,} more like it)" if len(same) > 1 else ""
        lines.append(f"{same[0]}{more}")
    if len(lines) > limit:
        hidden = lines[limit:]
        lines = [*lines[:limit], f"... {len(hidden):,} more kinds of findings not shown"]
    return lines


@dataclass(frozen=True)
class SettingSpec:
    """One field of zdm-proxy's ``Config`` struct, as the environment and YAML loaders see it."""

    name: str
    """Environment variable (``ZDM_`` + envconfig split words, upper-case)."""
    field: str
    """Go field name: the key in the ``Parsed configuration`` JSON the proxy logs."""
    yaml_key: str
    """Key in the ``--config`` YAML file (the ``yaml`` tag)."""
    go_type: str
    """``string``, ``int``, ``bool`` or ``float64``: decides how both loaders parse the value."""
    kind: str
    """What the value means: ``bool``, ``int``, ``float``, ``enum``, ``list`` or ``string``."""
    default: str | None
    """The ``default`` tag; None when there is none (unset means "", 0 or false)."""
    allowed: tuple[str, ...] = ()
    """Enum values, or list item values, as the source spells them (matching is case-insensitive)."""
    required: bool = False
    """``required:"true"``: envconfig refuses to start when the variable is absent (an empty value passes)."""
    secret: bool = False
    """``json:"-"``: a password, never printed by the proxy and never by this lint."""


_BUCKETS_DEFAULT: Final = "1, 4, 7, 10, 25, 40, 60, 80, 100, 150, 250, 500, 1000, 2500, 5000, 10000, 15000"

# Config struct of zdm-proxy 2.4 (proxy/pkg/config/config.go), in source order:
# (Go field, Go type, default tag or None, required, json:"-").
_STRUCT: Final[tuple[tuple[str, str, str | None, bool, bool], ...]] = (
    ("PrimaryCluster", "string", "ORIGIN", False, False),
    ("ReadMode", "string", "PRIMARY_ONLY", False, False),
    ("ReplaceCqlFunctions", "bool", "false", False, False),
    ("AsyncHandshakeTimeoutMs", "int", "4000", False, False),
    ("LogLevel", "string", "INFO", False, False),
    ("ControlConnMaxProtocolVersion", "string", "DseV2", False, False),
    ("BlockedProtocolVersions", "string", "", False, False),
    ("TracingEnabled", "bool", "false", False, False),
    ("TracingRateLimit", "int", "0", False, False),
    ("TracingRequestIdKey", "string", "request-id", False, False),
    ("ProxyTopologyIndex", "int", "0", False, False),
    ("ProxyTopologyAddresses", "string", None, False, False),
    ("ProxyTopologyNumTokens", "int", "8", False, False),
    ("OriginContactPoints", "string", None, False, False),
    ("OriginPort", "int", "9042", False, False),
    ("OriginSecureConnectBundlePath", "string", None, False, False),
    ("OriginLocalDatacenter", "string", None, False, False),
    ("OriginUsername", "string", None, True, False),
    ("OriginPassword", "string", None, True, True),
    ("OriginConnectionTimeoutMs", "int", "30000", False, False),
    ("OriginTlsServerCaPath", "string", None, False, False),
    ("OriginTlsClientCertPath", "string", None, False, False),
    ("OriginTlsClientKeyPath", "string", None, False, False),
    ("TargetContactPoints", "string", None, False, False),
    ("TargetPort", "int", "9042", False, False),
    ("TargetSecureConnectBundlePath", "string", None, False, False),
    ("TargetLocalDatacenter", "string", None, False, False),
    ("TargetUsername", "string", None, True, False),
    ("TargetPassword", "string", None, True, True),
    ("TargetConnectionTimeoutMs", "int", "30000", False, False),
    ("TargetTlsServerCaPath", "string", None, False, False),
    ("TargetTlsClientCertPath", "string", None, False, False),
    ("TargetTlsClientKeyPath", "string", None, False, False),
    ("ProxyListenAddress", "string", "localhost", False, False),
    ("ProxyListenPort", "int", "14002", False, False),
    ("ProxyRequestTimeoutMs", "int", "10000", False, False),
    ("ProxyMaxClientConnections", "int", "1000", False, False),
    ("ProxyMaxStreamIds", "int", "2048", False, False),
    ("ProxyTlsCaPath", "string", None, False, False),
    ("ProxyTlsCertPath", "string", None, False, False),
    ("ProxyTlsKeyPath", "string", None, False, False),
    ("ProxyTlsRequireClientAuth", "bool", None, False, False),
    ("MetricsEnabled", "bool", "true", False, False),
    ("MetricsAddress", "string", "localhost", False, False),
    ("MetricsPort", "int", "14001", False, False),
    ("MetricsPrefix", "string", "zdm", False, False),
    ("MetricsOriginLatencyBucketsMs", "string", _BUCKETS_DEFAULT, False, False),
    ("MetricsTargetLatencyBucketsMs", "string", _BUCKETS_DEFAULT, False, False),
    ("MetricsAsyncReadLatencyBucketsMs", "string", _BUCKETS_DEFAULT, False, False),
    ("HeartbeatIntervalMs", "int", "30000", False, False),
    ("HeartbeatRetryIntervalMinMs", "int", "250", False, False),
    ("HeartbeatRetryIntervalMaxMs", "int", "30000", False, False),
    ("HeartbeatRetryBackoffFactor", "float64", "2", False, False),
    ("HeartbeatFailureThreshold", "int", "1", False, False),
    ("SystemQueriesMode", "string", "ORIGIN", False, False),
    ("ForwardClientCredentialsToOrigin", "bool", "false", False, False),
    ("OriginEnableHostAssignment", "bool", "true", False, False),
    ("TargetEnableHostAssignment", "bool", "true", False, False),
    ("RequestWriteQueueSizeFrames", "int", "128", False, False),
    ("RequestWriteBufferSizeBytes", "int", "4096", False, False),
    ("RequestReadBufferSizeBytes", "int", "32768", False, False),
    ("ResponseWriteQueueSizeFrames", "int", "128", False, False),
    ("ResponseWriteBufferSizeBytes", "int", "8192", False, False),
    ("ResponseReadBufferSizeBytes", "int", "32768", False, False),
    ("RequestResponseMaxWorkers", "int", "-1", False, False),
    ("WriteMaxWorkers", "int", "-1", False, False),
    ("ReadMaxWorkers", "int", "-1", False, False),
    ("ListenerMaxWorkers", "int", "-1", False, False),
    ("EventQueueSizeFrames", "int", "12", False, False),
    ("AsyncConnectorWriteQueueSizeFrames", "int", "2048", False, False),
    ("AsyncConnectorWriteBufferSizeBytes", "int", "4096", False, False),
)

_CLUSTERS: Final = ("ORIGIN", "TARGET")
_READ_MODES: Final = ("PRIMARY_ONLY", "DUAL_ASYNC_ON_SECONDARY")
# logrus.ParseLevel (lower-cased input); ParseLogLevel trims spaces first.
_LOG_LEVELS: Final = ("PANIC", "FATAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE")
# ParseControlConnMaxProtocolVersion: EqualFold DseV2/DseV1, else ParseUint base 10 within 2..5.
_MAX_PROTOCOL_VERSIONS: Final = ("2", "3", "4", "5", "DseV1", "DseV2")
# protocolVersionStrMap, used by ParseBlockedProtocolVersions (case-insensitive).
_BLOCKABLE_VERSIONS: Final = (
    "2",
    "3",
    "4",
    "5",
    "v2",
    "v3",
    "v4",
    "v5",
    "DseV1",
    "Dse_V1",
    "DseV2",
    "Dse_V2",
)

_ENUMS: Final[Mapping[str, tuple[str, ...]]] = {
    "PrimaryCluster": _CLUSTERS,
    "ReadMode": _READ_MODES,
    "SystemQueriesMode": _CLUSTERS,
    "LogLevel": _LOG_LEVELS,
    "ControlConnMaxProtocolVersion": _MAX_PROTOCOL_VERSIONS,
}
_LISTS: Final[Mapping[str, tuple[str, ...]]] = {
    "BlockedProtocolVersions": _BLOCKABLE_VERSIONS,
    "ProxyTopologyAddresses": (),
    "OriginContactPoints": (),
    "TargetContactPoints": (),
    "MetricsOriginLatencyBucketsMs": (),
    "MetricsTargetLatencyBucketsMs": (),
    "MetricsAsyncReadLatencyBucketsMs": (),
}

# kelseyhightower/envconfig v1.4.0 (gatherInfo): how split_words turns a field name into words.
_GATHER_RE: Final = re.compile(r"([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
_ACRONYM_RE: Final = re.compile(r"([A-Z]+)([A-Z][^A-Z]+)")


def envconfig_name(field_name: str, prefix: str = "ZDM") -> str:
    """The variable envconfig reads for a ``split_words:"true"`` field.

    ``ProxyTopologyNumTokens`` -> ``ZDM_PROXY_TOPOLOGY_NUM_TOKENS``. Ported from envconfig rather than
    guessed: acronyms stay together (``ABCField`` -> ``ABC_FIELD``).
    """
    words: list[str] = []
    for match in _GATHER_RE.finditer(field_name):
        acronym = _ACRONYM_RE.search(match.group(0))
        words.extend(acronym.groups() if acronym else [match.group(0)])
    return f"{prefix}_{'_'.join(words)}".upper()


def _kind(field_name: str, go_type: str) -> str:
    if field_name in _ENUMS:
        return "enum"
    if field_name in _LISTS:
        return "list"
    return {"bool": "bool", "int": "int", "float64": "float"}.get(go_type, "string")


def _build_settings() -> dict[str, SettingSpec]:
    specs: dict[str, SettingSpec] = {}
    for field_name, go_type, default, required, secret in _STRUCT:
        name = envconfig_name(field_name)
        specs[name] = SettingSpec(
            name=name,
            field=field_name,
            yaml_key=name.removeprefix("ZDM_").lower(),
            go_type=go_type,
            kind=_kind(field_name, go_type),
            default=default,
            allowed=_ENUMS.get(field_name, _LISTS.get(field_name, ())),
            required=required,
            secret=secret,
        )
    return specs


#: Every real zdm-proxy setting, by environment variable name, in the order of the Config struct.
SETTINGS: Final[Mapping[str, SettingSpec]] = MappingProxyType(_build_settings())
_BY_FIELD: Final = {spec.field: spec for spec in SETTINGS.values()}
_BY_YAML_KEY: Final = {spec.yaml_key: spec for spec in SETTINGS.values()}

#: Expected (primary cluster, read mode) per migration phase; phase 5 has clients on Target, no proxy.
PHASES: Final[Mapping[int, tuple[str, str] | None]] = MappingProxyType(
    {
        1: ("ORIGIN", "PRIMARY_ONLY"),
        2: ("ORIGIN", "PRIMARY_ONLY"),
        3: ("ORIGIN", "DUAL_ASYNC_ON_SECONDARY"),
        4: ("TARGET", "PRIMARY_ONLY"),
        5: None,
    }
)
PHASE_TITLES: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "deploy the proxy",
        2: "migrate data",
        3: "async dual reads",
        4: "route reads to Target",
        5: "connect clients directly to Target",
    }
)

_ROUTING: Final = "routing is ZDM_PRIMARY_CLUSTER plus ZDM_READ_MODE"
# Names that do not exist but are used as if they did; the text says what the real mechanism is.
_NOT_SETTINGS: Final[Mapping[str, str]] = {
    "ZDM_PHASE": f"the proxy has no notion of migration phases: {_ROUTING}",
    "ZDM_ASYNC_HANDOFF_ENABLED": (
        "there is no hand-off switch: async dual reads are ZDM_READ_MODE=DUAL_ASYNC_ON_SECONDARY "
        "and serving reads from Target is ZDM_PRIMARY_CLUSTER=TARGET"
    ),
    "ZDM_ENABLE_TARGET_WRITES": (
        f"writes always go to both clusters synchronously and cannot be switched off; {_ROUTING}"
    ),
    "FORWARD_READS_TO_TARGET": (
        "zdm-proxy 1.x name, gone since 2.0: use ZDM_PRIMARY_CLUSTER=TARGET to serve reads from Target "
        "(writes always go to both clusters)"
    ),
    "ZDM_FORWARD_READS_TO_TARGET": (
        "that was the 1.x FORWARD_READS_TO_TARGET: use ZDM_PRIMARY_CLUSTER=TARGET to serve reads from Target"
    ),
    "ZDM_ASYNC_READS_ON_SECONDARY": "async reads are ZDM_READ_MODE=DUAL_ASYNC_ON_SECONDARY",
    "ZDM_DUAL_READS_ENABLED": "async dual reads are ZDM_READ_MODE=DUAL_ASYNC_ON_SECONDARY",
    "FORWARD_SYSTEM_QUERIES_TO_TARGET": (
        "zdm-proxy 1.x name, gone since 2.0: use ZDM_SYSTEM_QUERIES_MODE=TARGET"
    ),
}
# zdm-proxy 1.x (cloud-gate) names without prefix, and the 2.x setting that replaced each. Only distinctive
# names are listed: generic ones (LOG_LEVEL, DEBUG) would flag variables meant for other programs.
_V1_RENAMES: Final[Mapping[str, str]] = {
    "ORIGIN_CASSANDRA_CONTACT_POINTS": "ZDM_ORIGIN_CONTACT_POINTS",
    "ORIGIN_CASSANDRA_PORT": "ZDM_ORIGIN_PORT",
    "ORIGIN_CASSANDRA_USERNAME": "ZDM_ORIGIN_USERNAME",
    "ORIGIN_CASSANDRA_PASSWORD": "ZDM_ORIGIN_PASSWORD",
    "TARGET_CASSANDRA_CONTACT_POINTS": "ZDM_TARGET_CONTACT_POINTS",
    "TARGET_CASSANDRA_PORT": "ZDM_TARGET_PORT",
    "TARGET_CASSANDRA_USERNAME": "ZDM_TARGET_USERNAME",
    "TARGET_CASSANDRA_PASSWORD": "ZDM_TARGET_PASSWORD",
    "PROXY_QUERY_ADDRESS": "ZDM_PROXY_LISTEN_ADDRESS",
    "PROXY_QUERY_PORT": "ZDM_PROXY_LISTEN_PORT",
    "PROXY_METRICS_ADDRESS": "ZDM_METRICS_ADDRESS",
    "PROXY_METRICS_PORT": "ZDM_METRICS_PORT",
}
_V1_NAMES: Final = frozenset({"FORWARD_READS_TO_TARGET", "FORWARD_SYSTEM_QUERIES_TO_TARGET", *_V1_RENAMES})

_PORTS: Final = ("ZDM_ORIGIN_PORT", "ZDM_TARGET_PORT", "ZDM_PROXY_LISTEN_PORT", "ZDM_METRICS_PORT")
_WORKERS: Final = (
    "ZDM_REQUEST_RESPONSE_MAX_WORKERS",
    "ZDM_WRITE_MAX_WORKERS",
    "ZDM_READ_MAX_WORKERS",
    "ZDM_LISTENER_MAX_WORKERS",
)
_BUCKETS: Final = (
    "ZDM_METRICS_ORIGIN_LATENCY_BUCKETS_MS",
    "ZDM_METRICS_TARGET_LATENCY_BUCKETS_MS",
    "ZDM_METRICS_ASYNC_READ_LATENCY_BUCKETS_MS",
)
_REQUIRED: Final = tuple(spec.name for spec in SETTINGS.values() if spec.required)
_SECRET_NAMES: Final = [spec.name for spec in SETTINGS.values() if spec.secret]


def is_secret(name: str) -> bool:
    """Whether the value of ``name`` must never be printed.

    Real settings are secret when the proxy itself hides them (``json:"-"``: the passwords), so
    ``ZDM_PROXY_TOPOLOGY_NUM_TOKENS`` stays printable; other names by pattern (``*PASS*``, ``*PWD*``,
    ``*TOKEN*``, ``*SECRET*``...) or closeness to a password setting, since a misspelt password variable
    (``ZDM_ORIGIN_PASWORD``) still holds a password.
    """
    spec = SETTINGS.get(name)
    if spec is not None:
        return spec.secret
    upper = name.upper()
    if any(part in upper for part in ("PASS", "PASW", "PWD", "PSWD", "TOKEN", "SECRET", "CREDENTIAL")):
        return True
    return bool(difflib.get_close_matches(upper, _SECRET_NAMES, n=1, cutoff=0.8))


def _shown(name: str, value: str) -> str:
    return "the value (hidden)" if is_secret(name) else repr(value)


# ---------------------------------------------------------------------------------------------------------
# Go's strconv, as envconfig and the Parse* functions call it. Each returns None where Go returns an error.
