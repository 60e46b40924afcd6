"""Configuration lint for zdm-proxy settings: no Cassandra, no proxy, only files and mappings."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from pytest_zdm.errors import ZdmError
from pytest_zdm.lint import (
    PHASES,
    SETTINGS,
    UNKNOWN_VALUE,
    Finding,
    envconfig_name,
    go_parse_bool,
    go_parse_float,
    go_parse_int,
    is_secret,
    lint_file,
    lint_settings,
    load_settings,
    parsed_configuration_from_log,
    parsed_configuration_to_settings,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lint"
GOOD_ENV = FIXTURES / "good.env"
PASSWORDS = ("S3cr3t-origin!", "S3cr3t-target!")


def good() -> dict[str, str]:
    settings, kind = load_settings(GOOD_ENV)
    assert kind == "env-file"
    return settings


def messages(findings: list[Finding]) -> list[str]:
    return [str(finding) for finding in findings]


# --- the settings table -------------------------------------------------------------------------------------


def test_settings_table_is_the_config_struct():
    assert len(SETTINGS) == 71
    assert list(SETTINGS)[:3] == ["ZDM_PRIMARY_CLUSTER", "ZDM_READ_MODE", "ZDM_REPLACE_CQL_FUNCTIONS"]
    for name in (
        "ZDM_PROXY_TOPOLOGY_NUM_TOKENS",
        "ZDM_CONTROL_CONN_MAX_PROTOCOL_VERSION",
        "ZDM_METRICS_ORIGIN_LATENCY_BUCKETS_MS",
        "ZDM_METRICS_ASYNC_READ_LATENCY_BUCKETS_MS",
        "ZDM_TRACING_REQUEST_ID_KEY",
        "ZDM_ORIGIN_TLS_SERVER_CA_PATH",
        "ZDM_ASYNC_CONNECTOR_WRITE_BUFFER_SIZE_BYTES",
    ):
        assert name in SETTINGS
    assert [s.name for s in SETTINGS.values() if s.required] == [
        "ZDM_ORIGIN_USERNAME",
        "ZDM_ORIGIN_PASSWORD",
        "ZDM_TARGET_USERNAME",
        "ZDM_TARGET_PASSWORD",
    ]
    assert [s.name for s in SETTINGS.values() if s.secret] == ["ZDM_ORIGIN_PASSWORD", "ZDM_TARGET_PASSWORD"]
    primary, read_mode = SETTINGS["ZDM_PRIMARY_CLUSTER"], SETTINGS["ZDM_READ_MODE"]
    assert (primary.default, primary.kind, primary.allowed) == ("ORIGIN", "enum", ("ORIGIN", "TARGET"))
    assert (read_mode.default, read_mode.allowed) == (
        "PRIMARY_ONLY",
        ("PRIMARY_ONLY", "DUAL_ASYNC_ON_SECONDARY"),
    )
    port = SETTINGS["ZDM_ORIGIN_PORT"]
    assert (port.field, port.yaml_key, port.kind, port.default) == (
        "OriginPort",
        "origin_port",
        "int",
        "9042",
    )
    assert SETTINGS["ZDM_HEARTBEAT_RETRY_BACKOFF_FACTOR"].kind == "float"
    assert SETTINGS["ZDM_PROXY_TLS_REQUIRE_CLIENT_AUTH"].default is None


def test_envconfig_split_words():
    assert envconfig_name("ProxyTopologyNumTokens") == "ZDM_PROXY_TOPOLOGY_NUM_TOKENS"
    assert envconfig_name("ControlConnMaxProtocolVersion") == "ZDM_CONTROL_CONN_MAX_PROTOCOL_VERSION"
    assert envconfig_name("MetricsOriginLatencyBucketsMs") == "ZDM_METRICS_ORIGIN_LATENCY_BUCKETS_MS"
    assert envconfig_name("TracingRequestIdKey") == "ZDM_TRACING_REQUEST_ID_KEY"
    assert envconfig_name("ABCField") == "ZDM_ABC_FIELD"  # envconfig keeps acronyms together


def _config_go(zdm_settings) -> str:
    """zdm-proxy's config.go from the source the proxy is built from (zdm_proxy_source: .ci/run sets it)."""
    source = zdm_settings.zdm_proxy_source
    if source is None:
        pytest.skip(
            "needs the zdm-proxy source: set PYTEST_ZDM_PROXY_SOURCE (a checkout or .tar.gz; CI does)"
        )
    member = "proxy/pkg/config/config.go"
    if source.is_dir():
        return (source / member).read_text()
    with tarfile.open(source) as tar:
        name = next(n for n in tar.getnames() if n.endswith("/" + member))
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read().decode()


