"""Allure results and the rendered HTML report, opened in a real headless Chromium.

A real pytest run (xdist, --clean-alluredir, a gate) of small checks seeded with the failures a migration
run produces: a check skipped for proxy instability, a data divergence, a connectivity error, a
configuration mismatch, a blown performance budget. Its results are rendered with the Allure command line
(from npm) by ``zdm-verify report``, served on loopback and opened in Chromium; the verdict, the suites
and the environment must be on the page, and each failure in its category. A secret registered during the
run must appear nowhere under ``reports/``. The screenshot is kept in ``reports/screenshots/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import chromium, gate_page, render_report, serve

ROOT = Path(__file__).resolve().parent.parent
SECRET = "tok3n-Sup3r-s3cret-value"
PASSWORD = "Origin-Passw0rd-from-env"  # a secret setting, from the environment as users give it

CONFTEST = f"""
from pytest_zdm import redact

def pytest_configure(config):
    redact.register({SECRET!r})  # as a target does when it reads a password or token
"""
SUITES = {
    "test_connection.py": """
import pytest
pytestmark = pytest.mark.zdm_required_for(1, 2, 3, 4, 5)

def test_proxy_is_reachable_and_authenticated():
    '''A login through the proxy succeeds.'''
    raise RuntimeError("NoHostAvailable: ('Unable to connect to any servers', {'127.0.0.1:1': refused})")

def test_proxy_routing_matches_the_phase():
    '''The proxy's routing is the phase's.'''
    assert "ORIGIN" == "TARGET", "phase 4 expects ZDM_PRIMARY_CLUSTER=TARGET, the proxy runs with ORIGIN"
""",
    "test_dual_write.py": f"""
import pytest
from pytest_zdm.report import allure as allure_results
pytestmark = [pytest.mark.zdm_required_for(1, 2, 3, 4, 5)]

def test_insert_simple_statement():
    '''A simple INSERT lands on both clusters.'''
    print("token in captured output: {SECRET}")
    allure_results.attach_evidence("partial_write", "k=1 on origin only, password {SECRET}")
    assert False, "write k=1 missing on a cluster: {{'origin': 1, 'target': None}}"

def test_batch():
    '''A logged batch lands on both clusters.'''
    pytest.skip("proxy unstable: 3 restart(s) since the session began")

def test_update_cell(zdm_settings):
    '''An UPDATE lands on both clusters.'''
    print("a careless check prints the password:", zdm_settings.zdm_origin_password)
    assert zdm_settings.zdm_origin_password == {PASSWORD!r}
""",
    "test_performance.py": """
import pytest
pytestmark = pytest.mark.zdm_required_for(3, 4, 5)

def test_p99_latency_overhead_of_the_proxy_is_within_budget():
    '''p99 overhead within budget.'''
    assert 412.0 <= 250.0, "p99 overhead 412.0 ms exceeds the budget of 250 ms"
""",
}


@pytest.fixture(scope="module")
def allure_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One real run with --alluredir (xdist, --clean-alluredir over stale results, gate entering 4)."""
    project = tmp_path_factory.mktemp("allure-project")
    (project / "suites").mkdir()
    for name, text in SUITES.items():
        (project / "suites" / name).write_text(text)
    (project / "conftest.py").write_text(CONFTEST)
    (project / "pytest.ini").write_text("[pytest]\nzdm_builtin_suites = false\n")
    results = project / "reports" / "allure-results"
    results.mkdir(parents=True)
    (results / "stale-result.json").write_text("{}")  # --clean-alluredir must remove it
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-n", "2", "-p", "no:cacheprovider", "--zdm-gate=4",
         f"--alluredir={results}", "--clean-alluredir", f"--junitxml={project / 'reports' / 'junit.xml'}"],
        cwd=project, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTEST_ZDM_ORIGIN_PASSWORD": PASSWORD},
    )  # fmt: skip
    return project, proc


def test_run_files_are_written_once_and_stale_results_cleaned(allure_run):
    project, proc = allure_run
    results = project / "reports" / "allure-results"
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert not (results / "stale-result.json").exists()
    props = dict(
        line.split(" = ", 1) for line in (results / "environment.properties").read_text().splitlines()
    )
    assert props["target"] == "local"
    assert props["proxy_phase"] == "3"
    assert props["gate"].endswith(": FAIL")
    categories = json.loads((results / "categories.json").read_text())
    assert "Data divergence" in [c["name"] for c in categories]
    gate_results = [
        json.loads(p.read_text())
        for p in results.glob("*-result.json")
        if json.loads(p.read_text()).get("fullName", "").startswith("zdm.gate")
    ]
    assert len(gate_results) == 1, "the gate result must be written exactly once (controller only)"
    assert gate_results[0]["status"] == "failed"


def test_checks_carry_epic_feature_story_and_severity_labels(allure_run):
    project, _ = allure_run
    for path in (project / "reports" / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        if data["name"] == "test_insert_simple_statement":
            labels = {(label["name"], label["value"]) for label in data["labels"]}
            assert ("feature", "Dual writes") in labels
            assert ("story", "A simple INSERT lands on both clusters") in labels
            assert ("severity", "blocker") in labels  # required for the gated phase 4
            assert ("epic", "ZDM migration verification") in labels
            assert any(a["name"].startswith("partial_write") for a in data.get("attachments", []))
            return
    pytest.fail("no Allure result for test_insert_simple_statement")


def test_no_secret_anywhere_under_reports(allure_run):
    project, _ = allure_run
    leaks = [
        str(p.relative_to(project))
        for p in (project / "reports").rglob("*")
        if p.is_file() and (SECRET.encode() in p.read_bytes() or PASSWORD.encode() in p.read_bytes())
    ]
    assert not leaks, f"secret found in {leaks}"
    masked = [
        p
        for p in (project / "reports").rglob("*")
        if p.is_file() and b"prints the password: ***" in p.read_bytes()
    ]
    assert masked, "the captured output with the password should be in the results, masked"
    assert "tok3n" not in (project / "reports" / "gate.json").read_text()


@pytest.fixture(scope="module")
def rendered(allure_run) -> Path:
    """The HTML report, rendered by ``zdm-verify report`` (Allure CLI from npm)."""
    return render_report(allure_run[0])


def test_each_seeded_failure_lands_in_its_category(rendered):
    widget = json.loads((rendered / "widgets" / "categories.json").read_text())
    names = {item["name"] for item in widget["items"]}
    assert {"Phase gate not passed", "Proxy instability (check skipped, not verified)", "Data divergence",
            "Connectivity", "Configuration", "Performance budget exceeded"} <= names, names  # fmt: skip
    assert "Product defects" not in names and "Test defects" not in names, (
        "a failure fell outside our categories"
    )


def test_chromium_shows_the_verdict_suites_and_environment(rendered):
    with serve(rendered) as url:
        overview = chromium("--dump-dom", url)
        for text in ("ZDM gate", "Dual writes", "Connection", "Performance", "Environment", "local"):
            assert text in overview, f"{text!r} not shown on the report's overview"
        page = chromium("--dump-dom", url + gate_page(rendered))
        assert "ZDM gate: entering phase 4 (route-reads): FAIL" in page
        assert "gate FAIL: entering phase 4 (route-reads)" in page
        shots = ROOT / "reports" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        chromium(f"--screenshot={shots / 'allure-overview.png'}", url)
        chromium(f"--screenshot={shots / 'allure-gate.png'}", url + gate_page(rendered))
    assert (shots / "allure-overview.png").stat().st_size > 10_000
