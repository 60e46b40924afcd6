"""pytest-zdm as a user gets it: a wheel built from this repository, installed into a fresh virtualenv.

The wheel must carry the built-in suites and their data; in an empty directory outside the repository,
``pytest --zdm-target=local --zdm-gate=1`` runs every built-in suite against a real environment and the gate
says PASS; ``zdm-verify init`` writes a project in which ``pytest`` works as written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from pytest_zdm.environment import ZdmEnv
from pytest_zdm.settings import Settings

from .helpers import junit_outcomes, local_environment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 1500


def test_every_package_directory_is_in_the_wheel_list() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "pytest_zdm").rglob("__init__.py")}
    assert on_disk | {"pytest_zdm.suites", "pytest_zdm.fixtures"} == listed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel for the whole run, built under a lock: ``build`` writes ``build/`` and the egg-info inside
    the checkout, and two xdist workers building at once broke each other's build."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, common to its workers (not to other runs)
    out = shared / "dist"
    with FileLock(str(shared / "wheel-build.lock")):
        if not list(out.glob("pytest_zdm-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                check=True, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
    (found,) = out.glob("pytest_zdm-*.whl")
    return found


def test_the_wheel_carries_the_suites_their_data_and_types_but_no_project_tooling(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for suite in (ROOT / "suites").glob("test_*.py"):
        assert f"pytest_zdm/suites/{suite.name}" in names
    for data in (ROOT / "fixtures").glob("*.cql"):
        assert f"pytest_zdm/fixtures/{data.name}" in names
    assert "pytest_zdm/py.typed" in names
    assert "pytest_zdm/report/templates/signoff.html.j2" in names, "the sign-off page's template"
    assert not [n for n in names if n.startswith(("tooling/", "tests/", "suites/", "fixtures/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    for field in ("License:", "Project-URL: Documentation", "Requires-Python: >=3.10", "Classifier: Typing"):
        assert field in text, field
    entry_points = zipfile.ZipFile(wheel).read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert "zdm = pytest_zdm.plugin" in entry_points and "zdm-verify = pytest_zdm.cli:main" in entry_points


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel (and pytest-xdist, as the README installs it); its bin dir."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True)
    pip = [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, str(wheel), "pytest-xdist"], check=True, capture_output=True, text=True, timeout=900
    )
    return home / "bin"


def _run_logs(project: Path) -> dict[str, str]:
    """The tails of a nested run's supervisor, node and proxy logs: evidence when its check fails."""
    logs = {}
    for name in ("supervisor.log", "progress.log", "proxy/proxy.log", "origin/logs/system.log",
                 "target/logs/system.log"):  # fmt: skip
        for path in (project / "reports" / "runs").glob(f"*/{name}"):
            logs[str(path.relative_to(project))] = path.read_text(errors="replace")[-1500:]
    return logs