def test_settings_table_matches_the_proxy_source(zdm_settings):
    """The catalogue of real settings is the Config struct of the zdm-proxy source that is pinned."""
    struct = re.search(r"type Config struct \{(.*?)\n\}", _config_go(zdm_settings), re.DOTALL)
    assert struct is not None
    fields = re.findall(r"^\s*(\w+)\s+(string|int|bool|float64)\s+`([^`]*)`", struct.group(1), re.MULTILINE)
    assert len(fields) == len(SETTINGS)
    for (field, go_type, tags), spec in zip(fields, SETTINGS.values(), strict=True):
        tag = dict(re.findall(r'(\w+):"([^"]*)"', tags))
        assert (spec.field, spec.go_type, spec.yaml_key) == (field, go_type, tag["yaml"])
        assert spec.default == tag.get("default")
        assert spec.required == (tag.get("required") == "true")
        assert spec.secret == (tag.get("json") == "-")


def test_go_parsers_follow_strconv():
    assert go_parse_int("010") == 8 and go_parse_int("0x10") == 16 and go_parse_int("1_000") == 1000
    assert go_parse_int("09042") is None and go_parse_int(" 1") is None and go_parse_int("") is None
    assert go_parse_int("9223372036854775807") == 2**63 - 1 and go_parse_int("9223372036854775808") is None
    assert go_parse_bool("T") is True and go_parse_bool("0") is False and go_parse_bool("yes") is None
    assert (
        go_parse_float("1e3") == 1000 and go_parse_float("0x1p-2") == 0.25 and go_parse_float("1_0.5") == 10.5
    )
    assert go_parse_float("1e400") is None and go_parse_float("") is None and go_parse_float("1,5") is None


# --- env settings -------------------------------------------------------------------------------------------


