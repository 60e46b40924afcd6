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

import pytest

from .helpers import junit_outcomes

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
    out = tmp_path_factory.mktemp("dist")
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
    assert ours and ours[0]["outcome"] == "passed", ours
    assert gate["verdict"] == "PASS", gate["reasons"][:10]
    assert result.returncode == 0, result.stdout[-3000:]
    assert (project / "reports" / "verification.xml").is_file()
    assert list((project / "reports" / "allure-results").glob("*-result.json"))