def _run(
    bin_dir: Path, args: list[str], cwd: Path, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_installed_cli_reports_its_version(installed: Path, tmp_path: Path) -> None:
    import pytest_zdm

    result = _run(installed, [str(installed / "zdm-verify"), "--version"], tmp_path)
    assert result.stdout.strip() == f"zdm-verify {pytest_zdm.__version__}"


def test_an_empty_directory_collects_the_builtin_suites(installed: Path, tmp_path: Path) -> None:
    result = _run(
        installed, [str(installed / "pytest"), "--zdm-target=local", "--collect-only", "-q"], tmp_path
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for suite in ("test_connection.py", "test_dual_write.py", "test_error_recovery.py", "test_end_to_end.py"):
        assert suite in result.stdout
    assert not (tmp_path / "reports" / "gate.json").exists()


@pytest.mark.integration
@pytest.mark.usefixtures("proxy_available")
def test_in_an_empty_directory_the_builtin_suites_pass_the_phase_1_gate(
    installed: Path, tmp_path: Path
) -> None:
    result = _run(
        installed,
        [str(installed / "pytest"), "--zdm-target=local", "--zdm-gate=1", "-p", "no:cacheprovider",
         "--junitxml=junit.xml"],
        tmp_path,
    )  # fmt: skip
    gate = json.loads((tmp_path / "reports" / "gate.json").read_text())
    assert gate["verdict"] == "PASS", gate["reasons"][:10]
    assert result.returncode == 0, result.stdout[-3000:]
    suites = {check["suite"] for check in gate["checks"]}
    assert {"test_connection", "test_dual_write"} <= suites and len(gate["checks"]) >= 25
    assert gate["zdm_proxy_commit"], "the gate says which zdm-proxy commit it verified"
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    assert len(outcomes) >= 40 and "FAILED" not in {o for o, _ in outcomes.values()}


@pytest.mark.integration
@pytest.mark.usefixtures("proxy_available")
def test_a_project_written_by_init_runs_as_written(installed: Path, tmp_path: Path) -> None:
    project = tmp_path / "our-verification"
    made = _run(installed, [str(installed / "zdm-verify"), "init", str(project)], tmp_path)
    assert made.returncode == 0, made.stderr
    result = _run(installed, [str(installed / "pytest"), "--zdm-gate=1", "-p", "no:cacheprovider"], project)
    gate = json.loads((project / "reports" / "gate.json").read_text())
    ours = [c for c in gate["checks"] if c["suite"] == "test_my_application"]
    assert ours and ours[0]["outcome"] == "passed", (ours, result.stdout[-6000:], _run_logs(project))
    assert gate["verdict"] == "PASS", gate["reasons"][:10]
    assert result.returncode == 0, result.stdout[-3000:]
    assert (project / "reports" / "verification.xml").is_file()
    assert list((project / "reports" / "allure-results").glob("*-result.json"))


# --- a migration the framework did not build: static target, a team's keyspace and role, rehearsals -------

TEAM_KEYSPACE = "team_ks"
TEAM_PASSWORD = "verifier-Passw0rd-42"
DESTRUCTIVE_CHECKS = {
    "test_node_down_is_reported_and_writes_fail_until_it_returns[target]",
    "test_node_down_is_reported_and_writes_fail_until_it_returns[origin]",
    "test_proxy_restart_clients_reconnect",
    "test_hung_node_gives_a_client_timeout_and_a_partial_write",
}


def _schema(env: ZdmEnv) -> dict[str, tuple[set[str], set[str], set[str], set[str]]]:
    """Keyspaces, tables, types and roles of each cluster (as the superuser), to prove nothing else moved."""
    found = {}
    for cluster in ("origin", "target"):
        client = env.connect(cluster)
        try:
            run = client.session.execute
            found[cluster] = (
                {r.keyspace_name for r in run("SELECT keyspace_name FROM system_schema.keyspaces")},
                {
                    f"{r.keyspace_name}.{r.table_name}"
                    for r in run("SELECT keyspace_name, table_name FROM system_schema.tables")
                },
                {
                    f"{r.keyspace_name}.{r.type_name}"
                    for r in run("SELECT keyspace_name, type_name FROM system_schema.types")
                },
                {r.role for r in run("SELECT role FROM system_auth.roles")},
            )
        finally:
            client.close()
    return found


def _prepare_team(env: ZdmEnv) -> None:
    """What a team has before the framework arrives: its keyspace, a table of its own, a limited role."""
    for cluster in ("origin", "target"):
        client = env.connect(cluster)
        try:
            run = client.session.execute
            run(
                f"CREATE KEYSPACE IF NOT EXISTS {TEAM_KEYSPACE} WITH replication = "
                "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}"
            )
            run(f"CREATE TABLE IF NOT EXISTS {TEAM_KEYSPACE}.customers (id int PRIMARY KEY, name text)")
            run(f"INSERT INTO {TEAM_KEYSPACE}.customers (id, name) VALUES (1, 'Ada')")
            run(f"CREATE ROLE IF NOT EXISTS verifier WITH PASSWORD = '{TEAM_PASSWORD}' AND LOGIN = true")
            run(f"GRANT ALL PERMISSIONS ON KEYSPACE {TEAM_KEYSPACE} TO verifier")
        finally:
            client.close()


def _write_team_files(project: Path, env: ZdmEnv, proxy_settings: dict[str, str]) -> None:
    """zdm.toml (endpoints, the limited role, the team's keyspace, the proxy's configuration and log)."""
    info = env.info
    (project / "proxy.env").write_text("".join(f"{k}={v}\n" for k, v in proxy_settings.items()))
    cluster = 'local_dc = "datacenter1"\nusername = "verifier"\npassword_env = "TEAM_PASSWORD"\n'
    (project / "zdm.toml").write_text(
        f'keyspace = "{TEAM_KEYSPACE}"\n'
        f'[origin]\ncontact_points = ["{info.origin.host}:{info.origin.port}"]\n{cluster}'
        f'[target]\ncontact_points = ["{info.target_cluster.host}:{info.target_cluster.port}"]\n{cluster}'
        f'[proxy]\ncontact_points = ["{info.proxy.host}:{info.proxy.port}"]\n'
        f'metrics_url = "{info.proxy_http}"\nconfig = "proxy.env"\nlog = "{info.logs["proxy"]}"\n'
    )


def _gate(installed: Path, cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    gate_file = cwd / "reports" / "gate.json"
    gate_file.unlink(missing_ok=True)
    result = _run(installed, [str(installed / "pytest"), "-p", "no:cacheprovider", *args], cwd)
    assert gate_file.is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    return result, json.loads(gate_file.read_text())


def _not_passed(gate: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"].split("::")[-1]: c["reason"] for c in gate["checks"] if c["outcome"] != "passed"}


@pytest.mark.integration
@pytest.mark.usefixtures("proxy_available")
def test_a_migration_the_framework_did_not_build_is_gated_with_the_teams_role_and_rehearsals(
    installed: Path, zdm_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running deployment described in zdm.toml (proxy configuration and log named), reached with a role
    that may touch one pre-created keyspace only (no CREATE KEYSPACE, as on Astra), from a project outside
    the repository with the installed package: phase 1 PASS; phase 4 INCOMPLETE naming the destructive
    checks and how to cover them; PASS with a rehearsal of the same proxy settings on the local target;
    INCOMPLETE naming the difference with a rehearsal of another read mode. Nothing outside the team's
    keyspace changes, and the team's own table keeps its row."""
    monkeypatch.setenv("TEAM_PASSWORD", TEAM_PASSWORD)
    with local_environment(zdm_settings, tmp_path / "deployment") as env:
        _prepare_team(env)
        before = _schema(env)
        team = tmp_path / "team-verification"
        team.mkdir()
        # The team names its own table: phase 4 (cut-over) requires it identical on both clusters.
        static = ["--zdm-target=static", "--zdm-static-config=zdm.toml",
                  f"--zdm-compare-tables={TEAM_KEYSPACE}.customers"]  # fmt: skip
        _write_team_files(team, env, dict(env.info.proxy_settings))

        result, gate = _gate(installed, team, *static, "--zdm-gate=1")
        assert gate["verdict"] == "PASS", gate["reasons"][:8]
        assert TEAM_PASSWORD not in result.stdout + (team / "reports" / "gate.json").read_text()

        phase3 = {**env.info.proxy_settings, "ZDM_READ_MODE": "DUAL_ASYNC_ON_SECONDARY"}
        env.reconfigure_proxy({"ZDM_READ_MODE": "DUAL_ASYNC_ON_SECONDARY"})  # the deployment enters phase 3
        _write_team_files(team, env, phase3)
        _, gate = _gate(installed, team, *static, "--zdm-gate=4")
        assert gate["verdict"] == "INCOMPLETE"
        missing = _not_passed(gate)
        assert set(missing) == DESTRUCTIVE_CHECKS, missing
        assert all("--zdm-rehearsal=PATH" in reason for reason in missing.values()), missing

        rehearsal = tmp_path / "rehearsal"
        rehearsal.mkdir()
        destructive = ["--zdm-target=local", "--zdm-gate=4", "-m", "zdm_destructive"]
        _, rehearsed = _gate(installed, rehearsal, *destructive, f"--zdm-proxy-config={team / 'proxy.env'}")
        assert not set(_not_passed(rehearsed)) & DESTRUCTIVE_CHECKS, _not_passed(rehearsed)
        _, gate = _gate(
            installed, team, *static, "--zdm-gate=4", f"--zdm-rehearsal={rehearsal / 'reports' / 'gate.json'}"
        )
        assert gate["verdict"] == "PASS", gate["reasons"][:8]
        assert gate["rehearsal"]["accepted"] and len(gate["rehearsal"]["covered"]) == len(DESTRUCTIVE_CHECKS)
        assert {c["outcome"] for c in gate["checks"]} == {"passed", "rehearsed"}

        other = tmp_path / "other-rehearsal"
        other.mkdir()
        (other / "proxy.env").write_text(
            (team / "proxy.env").read_text().replace("DUAL_ASYNC_ON_SECONDARY", "PRIMARY_ONLY")
        )
        _gate(
            installed,
            other,
            *destructive,
            "-k",
            "test_proxy_restart",
            f"--zdm-proxy-config={other / 'proxy.env'}",
        )
        _, gate = _gate(
            installed, team, *static, "--zdm-gate=4", "-m", "zdm_destructive",
            f"--zdm-rehearsal={other / 'reports' / 'gate.json'}",
        )  # fmt: skip
        assert gate["verdict"] == "INCOMPLETE" and not gate["rehearsal"]["accepted"]
        assert any(
            "ZDM_READ_MODE=PRIMARY_ONLY in the rehearsal, DUAL_ASYNC_ON_SECONDARY here" in r
            for r in gate["reasons"]
        ), gate["reasons"][:8]

        after = _schema(env)
        assert after == before, "the framework changed something outside its own tables"
        client = env.connect("origin")
        try:
            rows = list(client.session.execute(f"SELECT name FROM {TEAM_KEYSPACE}.customers"))
        finally:
            client.close()
        assert [r.name for r in rows] == ["Ada"]
