"""The plugin's options through pytest itself (pytester): registration, ini/CLI precedence, usage errors."""

from __future__ import annotations

import pytest

SHOW_SETTINGS = """
def test_show(zdm_settings):
    print("SETTING", zdm_settings.zdm_cassandra_heap, zdm_settings.zdm_keep, zdm_settings.zdm_read_mode)
"""


def test_every_setting_is_a_command_line_option(pytester):
    result = pytester.runpytest("--help")
    for option in ("--zdm-target", "--zdm-keep", "--zdm-cache-dir", "--zdm-proxy-binary", "--zdm-fast-boot"):
        result.stdout.fnmatch_lines([f"*{option}*"])
    result.stdout.fnmatch_lines(["*pytest-zdm*", "*zdm_target (string)*"])


def test_unknown_target_is_a_usage_error_listing_the_valid_ones(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--zdm-target=kind8")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: zdm_target: expected one of local, kind, kube, static, docker, got 'kind8'"]
    )
    assert "Traceback" not in result.stderr.str()


def test_unknown_target_in_ini_is_a_usage_error_too(pytester):
    pytester.makeini("[pytest]\nzdm_target = astra\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: zdm_target: expected one of local, kind, kube, static, docker, got 'astra'"]
    )


def test_ini_value_is_used_and_the_command_line_overrides_it(pytester):
    pytester.makeini("[pytest]\nzdm_cassandra_heap = 512M\nzdm_read_mode = DUAL_ASYNC_ON_SECONDARY\n")
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(["*SETTING 512M False DUAL_ASYNC_ON_SECONDARY"])
    result = pytester.runpytest("-s", "--zdm-cassandra-heap=1G", "--zdm-keep")
    result.stdout.fnmatch_lines(["*SETTING 1G True DUAL_ASYNC_ON_SECONDARY"])


def test_bool_option_takes_an_explicit_false(pytester):
    pytester.makeini("[pytest]\nzdm_keep = true\n")
    pytester.makepyfile(SHOW_SETTINGS)
    pytester.runpytest("-s", "--zdm-keep=false").stdout.fnmatch_lines(["*SETTING 256M False *"])


def test_bad_value_is_a_one_line_usage_error(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--zdm-startup-timeout=forever")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: zdm_startup_timeout: expected a number of seconds, got 'forever'"])


def test_report_header_shows_target_endpoints_and_versions(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_ZDM_PROXY_BINARY", raising=False)
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "zdm: target local, run dir *",
            "zdm: endpoints (planned) origin 127.0.0.1:*, target 127.0.0.1:*, proxy 127.0.0.1:*, "
            "proxy health/metrics http://127.0.0.1:*",
            "zdm: Cassandra 5.0.6 (Maven jars), zdm-proxy commit 02d423db4da1 (go install*), primary ORIGIN, "
            "read mode PRIMARY_ONLY, CQL protocol v4",
        ]
    )
    result = pytester.runpytest("--zdm-proxy-binary=/bin/sh", "--zdm-primary-cluster=target")
    result.stdout.fnmatch_lines(
        ["zdm: Cassandra 5.0.6 (Maven jars), zdm-proxy binary /bin/sh, primary TARGET, *"]
    )


def test_a_run_that_needs_no_environment_starts_none(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "starting origin" not in result.stdout.str()
    assert not (pytester.path / "reports" / "runs").exists() or not any(
        (d / "request.json").exists() for d in (pytester.path / "reports" / "runs").iterdir()
    )


def test_a_provisioning_failure_is_one_line_and_stops_the_run(pytester, tmp_path):
    empty = tmp_path / "jars"
    empty.mkdir()
    pytester.makepyfile(
        "import pytest\n"
        "def test_a(zdm_env): pass\n"
        "def test_b(proxy_session): pass\n"
        "def test_c(): pytest.skip('not applicable here')\n"
    )
    result = pytester.runpytest_subprocess(f"--zdm-cassandra-classpath={empty}")
    result.assert_outcomes(errors=1)  # the other checks would fail alike: the run stops
    result.stdout.fnmatch_lines(
        [
            "*zdm verification*",
            "ERROR test_a_provisioning_failure*::test_a: *zdm environment unavailable*",
            "the run stopped early: the zdm environment did not start (see the zdm environment section)",
            "checks: 0 passed, 1 failed, 0 skipped, 2 not run *",
            "not verified: 3 of 3 checks did not pass",
        ]
    )
    # Once in the check's error, its line in "zdm verification", the "zdm environment" section and pytest's
    # short summary (when the terminal is wide enough): never once per check (3 checks here).
    assert result.stdout.str().count("no cassandra-all / apache-cassandra jar") <= 4, "not once per check"
    result.stdout.fnmatch_lines(
        ["*zdm environment unavailable: zdm_cassandra_classpath *: no cassandra-all / apache-cassandra jar*"]
    )
    assert "Traceback" not in result.stdout.str()
    assert result.stdout.str().count("starting origin") == 0