def test_good_env_file_has_no_findings():
    settings = good()
    assert settings["ZDM_ORIGIN_CONTACT_POINTS"] == "10.20.0.11,10.20.0.12,10.20.0.13"  # quotes removed
    assert settings["ZDM_TARGET_CONTACT_POINTS"] == "10.30.0.21,10.30.0.22,10.30.0.23"  # comment removed
    assert settings["ZDM_PRIMARY_CLUSTER"] == "ORIGIN"  # export prefix
    assert settings["ZDM_ORIGIN_PASSWORD"] == "S3cr3t-origin!"
    assert lint_file(GOOD_ENV) == []
    assert lint_file(GOOD_ENV, phase=1) == lint_file(GOOD_ENV, phase=2) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"ZDM_PHASE": "B"},
            "ZDM_PHASE: not a zdm-proxy setting; the proxy silently ignores it (the proxy has no notion of "
            "migration phases: routing is ZDM_PRIMARY_CLUSTER plus ZDM_READ_MODE)",
            id="ZDM_PHASE",
        ),
        pytest.param(
            {"ZDM_ASYNC_HANDOFF_ENABLED": "true"},
            "ZDM_ASYNC_HANDOFF_ENABLED: not a zdm-proxy setting; the proxy silently ignores it (there is no "
            "hand-off switch: async dual reads are ZDM_READ_MODE=DUAL_ASYNC_ON_SECONDARY and serving reads "
            "from Target is ZDM_PRIMARY_CLUSTER=TARGET)",
            id="ZDM_ASYNC_HANDOFF_ENABLED",
        ),
        pytest.param(
            {"ZDM_ENABLE_TARGET_WRITES": "true"},
            "ZDM_ENABLE_TARGET_WRITES: not a zdm-proxy setting; the proxy silently ignores it (writes always "
            "go to both clusters synchronously and cannot be switched off; routing is ZDM_PRIMARY_CLUSTER "
            "plus "
            "ZDM_READ_MODE)",
            id="ZDM_ENABLE_TARGET_WRITES",
        ),
        pytest.param(
            {"FORWARD_READS_TO_TARGET": "true"},
            "FORWARD_READS_TO_TARGET: not a zdm-proxy setting; the proxy silently ignores it (zdm-proxy 1.x "
            "name, gone since 2.0: use ZDM_PRIMARY_CLUSTER=TARGET to serve reads from Target (writes always "
            "go to both clusters))",
            id="v1-name",
        ),
        pytest.param(
            {"ZDM_METRICS_ENABLE": "false"},
            "ZDM_METRICS_ENABLE: not a zdm-proxy setting; the proxy silently ignores it "
            "(did you mean ZDM_METRICS_ENABLED?)",
            id="typo",
        ),
        pytest.param(
            {"zdm_read_mode": "PRIMARY_ONLY"},
            "zdm_read_mode: not a zdm-proxy setting; the proxy silently ignores it (variable names are "
            "case-sensitive: the proxy reads ZDM_READ_MODE)",
            id="lower-case-name",
        ),
        pytest.param(
            {"ZDM_READ_MODE": "ASYNC_READS_ON_SECONDARY"},
            "ZDM_READ_MODE: 'ASYNC_READS_ON_SECONDARY' is not a valid value; expected PRIMARY_ONLY or "
            "DUAL_ASYNC_ON_SECONDARY (case-insensitive; did you mean DUAL_ASYNC_ON_SECONDARY?)",
            id="bad-enum",
        ),
        pytest.param(
            {"ZDM_PRIMARY_CLUSTER": "ASTRA"},
            "ZDM_PRIMARY_CLUSTER: 'ASTRA' is not a valid value; expected ORIGIN or TARGET (case-insensitive)",
            id="bad-primary",
        ),
        pytest.param(
            {"ZDM_CONTROL_CONN_MAX_PROTOCOL_VERSION": "v4"},
            "ZDM_CONTROL_CONN_MAX_PROTOCOL_VERSION: 'v4' is not a valid value; expected 2, 3, 4, 5, DseV1 or "
            "DseV2 (case-insensitive; spellings like v4 or Dse_V2 are only accepted by "
            "ZDM_BLOCKED_PROTOCOL_VERSIONS)",
            id="protocol-version",
        ),
        pytest.param(
            {"ZDM_METRICS_ENABLED": "yes"},
            "ZDM_METRICS_ENABLED: 'yes' is not a boolean; the proxy (Go strconv.ParseBool) accepts "
            "true/false, "
            "True/False, TRUE/FALSE, t/f, T/F or 1/0 (yes/no/on/off are not accepted)",
            id="bad-bool",
        ),
        pytest.param(
            {"ZDM_ORIGIN_PORT": "09042"},
            "ZDM_ORIGIN_PORT: '09042' is not an integer for the proxy: a leading 0 makes Go read it as "
            "octal, "
            "where 8 and 9 are not digits (drop the leading 0)",
            id="octal-port",
        ),
        pytest.param(
            {"ZDM_PROXY_LISTEN_PORT": ""},
            "ZDM_PROXY_LISTEN_PORT: is set but empty; a set value does not fall back to the default, and an "
            "empty value is not a valid integer here, so the proxy refuses to start (remove it to get the "
            "default '14002')",
            id="empty-int",
        ),
        pytest.param(
            {"ZDM_METRICS_ORIGIN_LATENCY_BUCKETS_MS": "1, 5, 10,"},
            "ZDM_METRICS_ORIGIN_LATENCY_BUCKETS_MS: contains an empty item (stray comma); expected "
            "comma-separated milliseconds such as '1, 4, 7, 10' (the proxy refuses to start)",
            id="buckets",
        ),
        pytest.param(
            {"ZDM_PROXY_TOPOLOGY_ADDRESSES": "zdm-proxy-0,zdm-proxy-1"},
            "ZDM_PROXY_TOPOLOGY_ADDRESSES: 'zdm-proxy-0' and 'zdm-proxy-1' are not IP addresses; the proxy "
            "needs comma-separated IP addresses here, not host names (it refuses to start)",
            id="topology-host-names",
        ),
        pytest.param(
            {"ZDM_PROXY_TOPOLOGY_INDEX": "3"},
            "ZDM_PROXY_TOPOLOGY_INDEX: 3 is out of range: with 3 addresses in ZDM_PROXY_TOPOLOGY_ADDRESSES "
            "it "
            "must be 0..2; the proxy refuses to start",
            id="topology-index",
        ),
        pytest.param(
            {"ZDM_TARGET_PASSWORD": None},
            "ZDM_TARGET_PASSWORD: required but not set; the proxy refuses to start (set it, to an empty "
            "value "
            "if Target has no authentication)",
            id="missing-required",
        ),
        pytest.param(
            {"ZDM_ORIGIN_CONTACT_POINTS": None},
            "ZDM_ORIGIN_CONTACT_POINTS: neither ZDM_ORIGIN_CONTACT_POINTS nor "
            "ZDM_ORIGIN_SECURE_CONNECT_BUNDLE_PATH is set; the proxy refuses to start: set exactly one "
            "(contact "
            "points of Origin, or the secure connect bundle if Origin is Astra)",
            id="no-contact-points",
        ),
        pytest.param(
            {
                "ZDM_TARGET_SECURE_CONNECT_BUNDLE_PATH": "/etc/zdm/scb-target.zip",
                "ZDM_TARGET_LOCAL_DATACENTER": None,
            },
            "ZDM_TARGET_SECURE_CONNECT_BUNDLE_PATH: is set together with ZDM_TARGET_CONTACT_POINTS; the "
            "proxy "
            "refuses to start: set exactly one (the bundle for Astra, contact points otherwise)",
            id="contact-points-and-bundle",
        ),
        pytest.param(
            {"ZDM_ORIGIN_ENABLE_HOST_ASSIGNMENT": "false"},
            "ZDM_ORIGIN_LOCAL_DATACENTER: is set but ZDM_ORIGIN_ENABLE_HOST_ASSIGNMENT is false; the proxy "
            "refuses to start (enable host assignment or unset the datacenter)",
            id="datacenter-without-host-assignment",
        ),
        pytest.param(
            {"ZDM_ORIGIN_TLS_CLIENT_CERT_PATH": "/etc/zdm/client.crt"},
            "ZDM_ORIGIN_TLS_SERVER_CA_PATH: incomplete TLS configuration for Origin: set "
            "ZDM_ORIGIN_TLS_SERVER_CA_PATH alone (one-way TLS) or all of ZDM_ORIGIN_TLS_SERVER_CA_PATH, "
            "ZDM_ORIGIN_TLS_CLIENT_CERT_PATH, ZDM_ORIGIN_TLS_CLIENT_KEY_PATH (mutual TLS); missing: "
            "ZDM_ORIGIN_TLS_SERVER_CA_PATH, ZDM_ORIGIN_TLS_CLIENT_KEY_PATH; the proxy refuses to start",
            id="incomplete-tls",
        ),
    ],
)
def test_each_fault_is_reported_with_its_message(change, expected):
    settings = good()
    for name, value in change.items():
        if value is None:
            del settings[name]
        else:
            settings[name] = value
    findings = lint_settings(settings)
    assert messages(findings) == [expected]
    assert findings[0].severity == "error"


