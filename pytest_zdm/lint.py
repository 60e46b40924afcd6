"""Lint zdm-proxy settings before they reach a proxy.

zdm-proxy reads its configuration either from ``ZDM_*`` environment variables or, when started with
``--config FILE``, from a YAML file (environment variables are then ignored). Both paths are forgiving in
dangerous ways: unknown ``ZDM_*`` variables and unknown YAML keys are silently ignored, so a setting that
does not exist (``ZDM_PHASE``, ``ZDM_ENABLE_TARGET_WRITES``...) or a typo (``ZDM_METRICS_ENABLE``) looks
applied while the proxy runs with its defaults. This module finds such problems without starting anything.

The ground truth is the proxy's ``proxy/pkg/config/config.go`` (zdm-proxy 2.4): the ``Config`` struct gives
the settings (envconfig ``split_words`` names with the ``ZDM`` prefix, ``yaml`` tags, ``default`` tags,
``required`` tags) and ``Validate()``/``Parse*`` give the rules. Value parsing mirrors what the proxy really
calls: envconfig uses Go's ``strconv.ParseInt(s, 0, 64)`` (so ``010`` is octal 8 and ``09042`` is an
error), ``strconv.ParseBool`` and ``strconv.ParseFloat``; the YAML path uses ``gopkg.in/yaml.v3``, whose
typing rules differ (``yes`` is a boolean there, a quoted ``"9042"`` is not an integer).

Entry points: :func:`lint_settings` for a mapping of settings, :func:`lint_file` for an env file, a proxy
YAML config, Kubernetes manifests or a proxy log, :func:`load_settings` to only read such a file, and
:func:`parsed_configuration_to_settings` for the ``Parsed configuration: {...}`` JSON the proxy logs at
startup. Secret values (passwords) never appear in any message.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from pytest_zdm.errors import ZdmError

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


def _underscore_ok(text: str) -> bool:
    """strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if text[:1] in ("+", "-"):
        text = text[1:]
    hexa = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = text[1].lower() == "x"
    while i < len(text):
        char = text[i]
        i += 1
        if "0" <= char <= "9" or (hexa and "a" <= char.lower() <= "f"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _go_parse_uint(text: str, *, base0: bool) -> int | None:
    """strconv.ParseUint(text, 0 or 10, 64)."""
    if not text:
        return None
    base = 10
    digits = text
    if base0 and text[0] == "0":
        if len(text) >= 3 and text[1].lower() in "box":
            base = {"b": 2, "o": 8, "x": 16}[text[1].lower()]
            digits = text[2:]
        else:
            base = 8
            digits = text[1:]
    number = 0
    underscores = False
    for char in digits:
        if char == "_" and base0:
            underscores = True
            continue
        if "0" <= char <= "9":
            digit = ord(char) - ord("0")
        elif "a" <= char.lower() <= "z":
            digit = ord(char.lower()) - ord("a") + 10
        else:
            return None
        if digit >= base:
            return None
        number = number * base + digit
    if underscores and not _underscore_ok(text):
        return None
    return number if number < 1 << 64 else None


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): what envconfig does with an ``int`` field (``010`` is 8)."""
    if not text:
        return None
    negative = text[0] == "-"
    magnitude = _go_parse_uint(text[1:] if text[0] in "+-" else text, base0=True)
    if magnitude is None:
        return None
    if (negative and magnitude > 1 << 63) or (not negative and magnitude >= 1 << 63):
        return None
    return -magnitude if negative else magnitude


def go_parse_bool(text: str) -> bool | None:
    """strconv.ParseBool: exactly these spellings (``yes`` and ``on`` are errors)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64): Go float literal syntax, Inf/NaN words; overflow is an error."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body.lower() in ("inf", "infinity"):
        return -math.inf if text[0] == "-" else math.inf
    if text.lower() == "nan":
        return math.nan
    i = len(text) - len(body)
    base = 16 if i + 2 < len(text) and text[i] == "0" and text[i + 1] in "xX" else 10
    i += 2 if base == 16 else 0
    sawdot = sawdigits = underscores = False
    while i < len(text):
        char = text[i]
        if char == "_":
            underscores = True
        elif char == ".":
            if sawdot:
                break
            sawdot = True
        elif "0" <= char <= "9" or (base == 16 and "a" <= char.lower() <= "f"):
            sawdigits = True
        else:
            break
        i += 1
    if not sawdigits:
        return None
    if i < len(text) and text[i].lower() == ("e" if base == 10 else "p"):
        i += 1
        if i < len(text) and text[i] in "+-":
            i += 1
        if i >= len(text) or not "0" <= text[i] <= "9":
            return None
        while i < len(text) and ("0" <= text[i] <= "9" or text[i] == "_"):
            underscores = underscores or text[i] == "_"
            i += 1
    elif base == 16:
        return None
    if i != len(text) or (underscores and not _underscore_ok(text)):
        return None
    plain = text.replace("_", "")
    try:
        value = float.fromhex(plain) if base == 16 else float(plain)
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(value) else value


