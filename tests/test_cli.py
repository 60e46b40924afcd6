"""The interface's consistency: zdm-verify's subcommands, phases spelled one way, secrets never as values.

Each subcommand takes only its own options and shows their defaults; a bad value is a usage error (exit 2,
one line, no traceback); the plugin refuses a secret given on the command line or in an ini file; a dry
run (``--collect-only``) never overwrites a gate's verdict; target header lines print once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_zdm


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_zdm.cli", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
    )  # fmt: skip


def test_version() -> None:
    result = _cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"zdm-verify {pytest_zdm.__version__}"


def test_each_subcommand_takes_only_its_own_options_and_shows_defaults() -> None:
    provision = _cli("provision", "--help").stdout
    assert "--zdm-proxy-source" in provision and "--zdm-gate" not in provision
    assert "(default: 02d423db4da1" in provision, "defaults are shown"
    down = _cli("down", "--help").stdout
    assert "--zdm-cache-dir" in down and "--zdm-target" not in down
    refused = _cli("down", "--zdm-cassandra-heap=1G")
    assert refused.returncode == 2 and "unrecognized arguments: --zdm-cassandra-heap=1G" in refused.stderr
    up = _cli("up", "--help").stdout
    assert "--zdm-target" in up and "--zdm-budget-error-rate" not in up
    assert not re.search(r"--zdm-origin-password\b(?!-file)", up), "a secret is never an option"
    assert "(default: None)" not in up


def test_a_bad_value_is_a_usage_error_of_one_line() -> None:
    result = _cli("up", "--zdm-cassandra-heap=lots")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "zdm-verify up: error: zdm_cassandra_heap: expected a JVM heap size such as 256M or 1G, got 'lots'"
    )


@pytest.mark.parametrize("phase", ["4", "route-reads", "phase-4", "Route_Reads"])
def test_lint_config_takes_phases_as_the_plugin_does(phase: str, tmp_path: Path) -> None:
    config = tmp_path / "proxy.env"
    config.write_text("ZDM_PRIMARY_CLUSTER=ORIGIN\nZDM_READ_MODE=PRIMARY_ONLY\n")
    result = _cli("lint-config", str(config), f"--phase={phase}")
    assert "phase 4" in result.stdout and "ZDM_PRIMARY_CLUSTER" in result.stdout, result.stdout


def test_a_phase_that_does_not_exist_is_a_usage_error_everywhere(pytester: pytest.Pytester) -> None:
    lint = _cli("lint-config", "nowhere.env", "--phase=9")
    assert lint.returncode == 2 and "expected a ZDM phase 1 (deploy-proxy)" in lint.stderr
    for option in ("--zdm-phase=9", "--zdm-gate=9", "--zdm-phase=²"):
        result = pytester.runpytest(option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: zdm_*: expected a ZDM phase 1 (deploy-proxy)*"])
    result = pytester.runpytest("--zdm-phase=connect-to-target")
    result.stderr.fnmatch_lines(
        ["ERROR: zdm_phase: phase 5 (connect-to-target) has no proxy; expected 1 to 4*"]
    )


def test_a_secret_on_the_command_line_or_in_an_ini_file_is_refused(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--zdm-origin-password=hunter22")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: zdm_origin_password: a secret is never a command-line or ini value*ORIGIN_PASSWORD*"]
    )
    assert "hunter22" not in result.stderr.str() + result.stdout.str()
    pytester.makeini("[pytest]\nzdm_target_password = hunter22\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "hunter22" not in result.stderr.str() + result.stdout.str()
    pytester.makeini("[pytest]\nzdm_proxy_env = ZDM_ORIGIN_PASSWORD=hunter22\n")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(
        ["ERROR: zdm_proxy_env: ZDM_ORIGIN_PASSWORD holds a secret*PYTEST_ZDM_PROXY_ENV*"]
    )


def test_a_password_comes_from_its_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    secret = tmp_path / "origin-password"
    secret.write_text("from-a-file\n")
    pytester.makepyfile(
        "def test_pw(zdm_settings):\n    assert zdm_settings.zdm_origin_password == 'from-a-file'\n"
    )
    pytester.makeini(f"[pytest]\nzdm_origin_password_file = {secret}\n")
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0


def test_boolean_ini_options_are_booleans(pytester: pytest.Pytester) -> None:
    assert "zdm_keep (bool)" in pytester.runpytest("--help").stdout.str()
    pytester.makeini("[pytest]\nzdm_keep = maybe\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: zdm_keep: expected true or false, got 'maybe'"])


def test_a_collect_only_run_leaves_the_gate_verdict_alone(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nzdm_builtin_suites = false\n")
    pytester.makepyfile("import pytest\n@pytest.mark.zdm_required_for(1)\ndef test_x():\n    pass\n")
    verdict = pytester.path / "reports" / "gate.json"
    verdict.parent.mkdir()
    verdict.write_text('{"verdict": "PASS"}')
    result = pytester.runpytest("--collect-only", "--zdm-gate=1", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert json.loads(verdict.read_text()) == {"verdict": "PASS"}


def test_a_targets_header_lines_print_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZDM_TEST_PW", "not-used-here")
    cluster = (
        'contact_points = ["127.0.0.1:9"]\nlocal_dc = "dc1"\nusername = "u"\npassword_env = "ZDM_TEST_PW"\n'
    )
    pytester.makefile(
        ".toml",
        zdm=f"[origin]\n{cluster}[target]\n{cluster}"
        '[proxy]\ncontact_points = ["127.0.0.1:9"]\nmetrics_url = "http://127.0.0.1:9"\n',
    )
    test = pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(test, "--zdm-target=static", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    header = [line for line in result.stdout.lines if line.startswith("zdm: endpoints from")]
    assert len(header) == 1, result.stdout.str()


def test_init_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    assert _cli("init", str(tmp_path / "p")).returncode == 0
    again = _cli("init", str(tmp_path / "p"))
    assert again.returncode == 2 and "exists; expected a new or empty project directory" in again.stderr
    assert _cli("init", str(tmp_path / "p"), "--force", "--target=static", "--ci=gitlab").returncode == 0
    ini = (tmp_path / "p" / "pytest.ini").read_text()
    assert "zdm_target = static" in ini and "zdm_static_config = zdm.toml" in ini
    assert (tmp_path / "p" / ".gitlab-ci.yml").is_file()
    assert os.access(tmp_path / "p" / "checks" / "test_my_application.py", os.R_OK)