def test_octal_integer_is_a_warning_with_its_meaning():
    findings = lint_settings({**good(), "ZDM_ORIGIN_PORT": "011"})
    assert messages(findings) == [
        "ZDM_ORIGIN_PORT: '011' has a leading 0, so the proxy reads it as octal: it means 9 "
        "(write 9 if that is intended, else drop the leading 0)"
    ]
    assert findings[0].severity == "warning"


def test_enums_are_case_insensitive_like_the_proxy():
    settings = {
        **good(),
        "ZDM_PRIMARY_CLUSTER": "target",
        "ZDM_READ_MODE": "primary_only",
        "ZDM_LOG_LEVEL": "warn",
    }
    assert lint_settings(settings) == []
    assert lint_settings(settings, phase=4) == []


def test_unrelated_environment_variables_are_ignored():
    assert lint_settings({**good(), "HOME": "/root", "PATH": "/usr/bin", "LOG_LEVEL": "x"}) == []


# --- phases -------------------------------------------------------------------------------------------------


def test_phases_table():
    assert PHASES == {
        1: ("ORIGIN", "PRIMARY_ONLY"),
        2: ("ORIGIN", "PRIMARY_ONLY"),
        3: ("ORIGIN", "DUAL_ASYNC_ON_SECONDARY"),
        4: ("TARGET", "PRIMARY_ONLY"),
        5: None,
    }