def _go_parse_ip(text: str) -> bool:
    """net.ParseIP: an IPv4 or IPv6 literal, no zone, no host name."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Checks of single values. Each returns (severity, problem) pairs.

_Problem = tuple[str, str]


def _did_you_mean(value: str, choices: Iterable[str], *, upper: bool = True) -> str:
    probe = value.strip().upper() if upper else value
    pool = {choice.upper() if upper else choice: choice for choice in choices}
    close = difflib.get_close_matches(probe, list(pool), n=1, cutoff=0.6)
    return f"; did you mean {pool[close[0]]}?" if close else ""


_NOUNS: Final = {"int": "integer", "bool": "boolean", "float": "number"}


def _empty_problem(spec: SettingSpec) -> _Problem:
    default = f" (remove it to get the default {spec.default!r})" if spec.default else ""
    return (
        "error",
        "is set but empty; a set value does not fall back to the default, and an empty value is not a "
        f"valid {_NOUNS.get(spec.kind, 'value')} here, so the proxy refuses to start{default}",
    )


def _check_bool(spec: SettingSpec, value: str) -> list[_Problem]:
    if go_parse_bool(value) is not None:
        return []
    hint = " (yes/no/on/off are not accepted)" if value.strip().lower() in ("yes", "no", "on", "off") else ""
    return [
        (
            "error",
            f"{_shown(spec.name, value)} is not a boolean; the proxy (Go strconv.ParseBool) accepts "
            f"true/false, True/False, TRUE/FALSE, t/f, T/F or 1/0{hint}",
        )
    ]


def _check_int(spec: SettingSpec, value: str) -> list[_Problem]:
    number = go_parse_int(value)
    shown = _shown(spec.name, value)
    if number is None:
        if value != value.strip() and go_parse_int(value.strip()) is not None:
            return [
                ("error", f"{shown} has surrounding whitespace, which the proxy's integer parser rejects")
            ]
        if re.fullmatch(r"[+-]?0[0-9_]+", value):
            return [
                (
                    "error",
                    f"{shown} is not an integer for the proxy: a leading 0 makes Go read it as octal, "
                    "where 8 and 9 are not digits (drop the leading 0)",
                )
            ]
        return [("error", f"{shown} is not an integer (Go strconv.ParseInt, base prefixes 0x/0o/0b allowed)")]
    problems: list[_Problem] = []
    if re.fullmatch(r"[+-]?0[0-7_]+", value) and number != 0:
        problems.append(
            (
                "warning",
                f"{shown} has a leading 0, so the proxy reads it as octal: it means {number} "
                f"(write {number} if that is intended, else drop the leading 0)",
            )
        )
    if spec.name in _WORKERS and number <= 0 and number != -1:
        problems.append(
            (
                "warning",
                f"{number} is not a worker count; the proxy logs a warning and uses its default instead "
                "(use -1 for the default or a positive number)",
            )
        )
    if spec.name == "ZDM_PROXY_TOPOLOGY_NUM_TOKENS" and not 0 < number <= 256:
        problems.append(("error", f"{number} is out of range; expected 1..256 (the proxy refuses to start)"))
    if spec.name in ("ZDM_PROXY_LISTEN_PORT", "ZDM_METRICS_PORT") and not 0 < number <= 65535:
        problems.append(("error", f"{number} is not a TCP port; expected 1..65535"))
    return problems


def _check_float(spec: SettingSpec, value: str) -> list[_Problem]:
    if go_parse_float(value) is not None:
        return []
    return [("error", f"{_shown(spec.name, value)} is not a number (Go strconv.ParseFloat)")]


def _enum_ok(spec: SettingSpec, value: str) -> bool:
    if spec.field == "LogLevel":
        return value.strip().upper() in _LOG_LEVELS
    if spec.field == "ControlConnMaxProtocolVersion":
        if value.lower() in ("dsev1", "dsev2"):
            return True
        return value.isascii() and value.isdigit() and 2 <= int(value) <= 5
    return value.upper() in spec.allowed


def _check_enum(spec: SettingSpec, value: str) -> list[_Problem]:
    if _enum_ok(spec, value):
        return []
    expected = ", ".join(spec.allowed[:-1]) + f" or {spec.allowed[-1]}"
    hint = ""
    if value != value.strip() and _enum_ok(spec, value.strip()):
        hint = "; the proxy does not trim the surrounding whitespace"
    elif spec.field == "ControlConnMaxProtocolVersion" and value.strip().lower() in {
        v.lower() for v in _BLOCKABLE_VERSIONS
    }:
        hint = "; spellings like v4 or Dse_V2 are only accepted by ZDM_BLOCKED_PROTOCOL_VERSIONS"
    else:
        hint = _did_you_mean(value, spec.allowed)
    return [
        (
            "error",
            f"{_shown(spec.name, value)} is not a valid value; expected {expected} (case-insensitive{hint})",
        )
    ]


def _are_not(items: list[str], noun: str) -> str:
    if len(items) == 1:
        return f"{items[0]!r} is not {noun}"
    plural = noun.split(" ", 1)[1] + "es" if noun.endswith("address") else noun.split(" ", 1)[1] + "s"
    return f"{', '.join(map(repr, items[:-1]))} and {items[-1]!r} are not {plural}"


def _items(value: str) -> list[str]:
    return value.replace(" ", "").split(",")


def _bucket_values(value: str) -> list[float | None]:
    return [go_parse_float(item.strip()) for item in value.split(",")]


def _check_list(spec: SettingSpec, value: str, *, metrics_enabled: bool | None) -> list[_Problem]:
    if spec.name == "ZDM_BLOCKED_PROTOCOL_VERSIONS":
        known = {version.lower() for version in _BLOCKABLE_VERSIONS}
        bad = [
            item.strip() for item in value.split(",") if item.strip() and item.strip().lower() not in known
        ]
        if not bad:
            return []
        return [
            (
                "error",
                f"{_are_not(bad, 'a protocol version')}; expected a comma-separated list of "
                f"{', '.join(_BLOCKABLE_VERSIONS)} (case-insensitive)",
            )
        ]
    if spec.name in _BUCKETS:
        return _check_buckets(value, metrics_enabled=metrics_enabled)
    if spec.name == "ZDM_PROXY_TOPOLOGY_ADDRESSES":
        if value == "":
            return []
        bad = [item for item in _items(value) if not _go_parse_ip(item)]
        if not bad:
            return []
        return [
            (
                "error",
                f"{_are_not(bad, 'an IP address')}; the proxy needs comma-separated IP "
                "addresses here, not host names (it refuses to start)",
            )
        ]
    # Contact points: any non-empty value passes Validate(); empty entries are passed on as hosts.
    if value != "" and "" in _items(value):
        return [("warning", "contains an empty entry (stray comma); the proxy keeps it as a contact point")]
    return []


def _check_buckets(value: str, *, metrics_enabled: bool | None) -> list[_Problem]:
    items = [item.strip() for item in value.split(",")]
    parsed = _bucket_values(value)
    bad = [item for item, number in zip(items, parsed, strict=True) if number is None]
    if bad:
        what = "contains an empty item (stray comma)" if bad == [""] else _are_not(bad, "a number")
        return [
            (
                "error",
                f"{what}; expected comma-separated milliseconds such as '1, 4, 7, 10' "
                "(the proxy refuses to start)",
            )
        ]
    numbers = [number for number in parsed if number is not None]
    for low, high in itertools.pairwise(numbers):
        if not low < high:
            severity = "warning" if metrics_enabled is False else "error"
            return [
                (
                    severity,
                    f"buckets must be strictly increasing, but {low:g} is followed by {high:g}; with metrics "
                    "enabled the proxy panics when it creates the latency histogram (Prometheus rule)",
                )
            ]
    return []


# ---------------------------------------------------------------------------------------------------------
# lint_settings


class _Linter:
    """Collects findings for one set of settings; knows how the input was given (env or YAML)."""

    def __init__(self, settings: Mapping[str, str], kind: str, hidden_sources: tuple[str, ...]) -> None:
        self.values = {name: value for name, value in settings.items() if name in SETTINGS}
        self.yaml = kind == "yaml-config"
        self.hidden_sources = hidden_sources
        self.findings: list[Finding] = []

    def add(self, name: str, severity: str, problem: str) -> None:
        if self.yaml and name in SETTINGS:
            problem = f"{problem} (YAML key {SETTINGS[name].yaml_key})"
        self.findings.append(Finding(name, problem, severity))

    def known(self, name: str) -> str | None:
        """The value the proxy sees: set value or default/zero; None when not visible."""
        value = self.values.get(name)
        if value == UNKNOWN_VALUE:
            return None
        if value is not None:
            return value
        spec = SETTINGS[name]
        return spec.default or {"int": "0", "bool": "false", "float64": "0"}.get(spec.go_type, "")

    def defined(self, name: str) -> bool:
        """isDefined() in config.go: a non-empty string (a hidden value counts as set)."""
        return self.values.get(name, "") != ""

    def flag(self, name: str) -> bool | None:
        value = self.known(name)
        return None if value is None else go_parse_bool(value)

    def number(self, name: str) -> int | None:
        value = self.known(name)
        return None if value is None else go_parse_int(value)


def _unknown_name(name: str) -> Finding:
    """A ``ZDM_*`` (or 1.x) variable that the proxy does not read."""
    base = "not a zdm-proxy setting; the proxy silently ignores it"
    upper = name.upper()
    if upper in _NOT_SETTINGS:
        return Finding(name, f"{base} ({_NOT_SETTINGS[upper]})", "error")
    if name in _V1_RENAMES:
        return Finding(name, f"{base} (zdm-proxy 1.x name; 2.x reads {_V1_RENAMES[name]})", "error")
    if upper != name and upper in SETTINGS:
        return Finding(name, f"{base} (variable names are case-sensitive: the proxy reads {upper})", "error")
    close = difflib.get_close_matches(upper, list(SETTINGS), n=1, cutoff=0.8)
    return Finding(name, f"{base} (did you mean {close[0]}?)" if close else base, "error")


def _unknown_yaml_key(key: str) -> Finding:
    """A key of a ``--config`` YAML file that no Config field has (yaml.v3 ignores it silently)."""
    name = f"{YAML_KEY_PREFIX}{key}"
    base = "not a key of the zdm-proxy YAML config; the proxy silently ignores it"
    as_env = key.upper() if key.upper().startswith("ZDM_") else f"ZDM_{key.upper()}"
    if as_env in SETTINGS:
        return Finding(
            name,
            f"{base} (YAML keys are lower-case and have no ZDM_ prefix: use {SETTINGS[as_env].yaml_key})",
            "error",
        )
    if as_env in _NOT_SETTINGS:
        return Finding(name, f"{base} ({_NOT_SETTINGS[as_env]})", "error")
    close = difflib.get_close_matches(key.lower(), list(_BY_YAML_KEY), n=1, cutoff=0.8)
    return Finding(name, f"{base} (did you mean {close[0]}?)" if close else base, "error")


def _relevant_name(name: str) -> bool:
    """Names the lint looks at in a mapping that may be a whole environment."""
    return name.upper().startswith("ZDM_") or name in _V1_NAMES


def lint_settings(
    settings: Mapping[str, str], *, phase: int | None = None, kind: str = "environment"
) -> list[Finding]:
    """Every problem in ``settings`` (``ZDM_*`` name -> raw string value) as the proxy would read them.

    ``settings`` may be a whole environment: names that are neither ``ZDM_*``, zdm-proxy 1.x names nor
    ``yaml:<key>`` pseudo-names are ignored. ``phase`` (1-5) adds a check that routing matches that
    migration phase (see :data:`PHASES`). ``kind`` is how the settings were given: ``yaml-config`` (from
    :func:`load_settings`) changes two things the proxy does differently for its ``--config`` file: required
    settings are not enforced there, and messages name the YAML key. Raises ValueError for an unknown phase.
    """
    return _lint(settings, phase=phase, kind=kind, hidden_sources=())


def _lint(
    settings: Mapping[str, str], *, phase: int | None, kind: str, hidden_sources: tuple[str, ...]
) -> list[Finding]:
    if phase is not None and (isinstance(phase, bool) or phase not in PHASES):
        raise ValueError(f"phase must be one of {', '.join(map(str, PHASES))}, got {phase!r}")
    linter = _Linter(settings, kind, hidden_sources)
    for name in settings:
        if name.startswith(YAML_KEY_PREFIX):
            linter.findings.append(_unknown_yaml_key(name.removeprefix(YAML_KEY_PREFIX)))
        elif name not in SETTINGS and _relevant_name(name):
            linter.findings.append(_unknown_name(name))
    _check_values(linter)
    for cluster in _CLUSTERS:
        _check_cluster(linter, cluster)
    _check_proxy(linter)
    _check_required(linter)
    if phase is not None:
        _check_phase(linter, phase)
    return linter.findings


def _check_values(linter: _Linter) -> None:
    metrics_enabled = linter.flag("ZDM_METRICS_ENABLED")
    for spec in SETTINGS.values():
        value = linter.values.get(spec.name)
        if value is None or value == UNKNOWN_VALUE:
            continue
        if value == "" and spec.go_type != "string":
            severity, problem = _empty_problem(spec)
            linter.add(spec.name, severity, problem)
            continue
        if spec.kind == "bool":
            problems = _check_bool(spec, value)
        elif spec.kind == "int":
            problems = _check_int(spec, value)
        elif spec.kind == "float":
            problems = _check_float(spec, value)
        elif spec.kind == "enum":
            problems = [_empty_problem(spec)] if value == "" else _check_enum(spec, value)
        elif spec.kind == "list":
            problems = _check_list(spec, value, metrics_enabled=metrics_enabled)
        else:
            problems = []
        for severity, problem in problems:
            linter.add(spec.name, severity, problem)


def _check_cluster(linter: _Linter, cluster: str) -> None:
    """ParseOriginContactPoints/ParseTargetContactPoints and Parse*TlsConfig of config.go."""
    title = cluster.title()
    points, bundle = f"ZDM_{cluster}_CONTACT_POINTS", f"ZDM_{cluster}_SECURE_CONNECT_BUNDLE_PATH"
    datacenter, port = f"ZDM_{cluster}_LOCAL_DATACENTER", f"ZDM_{cluster}_PORT"
    if linter.defined(points) and linter.defined(bundle):
        linter.add(
            bundle,
            "error",
            f"is set together with {points}; the proxy refuses to start: set exactly one "
            f"(the bundle for Astra, contact points otherwise)",
        )
    elif not linter.defined(points) and not linter.defined(bundle):
        linter.add(
            points,
            "error",
            f"neither {points} nor {bundle} is set; the proxy refuses to start: set exactly one "
            f"(contact points of {title}, or the secure connect bundle if {title} is Astra)",
        )
    if linter.defined(bundle) and linter.defined(datacenter):
        linter.add(
            datacenter,
            "error",
            f"cannot be combined with {bundle} (the bundle names the datacenter); the proxy refuses to start",
        )
    if linter.defined(datacenter) and linter.flag(f"ZDM_{cluster}_ENABLE_HOST_ASSIGNMENT") is False:
        linter.add(
            datacenter,
            "error",
            f"is set but ZDM_{cluster}_ENABLE_HOST_ASSIGNMENT is false; the proxy refuses to start "
            "(enable host assignment or unset the datacenter)",
        )
    port_number = linter.number(port)
    if linter.defined(points) and port_number is not None and not 0 < port_number <= 65535:
        detail = "; the proxy refuses to start" if port_number == 0 else ""
        linter.add(port, "error", f"{port_number} is not a TCP port; expected 1..65535{detail}")
    tls = [f"ZDM_{cluster}_TLS_SERVER_CA_PATH", f"ZDM_{cluster}_TLS_CLIENT_CERT_PATH"]
    tls.append(f"ZDM_{cluster}_TLS_CLIENT_KEY_PATH")
    given = [name for name in tls if linter.defined(name)]
    if given and linter.defined(bundle):
        linter.add(
            given[0],
            "error",
            f"custom TLS settings cannot be combined with {bundle} (the bundle carries the TLS material); "
            "the proxy refuses to start",
        )
    elif given and given not in ([tls[0]], tls):
        missing = [name for name in tls if name not in given]
        linter.add(
            missing[0],
            "error",
            f"incomplete TLS configuration for {title}: set {tls[0]} alone (one-way TLS) or all of "
            f"{', '.join(tls)} (mutual TLS); missing: {', '.join(missing)}; the proxy refuses to start",
        )


def _check_proxy(linter: _Linter) -> None:
    """ParseProxyTlsConfig and ParseTopologyConfig of config.go."""
    tls = ("ZDM_PROXY_TLS_CA_PATH", "ZDM_PROXY_TLS_CERT_PATH", "ZDM_PROXY_TLS_KEY_PATH")
    missing = [name for name in tls if not linter.defined(name)]
    if missing and len(missing) < len(tls):
        linter.add(
            missing[0],
            "error",
            f"incomplete proxy TLS configuration: {', '.join(tls)} must be set together; "
            f"missing: {', '.join(missing)}; the proxy refuses to start",
        )
    if missing and linter.flag("ZDM_PROXY_TLS_REQUIRE_CLIENT_AUTH"):
        linter.add(
            "ZDM_PROXY_TLS_REQUIRE_CLIENT_AUTH",
            "warning",
            "is true but proxy TLS is not configured, so it has no effect",
        )
    addresses = linter.known("ZDM_PROXY_TOPOLOGY_ADDRESSES")
    index = linter.number("ZDM_PROXY_TOPOLOGY_INDEX")
    if addresses is None or index is None:
        return
    count = len(_items(addresses)) if addresses != "" else 1
    if not 0 <= index < count:
        allowed = (
            f"with {count} addresses in ZDM_PROXY_TOPOLOGY_ADDRESSES it must be 0..{count - 1}"
            if addresses != ""
            else "ZDM_PROXY_TOPOLOGY_ADDRESSES is not set, so this is the only proxy and it must be 0"
        )
        linter.add(
            "ZDM_PROXY_TOPOLOGY_INDEX",
            "error",
            f"{index} is out of range: {allowed}; the proxy refuses to start",
        )


def _check_required(linter: _Linter) -> None:
    for name in _REQUIRED:
        if name in linter.values:
            continue
        what = "password" if name.endswith("PASSWORD") else "username"
        title = SETTINGS[name].field.removesuffix("Username").removesuffix("Password")
        if linter.hidden_sources:
            linter.add(
                name,
                "warning",
                f"not set in this file; it may come from {' or '.join(linter.hidden_sources)}, which is not "
                "in this file (the proxy refuses to start without it)",
            )
        elif linter.yaml:
            linter.add(
                name,
                "warning",
                f"not set; the YAML config does not enforce it, so the proxy connects to {title} with an "
                f"empty {what}, which only works if {title} has no authentication",
            )
        else:
            linter.add(
                name,
                "error",
                f"required but not set; the proxy refuses to start (set it, to an empty value if {title} "
                "has no authentication)",
            )


def _check_phase(linter: _Linter, phase: int) -> None:
    expected = PHASES[phase]
    title = PHASE_TITLES[phase]
    if expected is None:
        linter.findings.append(
            Finding(
                "phase",
                f"phase {phase} ({title}) does not use zdm-proxy: clients must connect to Target directly "
                "and this proxy configuration should no longer be in use",
                "error",
            )
        )
        return
    for name, want in zip(("ZDM_PRIMARY_CLUSTER", "ZDM_READ_MODE"), expected, strict=True):
        value = linter.known(name)
        if value is None:
            linter.add(
                name,
                "warning",
                f"its value is not visible here, so phase {phase} ({title}) cannot be checked; "
                f"it must be {want}",
            )
            continue
        if not _enum_ok(SETTINGS[name], value):
            continue  # already reported as an invalid value
        if value.upper() != want:
            unset = " (the default; not set)" if name not in linter.values else ""
            linter.add(
                name,
                "error",
                f"phase {phase} ({title}) needs {want}, but the proxy would use {value.upper()}{unset}",
            )


# ---------------------------------------------------------------------------------------------------------
# Parsed configuration (the JSON the proxy logs at startup)

_PARSED_MARKER: Final = "Parsed configuration: "


def parsed_configuration_to_settings(parsed: Mapping[str, Any]) -> dict[str, str]:
    """``ZDM_*`` settings from the proxy's startup line ``Parsed configuration: {json}``.

    That JSON is the effective Config after defaults and validation (keys are Go field names), so linting
    it checks what a running proxy really uses, e.g. against the expected phase. The passwords are absent
    (``json:"-"``) but were necessarily given, so they come back as :data:`UNKNOWN_VALUE`. Keys of other
    proxy versions are skipped; a mapping without any Config field raises ZdmError.
    """
    settings: dict[str, str] = {}
    for key, value in parsed.items():
        spec = _BY_FIELD.get(key)
        if spec is None or value is None:
            continue
        if isinstance(value, bool):
            settings[spec.name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            settings[spec.name] = str(int(value))
        else:
            settings[spec.name] = str(value)
    if not settings:
        raise ZdmError(
            "not a zdm-proxy 'Parsed configuration' object: expected Go field names such as "
            f"PrimaryCluster and ReadMode, got keys {sorted(parsed)[:5]}"
        )
    for spec in SETTINGS.values():
        if spec.secret:
            settings.setdefault(spec.name, UNKNOWN_VALUE)
    return settings


def parsed_configuration_from_log(text: str) -> dict[str, Any]:
    """The JSON of the last ``Parsed configuration: {...}`` line in a proxy log.

    Handles logrus' plain terminal format (raw JSON) as well as its logfmt and JSON formats, where the
    message is a quoted string and the JSON inside it is escaped.
    """
    at = text.rfind(_PARSED_MARKER)
    if at < 0:
        raise ZdmError(f"no '{_PARSED_MARKER.strip()}' line found in the proxy log")
    decoder = json.JSONDecoder()
    try:
        if at > 0 and text[at - 1] == '"':  # msg="Parsed configuration: {\"PrimaryCluster\":...}"
            message, _ = decoder.raw_decode(text, at - 1)
            parsed, _ = decoder.raw_decode(str(message).removeprefix(_PARSED_MARKER))
        else:
            parsed, _ = decoder.raw_decode(text, at + len(_PARSED_MARKER))
    except json.JSONDecodeError as exc:
        raise ZdmError(f"the '{_PARSED_MARKER.strip()}' line does not hold valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ZdmError(f"the '{_PARSED_MARKER.strip()}' line does not hold a JSON object")
    return parsed


# ---------------------------------------------------------------------------------------------------------
# Files


@dataclass
class _Loaded:
    settings: dict[str, str]
    kind: str
    findings: list[Finding] = field(default_factory=list)
    hidden_sources: tuple[str, ...] = ()


def load_settings(path: Path) -> tuple[dict[str, str], str]:
    """The zdm-proxy settings in ``path`` and what kind of file it is.

    Kinds, detected from the content: ``env-file`` (``KEY=VALUE`` lines, optional ``export``, quotes and
    comments; only ``ZDM_*`` and zdm-proxy 1.x names are kept), ``yaml-config`` (the ``--config`` file;
    keys are mapped to ``ZDM_*`` names, unknown keys become ``yaml:<key>``), ``kubernetes`` (manifests:
    container ``env`` of workloads plus ``ZDM_*`` keys of ConfigMaps and Secrets; values the file does not
    show are :data:`UNKNOWN_VALUE`) and ``proxy-log`` (a log holding the proxy's ``Parsed configuration``
    line). Anything else raises ZdmError naming the path and what was expected.
    """
    loaded = _load(path)
    return loaded.settings, loaded.kind


def lint_file(path: Path, *, phase: int | None = None) -> list[Finding]:
    """All findings for a configuration file: :func:`load_settings` plus :func:`lint_settings`.

    Includes what only the file shows: YAML values the proxy's decoder rejects (a quoted ``"9042"`` for an
    integer), duplicate keys, Kubernetes env values that are not strings, and containers that start the
    proxy with ``--config`` (which makes it ignore every ``ZDM_*`` variable).
    """
    if phase is not None and (isinstance(phase, bool) or phase not in PHASES):
        raise ValueError(f"phase must be one of {', '.join(map(str, PHASES))}, got {phase!r}")
    loaded = _load(path)
    linted = _lint(loaded.settings, phase=phase, kind=loaded.kind, hidden_sources=loaded.hidden_sources)
    return loaded.findings + linted


def _expected(path: Path) -> str:
    return (
        f"{path}: not a zdm-proxy configuration; expected an env file (ZDM_*=value lines), a zdm-proxy "
        "YAML config (keys such as origin_contact_points), Kubernetes manifests with ZDM_* env entries, "
        "or a proxy log with a 'Parsed configuration' line"
    )


def _load(path: Path) -> _Loaded:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZdmError(f"{path}: cannot read the configuration file: {exc}") from None
    if _PARSED_MARKER in text:
        try:
            settings = parsed_configuration_to_settings(parsed_configuration_from_log(text))
        except ZdmError as exc:
            raise ZdmError(f"{path}: {exc}") from None
        return _Loaded(settings, "proxy-log")
    if _looks_like_env_file(text):
        return _load_env_file(path, text)
    try:
        nodes = [node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node is not None]
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ZdmError(f"{_expected(path)}; it is not valid YAML{where}: {reason}") from None
    if any(_is_k8s_node(node) for node in nodes):
        return _load_kubernetes(path, text)
    if nodes and isinstance(nodes[0], yaml.MappingNode):
        return _load_yaml_config(path, nodes[0])
    raise ZdmError(_expected(path))


# --- env files

_ENV_LINE: Final = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?")


def _looks_like_env_file(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(lines) and all(_ENV_LINE.fullmatch(line) for line in lines)


def _env_value(raw: str) -> str | None:
    """Shell/dotenv-style value: quotes removed, inline `` # comment`` dropped; None if malformed."""
    raw = raw.strip()
    if raw[:1] == "'":
        end = raw.find("'", 1)
        return None if end < 0 else raw[1:end]
    if raw[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(raw):
            char = raw[i]
            if char == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\$`':
                out.append(raw[i + 1])
                i += 2
                continue
            if char == '"':
                return "".join(out)
            out.append(char)
            i += 1
        return None
    return re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()


def _load_env_file(path: Path, text: str) -> _Loaded:
    settings: dict[str, str] = {}
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None or not _relevant_name(match.group(1)):
            continue
        name, raw = match.group(1), match.group(2)
        value = UNKNOWN_VALUE if raw is None else _env_value(raw)  # bare NAME: taken from the caller's env
        if value is None:
            raise ZdmError(f"{path}:{number}: unterminated quote in the value of {name}")
        if name in seen:
            findings.append(
                Finding(name, f"set twice (lines {seen[name]} and {number}); the last value wins", "warning")
            )
        seen[name] = number
        settings[name] = value
    if not settings:
        raise ZdmError(f"{_expected(path)}; this env file sets no ZDM_* variable")
    return _Loaded(settings, "env-file", findings)


# --- proxy YAML config (--config): gopkg.in/yaml.v3 typing

_YAML_NULLS: Final = ("", "~", "null", "Null", "NULL")
_YAML_TRUE: Final = ("true", "True", "TRUE")
_YAML_FALSE: Final = ("false", "False", "FALSE")
# yaml.v3 accepts these YAML 1.1 spellings only when decoding into a typed bool (quoted or not).
_YAML_COMPAT_TRUE: Final = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
_YAML_COMPAT_FALSE: Final = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")
_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_YAML_TIMESTAMP: Final = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?")


def _yaml_resolve(plain: str) -> tuple[str, Any]:
    """yaml.v3 resolve() for an unquoted, untagged scalar: (tag, value)."""
    if plain in _YAML_NULLS:
        return "null", None
    if plain in _YAML_TRUE or plain in _YAML_FALSE:
        return "bool", plain in _YAML_TRUE
    if plain in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"):
        return "float", math.inf
    if plain in ("-.inf", "-.Inf", "-.INF"):
        return "float", -math.inf
    if plain in (".nan", ".NaN", ".NAN"):
        return "float", math.nan
    if plain[0] == ".":
        number = go_parse_float(plain)
        return ("float", number) if number is not None else ("str", plain)
    if plain[0] not in "+-0123456789":
        return "str", plain
    if _YAML_TIMESTAMP.fullmatch(plain):
        return "timestamp", plain
    digits = plain.replace("_", "")
    integer = go_parse_int(digits)
    if integer is None and digits[:1] != "-":
        integer = _go_parse_uint(digits.removeprefix("+"), base0=True)
    if integer is not None:
        return "int", integer
    if _YAML_STYLE_FLOAT.fullmatch(digits) and (number := go_parse_float(digits)) is not None:
        return "float", number
    return "str", plain


def _yaml_decode(spec: SettingSpec, node: yaml.Node) -> tuple[str | None, str | None]:
    """(value as the env loader would give it, None for null) or a problem, as yaml.v3 decodes ``node``."""
    if not isinstance(node, yaml.ScalarNode):
        shape = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        return (
            None,
            f"is a YAML {shape}; the proxy expects a single value (lists are comma-separated strings)",
        )
    raw = str(node.value)
    quoted = node.style is not None  # quoted or block scalar: always a string for yaml.v3
    tag: str
    value: Any
    tag, value = ("str", raw) if quoted else _yaml_resolve(raw)
    if tag == "null":
        return None, None
    if spec.go_type == "string":
        return raw, None
    shown = _shown(spec.name, raw)
    if spec.go_type == "bool":
        if tag == "bool":
            return ("true" if value else "false"), None
        if tag == "str" and raw in _YAML_COMPAT_TRUE + _YAML_COMPAT_FALSE:
            return ("true" if raw in _YAML_COMPAT_TRUE else "false"), None
        fix = " (write it unquoted)" if quoted and raw in _YAML_TRUE + _YAML_FALSE else ""
        what = "a quoted string" if quoted else f"a YAML {tag}"
        return None, f"{shown} is {what}, which the proxy's YAML decoder cannot put in a boolean{fix}"
    if spec.go_type == "int":
        if tag == "int" and -(1 << 63) <= value < 1 << 63:
            return str(value), None
        if tag == "float" and not math.isnan(value) and not math.isinf(value) and value < 2**63:
            note = "" if float(value).is_integer() else f" (the proxy truncates it to {int(value)})"
            return str(int(value)), (None if not note else f"{shown} is not an integer{note}")
    if spec.go_type == "float64" and tag in ("int", "float"):
        return repr(float(value)), None
    fix = " (write it unquoted)" if quoted and _yaml_resolve(raw)[0] in ("int", "float") else ""
    what = "a quoted string" if quoted else f"a YAML {tag}"
    target = "an integer" if spec.go_type == "int" else "a number"
    return None, f"{shown} is {what}, which the proxy's YAML decoder cannot put in {target}{fix}"


def _yaml_key_is_plausible(key: str) -> bool:
    probe = key.lower().removeprefix("zdm_")
    return probe in _BY_YAML_KEY or bool(
        difflib.get_close_matches(probe, list(_BY_YAML_KEY), n=1, cutoff=0.8)
    )


def _load_yaml_config(path: Path, mapping: yaml.MappingNode) -> _Loaded:
    keys = [str(key.value) for key, _ in mapping.value if isinstance(key, yaml.ScalarNode)]
    if not any(_yaml_key_is_plausible(key) for key in keys):
        raise ZdmError(f"{_expected(path)}; its keys ({', '.join(keys[:4]) or 'none'}) are none of those")
    settings: dict[str, str] = {}
    findings: list[Finding] = []
    lines: dict[str, int] = {}
    for key_node, value_node in mapping.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        spec = _BY_YAML_KEY.get(key)
        name = spec.name if spec else f"{YAML_KEY_PREFIX}{key}"
        if key in lines:
            findings.append(
                Finding(
                    name,
                    f"YAML key {key} appears twice (lines {lines[key]} and {line}); "
                    "the proxy refuses to start",
                    "error",
                )
            )
        lines[key] = line
        if spec is None:
            settings[name] = UNKNOWN_VALUE
            continue
        value, problem = _yaml_decode(spec, value_node)
        if problem is not None:
            severity = "warning" if value is not None else "error"
            consequence = "" if value is not None else "; the proxy refuses to start"
            findings.append(Finding(spec.name, f"{problem}{consequence} (YAML key {key})", severity))
        if value is not None:
            settings[spec.name] = value
        elif problem is not None:
            settings[spec.name] = UNKNOWN_VALUE  # set, but unusable: keep dependent checks quiet
    return _Loaded(settings, "yaml-config", findings)


# --- Kubernetes manifests

_WORKLOADS: Final = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}
)


def _is_k8s_node(node: yaml.Node) -> bool:
    if not isinstance(node, yaml.MappingNode):
        return False
    keys = {key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)}
    return {"apiVersion", "kind"} <= keys


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = _as_dict(doc.get("spec"))
    if doc.get("kind") == "Pod":
        return spec
    if doc.get("kind") == "CronJob":
        spec = _as_dict(_as_dict(spec.get("jobTemplate")).get("spec"))
    return _as_dict(_as_dict(spec.get("template")).get("spec"))


def _k8s_string(name: str, value: Any, where: str, findings: list[Finding]) -> str:
    """Env values and ConfigMap data must be strings; kubectl rejects numbers and booleans."""
    if isinstance(value, str):
        return value
    text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    if value is not None:
        findings.append(
            Finding(
                name,
                f"{where} value {_shown(name, text)} is not a string; Kubernetes rejects the manifest "
                f'(quote it: "{text if not is_secret(name) else "..."}")',
                "error",
            )
        )
    return text


def _documents(text: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            docs.extend(_as_dict(item) for item in _as_list(doc.get("items")))
        elif isinstance(doc, dict):
            docs.append(doc)
    return docs


def _load_kubernetes(path: Path, text: str) -> _Loaded:
    loaded = _load_kubernetes_documents(_documents(text))
    if not loaded.settings:
        raise ZdmError(f"{_expected(path)}; these Kubernetes manifests set no ZDM_* variable")
    return loaded


def lint_kubernetes_objects(
    docs: Iterable[Mapping[str, Any]], *, phase: int | None = None
) -> tuple[dict[str, str], list[Finding]]:
    """The settings and findings of Kubernetes objects as the API server returns them (camelCase JSON).

    The same rules as for a manifest file (:func:`lint_file`): ``env`` over ``envFrom``, ``valueFrom`` and
    Secret keys counted as set without their values, ``--config`` detected. Used by the kind and kube targets
    with a live Deployment and the ConfigMaps and Secret keys its containers reference; ``envFrom`` sources
    missing from ``docs`` make required settings warnings instead of errors. Values of secret settings are
    never in a finding; the returned settings may hold them, so mask before showing them.
    """
    loaded = _load_kubernetes_documents([dict(doc) for doc in docs])
    linted = _lint(loaded.settings, phase=phase, kind=loaded.kind, hidden_sources=loaded.hidden_sources)
    return loaded.settings, loaded.findings + linted


def _load_kubernetes_documents(docs: list[dict[str, Any]]) -> _Loaded:
    findings: list[Finding] = []
    from_config: dict[str, str] = {}
    from_env: dict[str, str] = {}
    names = {
        kind: {str(_as_dict(doc.get("metadata")).get("name")) for doc in docs if doc.get("kind") == kind}
        for kind in ("ConfigMap", "Secret")
    }
    hidden: list[str] = []
    for doc in docs:
        kind = doc.get("kind")
        if kind == "ConfigMap":
            for key, value in _as_dict(doc.get("data")).items():
                if _relevant_name(str(key)):
                    from_config[str(key)] = _k8s_string(str(key), value, "ConfigMap data", findings)
        elif kind == "Secret":
            for section in ("data", "stringData"):
                for key in _as_dict(doc.get(section)):
                    if _relevant_name(str(key)):
                        from_config[str(key)] = UNKNOWN_VALUE  # never read secret values
        elif kind in _WORKLOADS:
            for container in _as_list(_pod_spec(doc).get("containers")):
                hidden += _container_env(_as_dict(container), names, from_env, findings)
    settings = {**from_config, **from_env}  # env entries take precedence over envFrom (Kubernetes rule)
    return _Loaded(settings, "kubernetes", findings, tuple(dict.fromkeys(hidden)))


def _container_env(
    container: dict[str, Any], names: Mapping[str, set[str]], env: dict[str, str], findings: list[Finding]
) -> list[str]:
    """Collect one container's ZDM_* env entries into ``env``; return envFrom sources the file lacks."""
    hidden: list[str] = []
    has_zdm = False
    for entry in _as_list(container.get("env")):
        entry = _as_dict(entry)
        name = str(entry.get("name", ""))
        if not _relevant_name(name):
            continue
        has_zdm = True
        if "valueFrom" in entry:
            env[name] = UNKNOWN_VALUE
            continue
        value = _k8s_string(name, entry.get("value", ""), "env", findings)
        env[name] = UNKNOWN_VALUE if "$(" in value else value  # $(VAR) is expanded by the kubelet
    for source in _as_list(container.get("envFrom")):
        source = _as_dict(source)
        for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref_name = _as_dict(source.get(ref)).get("name")
            has_zdm = has_zdm or ref_name is not None  # settings may come whole from a ConfigMap or Secret
            if ref_name is not None and str(ref_name) not in names[kind]:
                hidden.append(f"envFrom {ref} {ref_name!r}")
    arguments = [str(arg) for arg in _as_list(container.get("command")) + _as_list(container.get("args"))]
    if has_zdm and any(re.fullmatch(r"--?config(=.*)?", arg) for arg in arguments):
        findings.append(
            Finding(
                "--config",
                f"container {container.get('name', '?')!r} starts the proxy with --config, so the proxy "
                "ignores every ZDM_* environment variable; put the settings in that YAML file instead",
                "error",
            )
        )
    return hidden
