"""Settings: one name per setting, CLI > environment > ini > default, one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_zdm.errors import SettingError
from pytest_zdm.settings import CASSANDRA_VERSION, OPTIONS, Settings, readme_table, resolve

ROOT = Path("/project")


def settings(cli=None, ini=None, environ=None) -> Settings:
    return resolve(cli=cli or {}, ini=ini or {}, environ=environ or {}, rootdir=ROOT)


def test_defaults():
    s = settings()
    assert s.zdm_target == "local"
    assert s.zdm_keep is False
    assert s.zdm_fast_boot is True
    assert s.zdm_cassandra_version == CASSANDRA_VERSION
    assert s.zdm_run_dir == ROOT / "reports" / "runs"
    assert s.zdm_primary_cluster == "ORIGIN" and s.zdm_read_mode == "PRIMARY_ONLY"
    assert all(source == "default" for source in s.sources.values())


def test_cli_beats_environment_beats_ini():
    ini = {"zdm_cassandra_heap": "512M", "zdm_run_dir": "ini-runs"}
    env = {"PYTEST_ZDM_RUN_DIR": "/env-runs"}
    s = settings(cli={"zdm_run_dir": "/cli-runs"}, ini=ini, environ=env)
    assert s.zdm_run_dir == Path("/cli-runs") and s.sources["zdm_run_dir"] == "command line"
    s = settings(ini=ini, environ=env)
    assert s.zdm_run_dir == Path("/env-runs") and s.sources["zdm_run_dir"] == "environment PYTEST_ZDM_RUN_DIR"
    s = settings(ini=ini)
    assert s.zdm_run_dir == ROOT / "ini-runs" and s.zdm_cassandra_heap == "512M"


def test_explicit_false_on_the_command_line_overrides_true_in_ini():
    s = settings(cli={"zdm_fast_boot": "false"}, ini={"zdm_fast_boot": "true"})
    assert s.zdm_fast_boot is False


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("zdm_target", "kind8", "zdm_target: expected one of local, kind, kube, static, docker, got 'kind8'"),
        ("zdm_keep", "maybe", "zdm_keep: expected true or false, got 'maybe'"),
        ("zdm_startup_timeout", "soon", "zdm_startup_timeout: expected a number of seconds, got 'soon'"),
        (
            "zdm_startup_timeout",
            "-3",
            "zdm_startup_timeout: expected a positive number of seconds (at most 86400), got '-3'",
        ),
        ("zdm_cassandra_heap", "64M", "zdm_cassandra_heap: expected at least 128M"),
        (
            "zdm_read_mode",
            "ASYNC_READS_ON_SECONDARY",
            "zdm_read_mode: expected one of PRIMARY_ONLY, "
            "DUAL_ASYNC_ON_SECONDARY, got 'ASYNC_READS_ON_SECONDARY'",
        ),
        ("zdm_proxy_binary", "/nonexistent/proxy", "zdm_proxy_binary: expected the path of an existing file"),
        ("zdm_protocol_version", "6", "zdm_protocol_version: expected one of 3, 4, 5, got '6'"),
        ("zdm_kube_namespace", "Prod_NS", "zdm_kube_namespace: expected a Kubernetes name"),
        ("zdm_kind_cluster", "my cluster", "zdm_kind_cluster: expected a Kubernetes name"),
        ("zdm_kube_cql_port", "99999", "zdm_kube_cql_port: expected a TCP port number 1..65535, got '99999'"),
        ("zdm_kube_proxy_selector", "app", "zdm_kube_proxy_selector: expected a label selector such as"),
        ("zdm_kube_proxy_selector", "app=zdm proxy", "zdm_kube_proxy_selector: expected a label selector"),
        ("zdm_kube_forward_timeout", "0", "zdm_kube_forward_timeout: expected a positive number of seconds"),
        ("zdm_docker_network", "overlay", "zdm_docker_network: expected one of bridge, host, got 'overlay'"),
        (
            "zdm_docker_cassandra_image",
            "My Cassandra",
            "zdm_docker_cassandra_image: expected a container image reference such as cassandra:5.0",
        ),
    ],
)
def test_bad_values_name_the_setting_and_what_was_expected(name, raw, expected):
    with pytest.raises(SettingError) as err:
        settings(cli={name: raw})
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_cassandra_home_and_classpath_are_exclusive(tmp_path):
    with pytest.raises(SettingError, match="at most one of them"):
        settings(cli={"zdm_cassandra_home": str(tmp_path), "zdm_cassandra_classpath": str(tmp_path)})


def test_docker_images_and_network_come_from_the_environment_as_ci_sets_them():
    assert settings().zdm_docker_cassandra_image == "cassandra:5.0"
    s = settings(
        environ={
            "PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE": "pytest-zdm/cassandra:5.0.6",
            "PYTEST_ZDM_DOCKER_NETWORK": "host",
        }
    )
    assert s.zdm_docker_cassandra_image == "pytest-zdm/cassandra:5.0.6" and s.zdm_docker_network == "host"


def test_json_round_trip_for_the_supervisor():
    s = settings(cli={"zdm_keep": "yes", "zdm_cassandra_heap": "1g"})
    back = Settings.from_json(s.to_json()).with_secrets(s.secrets())
    assert back == s
    assert isinstance(back.zdm_run_dir, Path)


def test_settings_reference_lists_every_setting_and_matches_docs():
    table = readme_table()
    for opt in OPTIONS:
        shown = f"`{opt.cli}`" if opt.on_command_line else "never (secret)"
        assert f"`{opt.name}` | {shown}" in table
    reference = (Path(__file__).parent.parent / "docs" / "settings.md").read_text()
    assert table in reference, "docs/settings.md is stale: paste the output of `zdm-verify settings`"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4.0", "4.0.19"),
        ("4.1.x", "4.1.10"),
        ("5.0", CASSANDRA_VERSION),
        ("4.1.9", "4.1.9"),
        ("5.0.8", "5.0.8"),
    ],
)
def test_cassandra_versions_by_line_or_exact_release(raw, expected):
    s = settings(cli={"zdm_origin_cassandra_version": raw})
    assert s.cassandra_version("origin") == expected
    assert s.cassandra_version("target") == CASSANDRA_VERSION  # default: zdm_cassandra_version


def test_both_clusters_follow_zdm_cassandra_version_unless_named():
    s = settings(cli={"zdm_cassandra_version": "4.1"})
    assert (s.cassandra_version("origin"), s.cassandra_version("target")) == ("4.1.10", "4.1.10")
    s = settings(cli={"zdm_cassandra_version": "4.1", "zdm_target_cassandra_version": "5.0"})
    assert (s.cassandra_version("origin"), s.cassandra_version("target")) == ("4.1.10", CASSANDRA_VERSION)
    assert Settings.from_json(s.to_json()).cassandra_version("origin") == "4.1.10"


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("zdm_origin_cassandra_version", "3.11", "zdm_origin_cassandra_version: expected a Cassandra line "
         "4.0 (4.0.19), 4.1 (4.1.10), 5.0 (5.0.6) or an exact release of one of them such as 5.0.6, "
         "got '3.11'"),
        ("zdm_target_cassandra_version", "latest", "zdm_target_cassandra_version: expected a Cassandra line"),
        ("zdm_java", "4.2=/usr/bin/java", "zdm_java: expected Cassandra lines 4.0, 4.1, 5.0 as keys"),
        ("zdm_java", "4.1", "zdm_java: expected comma-separated NAME=VALUE pairs, got '4.1'"),
        ("zdm_java", "4.1=/nonexistent/jdk", "zdm_java: expected a java executable or a JAVA_HOME holding "
         "bin/java for 4.1, got '/nonexistent/jdk'"),
    ],
)  # fmt: skip
def test_bad_versions_and_java_are_one_line_errors(name, raw, expected):
    with pytest.raises(SettingError) as err:
        settings(cli={name: raw})
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_java_per_line_accepts_an_executable_or_a_java_home(tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    s = settings(environ={"PYTEST_ZDM_JAVA": f"4.0={home},4.1.x={java}"})
    assert s.zdm_java == {"4.0": str(java), "4.1": str(java)}


def test_versions_per_cluster_refuse_one_installation_for_both(tmp_path):
    with pytest.raises(
        SettingError, match="zdm_origin_cassandra_version: expected without zdm_cassandra_home"
    ):
        settings(cli={"zdm_origin_cassandra_version": "4.1", "zdm_cassandra_home": str(tmp_path)})