def test_phase_4_with_origin_primary_is_a_mismatch():
    findings = lint_settings(good(), phase=4)
    assert messages(findings) == [
        "ZDM_PRIMARY_CLUSTER: phase 4 (route reads to Target) needs TARGET, but the proxy would use ORIGIN"
    ]
    assert findings[0].severity == "error"


def test_phase_check_applies_the_proxy_defaults():
    settings = {k: v for k, v in good().items() if k not in ("ZDM_PRIMARY_CLUSTER", "ZDM_READ_MODE")}
    assert lint_settings(settings, phase=1) == []
    assert messages(lint_settings(settings, phase=3)) == [
        "ZDM_READ_MODE: phase 3 (async dual reads) needs DUAL_ASYNC_ON_SECONDARY, but the proxy would use "
        "PRIMARY_ONLY (the default; not set)"
    ]


def test_phase_5_means_no_proxy():
    assert messages(lint_settings(good(), phase=5)) == [
        "phase: phase 5 (connect clients directly to Target) does not use zdm-proxy: clients must connect to "
        "Target directly and this proxy configuration should no longer be in use"
    ]


@pytest.mark.parametrize("phase", [0, 6, -1, True, "3"])
def test_invalid_phase_is_a_value_error(phase):
    with pytest.raises(ValueError, match="phase must be one of 1, 2, 3, 4, 5"):
        lint_settings(good(), phase=phase)
    with pytest.raises(ValueError, match="phase must be one of"):
        lint_file(GOOD_ENV, phase=phase)


def test_hidden_routing_value_cannot_be_phase_checked():
    findings = lint_settings({**good(), "ZDM_PRIMARY_CLUSTER": UNKNOWN_VALUE}, phase=4)
    assert messages(findings) == [
        "ZDM_PRIMARY_CLUSTER: its value is not visible here, so phase 4 (route reads to Target) cannot be "
        "checked; it must be TARGET"
    ]
    assert findings[0].severity == "warning"


# --- proxy YAML config (--config) ---------------------------------------------------------------------------


def test_yaml_config_is_loaded_with_the_proxys_yaml_typing():
    settings, kind = load_settings(FIXTURES / "zdm-proxy.yaml")
    assert kind == "yaml-config"
    assert settings["ZDM_PRIMARY_CLUSTER"] == "TARGET"
    assert settings["ZDM_METRICS_ENABLED"] == "true"  # `yes` is a boolean for yaml.v3 typed fields
    assert settings["ZDM_ORIGIN_PORT"] == "9042"
    assert settings["ZDM_HEARTBEAT_RETRY_BACKOFF_FACTOR"] == "1.5"
    assert settings["ZDM_TARGET_PASSWORD"] == "S3cr3t-target!"
    assert lint_file(FIXTURES / "zdm-proxy.yaml") == []
    assert lint_file(FIXTURES / "zdm-proxy.yaml", phase=4) == []


def test_yaml_config_mistakes():
    assert messages(lint_file(FIXTURES / "zdm-proxy-mistakes.yaml")) == [
        "ZDM_ORIGIN_PORT: '9042' is a quoted string, which the proxy's YAML decoder cannot put in an integer "
        "(write it unquoted); the proxy refuses to start (YAML key origin_port)",
        "yaml:phase: not a key of the zdm-proxy YAML config; the proxy silently ignores it (the proxy has no "
        "notion of migration phases: routing is ZDM_PRIMARY_CLUSTER plus ZDM_READ_MODE)",
        "yaml:ZDM_LOG_LEVEL: not a key of the zdm-proxy YAML config; the proxy silently ignores it (YAML "
        "keys "
        "are lower-case and have no ZDM_ prefix: use log_level)",
        "yaml:metrics_enable: not a key of the zdm-proxy YAML config; the proxy silently ignores it (did you "
        "mean metrics_enabled?)",
        "ZDM_READ_MODE: 'ASYNC_READS_ON_SECONDARY' is not a valid value; expected PRIMARY_ONLY or "
        "DUAL_ASYNC_ON_SECONDARY (case-insensitive; did you mean DUAL_ASYNC_ON_SECONDARY?) (YAML key "
        "read_mode)",
        "ZDM_TARGET_LOCAL_DATACENTER: cannot be combined with ZDM_TARGET_SECURE_CONNECT_BUNDLE_PATH (the "
        "bundle "
        "names the datacenter); the proxy refuses to start (YAML key target_local_datacenter)",
    ]


