"""Linting a set of zdm-proxy settings.

Unknown names, invalid values, missing required ones, routing that does not match the migration phase.
Secret values never appear in any message.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from pytest_zdm.lint.catalog import (
    _BY_YAML_KEY,
    _CLUSTERS,
    _NOT_SETTINGS,
    _REQUIRED,
    _V1_NAMES,
    _V1_RENAMES,
    PHASE_TITLES,
    PHASES,
    SETTINGS,
    UNKNOWN_VALUE,
    YAML_KEY_PREFIX,
    Finding,
)
from pytest_zdm.lint.goparse import go_parse_bool, go_parse_int
from pytest_zdm.lint.values import (
    _check_bool,
    _check_enum,
    _check_float,
    _check_int,
    _check_list,
    _empty_problem,
    _enum_ok,
    _items,
)


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