def test_yaml_config_does_not_enforce_required_settings(tmp_path):
    path = tmp_path / "zdm.yaml"
    path.write_text(
        "origin_contact_points: 10.0.0.1\ntarget_contact_points: 10.0.0.2\n"
        "origin_username: cassandra\norigin_password: cassandra\ntarget_username: cassandra\n"
        "origin_contact_points: 10.0.0.3\n"
    )
    findings = lint_file(path)
    assert messages(findings) == [
        "ZDM_ORIGIN_CONTACT_POINTS: YAML key origin_contact_points appears twice (lines 1 and 6); the proxy "
        "refuses to start",
        "ZDM_TARGET_PASSWORD: not set; the YAML config does not enforce it, so the proxy connects to Target "
        "with an empty password, which only works if Target has no authentication (YAML key target_password)",
    ]
    assert [f.severity for f in findings] == ["error", "warning"]


def test_yaml_quoted_true_is_not_a_boolean_but_quoted_yes_is(tmp_path):
    path = tmp_path / "zdm.yaml"
    base = "origin_contact_points: a\ntarget_contact_points: b\n"
    base += "origin_username: u\norigin_password: p\ntarget_username: u\ntarget_password: p\n"
    path.write_text(base + 'metrics_enabled: "yes"\n')
    assert lint_file(path) == []
    path.write_text(base + 'metrics_enabled: "true"\n')
    assert messages(lint_file(path)) == [
        "ZDM_METRICS_ENABLED: 'true' is a quoted string, which the proxy's YAML decoder cannot put in a "
        "boolean (write it unquoted); the proxy refuses to start (YAML key metrics_enabled)"
    ]


# --- Kubernetes manifests -----------------------------------------------------------------------------------


def test_kubernetes_manifest_from_the_guide():
    path = FIXTURES / "guide-phase-b.yaml"
    settings, kind = load_settings(path)
    assert kind == "kubernetes"
    assert settings["ZDM_ORIGIN_CONTACT_POINTS"] == "cassandra-origin.db.svc.cluster.local"  # ConfigMap data
    assert settings["ZDM_PHASE"] == "B"  # container env
    assert settings["ZDM_ORIGIN_PASSWORD"] == UNKNOWN_VALUE  # secretKeyRef: set, value not in the file
    assert settings["ZDM_TARGET_PASSWORD"] == UNKNOWN_VALUE
    myths = [
        "ZDM_PHASE: not a zdm-proxy setting; the proxy silently ignores it (the proxy has no notion of "
        "migration phases: routing is ZDM_PRIMARY_CLUSTER plus ZDM_READ_MODE)",
        "ZDM_ASYNC_HANDOFF_ENABLED: not a zdm-proxy setting; the proxy silently ignores it (there is no "
        "hand-off switch: async dual reads are ZDM_READ_MODE=DUAL_ASYNC_ON_SECONDARY and serving reads "
        "from Target is ZDM_PRIMARY_CLUSTER=TARGET)",
        "ZDM_ENABLE_TARGET_WRITES: not a zdm-proxy setting; the proxy silently ignores it (writes always "
        "go to both clusters synchronously and cannot be switched off; routing is ZDM_PRIMARY_CLUSTER plus "
        "ZDM_READ_MODE)",
    ]
    assert messages(lint_file(path)) == myths
    assert messages(lint_file(path, phase=4)) == [
        *myths,
        "ZDM_PRIMARY_CLUSTER: phase 4 (route reads to Target) needs TARGET, but the proxy would use ORIGIN",
    ]


def test_kubernetes_env_overrides_configmap_and_flags_what_kubectl_or_the_proxy_rejects(tmp_path):
    path = tmp_path / "proxy.yaml"
    path.write_text(
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: zdm}
data:
  ZDM_READ_MODE: DUAL_ASYNC_ON_SECONDARY
  ZDM_ORIGIN_CONTACT_POINTS: 10.0.0.1
  ZDM_TARGET_CONTACT_POINTS: 10.0.0.2
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: zdm-proxy}
spec:
  template:
    spec:
      containers:
        - name: proxy
          image: datastax/zdm-proxy:2.0.x
          args: ["--config=/etc/zdm/zdm.yaml"]
          envFrom:
            - configMapRef: {name: zdm}
            - secretRef: {name: zdm-credentials}
          env:
            - name: ZDM_READ_MODE
              value: PRIMARY_ONLY
            - name: ZDM_ORIGIN_PORT
              value: 9042
            - name: ZDM_PROXY_LISTEN_ADDRESS
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
            - name: ZDM_PROXY_TOPOLOGY_ADDRESSES
              value: $(ZDM_PROXY_0_SERVICE_HOST)
"""
    )
    settings, kind = load_settings(path)
    assert kind == "kubernetes"
    assert settings["ZDM_READ_MODE"] == "PRIMARY_ONLY"  # env wins over envFrom
    assert settings["ZDM_PROXY_LISTEN_ADDRESS"] == UNKNOWN_VALUE
    assert settings["ZDM_PROXY_TOPOLOGY_ADDRESSES"] == UNKNOWN_VALUE
    findings = lint_file(path)
    assert messages(findings) == [
        "ZDM_ORIGIN_PORT: env value '9042' is not a string; Kubernetes rejects the manifest (quote it: "
        '"9042")',
        "--config: container 'proxy' starts the proxy with --config, so the proxy ignores every ZDM_* "
        "environment variable; put the settings in that YAML file instead",
        *(
            f"{name}: not set in this file; it may come from envFrom secretRef 'zdm-credentials', which is "
            "not in this file (the proxy refuses to start without it)"
            for name in (
                "ZDM_ORIGIN_USERNAME",
                "ZDM_ORIGIN_PASSWORD",
                "ZDM_TARGET_USERNAME",
                "ZDM_TARGET_PASSWORD",
            )
        ),
    ]
    assert [f.severity for f in findings] == ["error", "error", "warning", "warning", "warning", "warning"]


# --- the proxy's "Parsed configuration" log line ------------------------------------------------------------


def test_parsed_configuration_from_a_real_log_line():
    parsed = parsed_configuration_from_log((FIXTURES / "proxy-startup.log").read_text())
    assert parsed["PrimaryCluster"] == "ORIGIN" and parsed["ReadMode"] == "DUAL_ASYNC_ON_SECONDARY"
    assert "OriginPassword" not in parsed and "TargetPassword" not in parsed  # json:"-"
    assert len(parsed) == len(SETTINGS) - 2
    settings = parsed_configuration_to_settings(parsed)
    assert set(settings) == set(SETTINGS)
    assert settings["ZDM_ORIGIN_PASSWORD"] == UNKNOWN_VALUE
    assert settings["ZDM_PROXY_TOPOLOGY_INDEX"] == "1"
    assert settings["ZDM_METRICS_ENABLED"] == "true"
    assert settings["ZDM_HEARTBEAT_RETRY_BACKOFF_FACTOR"] == "2"
    assert settings["ZDM_ORIGIN_SECURE_CONNECT_BUNDLE_PATH"] == ""
    assert lint_settings(settings) == []
    assert lint_settings(settings, phase=3) == []
    assert load_settings(FIXTURES / "proxy-startup.log")[1] == "proxy-log"
    assert messages(lint_file(FIXTURES / "proxy-startup.log", phase=4)) == [
        "ZDM_PRIMARY_CLUSTER: phase 4 (route reads to Target) needs TARGET, but the proxy would use ORIGIN",
        "ZDM_READ_MODE: phase 4 (route reads to Target) needs PRIMARY_ONLY, but the proxy would use "
        "DUAL_ASYNC_ON_SECONDARY",
    ]


def test_parsed_configuration_in_the_terminal_log_format():
    parsed = parsed_configuration_from_log((FIXTURES / "proxy-startup.log").read_text())
    line = (
        f"INFO[0000] Parsed configuration: {json.dumps(parsed, separators=(',', ':'))}\nINFO[0000] next line"
    )
    assert parsed_configuration_from_log(line) == parsed


def test_parsed_configuration_of_something_else_is_refused():
    with pytest.raises(ZdmError, match="not a zdm-proxy 'Parsed configuration' object"):
        parsed_configuration_to_settings({"level": "info", "msg": "hello"})
    with pytest.raises(ZdmError, match="no 'Parsed configuration:' line"):
        parsed_configuration_from_log('time="x" level=info msg="Starting ZDM proxy version 2.4.1"')


# --- files that are not a configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("", "expected an env file"),
        ("services:\n  proxy:\n    image: datastax/zdm-proxy\n", "are none of those"),
        ("PATH=/usr/bin\nHOME=/root\n", "this env file sets no ZDM_\\* variable"),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: zdm}\n", "these Kubernetes manifests set no ZDM_"),
        ("key: [unclosed\n", "it is not valid YAML \\(line 2\\)"),
        ("- just\n- a list\n", "expected an env file"),
    ],
)
def test_not_a_configuration_is_a_one_line_zdm_error(tmp_path, content, detail):
    path = tmp_path / "input.txt"
    path.write_text(content)
    with pytest.raises(ZdmError, match=detail) as info:
        load_settings(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_broken_proxy_log_names_the_path(tmp_path):
    path = tmp_path / "proxy.log"
    path.write_text('time="x" level=info msg="Parsed configuration: {\\"PrimaryCluster\\":"\n')
    with pytest.raises(
        ZdmError, match=r"proxy.log: the 'Parsed configuration:' line does not hold valid JSON"
    ):
        load_settings(path)


def test_unterminated_quote_names_the_line(tmp_path):
    path = tmp_path / "zdm.env"
    path.write_text('ZDM_ORIGIN_USERNAME=app\nZDM_ORIGIN_PASSWORD="oops\n')
    with pytest.raises(ZdmError, match=r"zdm.env:2: unterminated quote in the value of ZDM_ORIGIN_PASSWORD"):
        load_settings(path)


def test_missing_file_is_a_zdm_error(tmp_path):
    with pytest.raises(ZdmError, match="cannot read the configuration file"):
        load_settings(tmp_path / "absent.env")


# --- secrets ------------------------------------------------------------------------------------------------


def test_is_secret():
    assert is_secret("ZDM_ORIGIN_PASSWORD") and is_secret("ZDM_TARGET_PASSWORD")
    assert is_secret("ZDM_ORIGIN_PASWORD") and is_secret("ZDM_API_TOKEN") and is_secret("MY_SECRET")
    assert not is_secret("ZDM_PROXY_TOPOLOGY_NUM_TOKENS")  # a real, non-secret setting
    assert not is_secret("ZDM_ORIGIN_TLS_CLIENT_KEY_PATH") and not is_secret("ZDM_ORIGIN_USERNAME")


def test_no_password_value_appears_in_any_finding(tmp_path):
    texts: list[str] = []
    settings = good()
    # misspelt password variables, passwords where other values belong, a password-like unknown variable
    faulty = {
        **settings,
        "ZDM_ORIGIN_PASWORD": PASSWORDS[0],
        "ZDM_SECRET": PASSWORDS[1],
        "ZDM_API_TOKEN": PASSWORDS[0],
        "ZDM_PHASE": "B",
    }
    del faulty["ZDM_TARGET_CONTACT_POINTS"]
    for phase in (None, 1, 3, 4, 5):
        texts += messages(lint_settings(faulty, phase=phase))
    yaml_config = tmp_path / "zdm.yaml"
    yaml_config.write_text(
        f"origin_contact_points: a\ntarget_contact_points: b\norigin_username: u\ntarget_username: u\n"
        f"origin_password: [{PASSWORDS[0]}]\ntarget_password: {{x: {PASSWORDS[1]}}}\n"
        f"origin_pasword: {PASSWORDS[0]}\n"
    )
    texts += messages(lint_file(yaml_config, phase=4))
    manifest = tmp_path / "k8s.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: proxy\n      "
        "env:\n"
        "        - {name: ZDM_ORIGIN_PASSWORD, value: 123456789}\n"
        "        - {name: ZDM_TARGET_PASSWORD, value: 987654321}\n"
        f"        - {{name: ZDM_ORIGIN_PASWORD, value: '{PASSWORDS[1]}'}}\n"
        "        - {name: ZDM_TARGET_PASWORD, value: 55555555}\n"
    )
    texts += messages(lint_file(manifest))
    assert len(texts) > 15
    for text in texts:
        for secret in (*PASSWORDS, "123456789", "987654321", "55555555"):
            assert secret not in text, text
    assert any("ZDM_ORIGIN_PASSWORD: env value the value (hidden) is not a string" in text for text in texts)
