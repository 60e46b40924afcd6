"""The sign-off report: Allure results, the one-file report opened from disk in Chromium, its PDF, history.

A real pytest run (xdist, --clean-alluredir, a gate) of small checks seeded with the failures a migration
run produces: a check skipped for proxy instability, a data divergence, a connectivity error, a
configuration mismatch, a blown performance budget. Its results are rendered by ``zdm-verify report`` (the
Allure command line from npm) into one HTML file, opened from disk (``file://``, no server) in a real
headless Chromium: the first page must be the verdict, FAIL, with the failed checks first, each one click
from its evidence; the overview's donut must not show a pass percentage that leaves the skip out; each
failure must land in its category; the PDF's first page must carry the verdict (``pdftotext``). A secret
registered during the run (and given on the command line) must appear nowhere under ``reports/``, the
report's embedded files and the PDF's text included. Two runs rendered with one history directory: the
second report shows both. Screenshots are kept in ``reports/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zdm.report.singlefile import SingleFileReport

from .helpers import open_report, pdf_text, render_report, report_texts, screenshot, signoff_section

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
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "suites", "conftest.py", "pytest.ini")
    _git(project, "commit", "-qm", "the verification project")
    results = project / "reports" / "allure-results"
    results.mkdir(parents=True)
    (results / "stale-result.json").write_text("{}")  # --clean-alluredir must remove it
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-n", "2", "-p", "no:cacheprovider", "--zdm-gate=4",
         f"--alluredir={results}", "--clean-alluredir", f"--junitxml={project / 'reports' / 'junit.xml'}",
         "-k", f"not {SECRET}"],  # a secret on the command line: the executor's line must mask it
        cwd=project, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTEST_ZDM_ORIGIN_PASSWORD": PASSWORD},
    )  # fmt: skip
    return project, proc


def _git(project: Path, *args: str) -> str:
    command = ["git", "-C", str(project), "-c", "user.email=qa@example.com", "-c", "user.name=qa", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


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
    assert props["budget_p99_overhead_ms"] == "250.0" and props["compared_tables"].startswith("none named")
    assert props["git_commit"].startswith(_git(project, "rev-parse", "HEAD"))
    categories = json.loads((results / "categories.json").read_text())
    assert "Data divergence" in [c["name"] for c in categories]
    gate_results = [
        json.loads(p.read_text())
        for p in results.glob("*-result.json")
        if json.loads(p.read_text()).get("fullName", "").startswith("zdm.gate")
    ]
    assert len(gate_results) == 1, "the gate result must be written exactly once (controller only)"
    assert gate_results[0]["status"] == "failed"
    executor = json.loads((results / "executor.json").read_text())
    assert executor["type"] == "local" and executor["buildName"].startswith("pytest suites -n 2")


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
            assert ("zdm_nodeid", "suites/test_dual_write.py::test_insert_simple_statement") in labels
            assert any(a["name"].startswith("partial_write") for a in data.get("attachments", []))
            return
    pytest.fail("no Allure result for test_insert_simple_statement")


def test_no_secret_in_the_results(allure_run):
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
    run = json.loads((project / "reports" / "allure-results" / "zdm-run.json").read_text())
    assert run["context"]["executor"]["command"].endswith("-k 'not ***'")


@pytest.fixture(scope="module")
def rendered(allure_run) -> Path:
    """The sign-off report, rendered by ``zdm-verify report`` (Allure CLI from npm, PDF by Chromium)."""
    return render_report(allure_run[0], "--pdf=always")


def _embedded(report: Path) -> SingleFileReport:
    return SingleFileReport((report / "index.html").read_text(encoding="utf-8"))


def test_the_report_is_one_file_and_each_seeded_failure_lands_in_its_category(rendered):
    assert sorted(p.name for p in rendered.iterdir()) == ["index.html", "signoff.pdf"]
    assert "googletagmanager" not in (rendered / "index.html").read_text(), "the report must not call out"
    widget = _embedded(rendered).json("widgets/categories.json")
    names = {item["name"] for item in widget["items"]}
    assert {"Phase gate not passed", "Proxy instability (check skipped, not verified)", "Data divergence",
            "Connectivity", "Configuration", "Performance budget exceeded"} <= names, names  # fmt: skip
    assert "Product defects" not in names and "Test defects" not in names, (
        "a failure fell outside our categories"
    )


def test_opened_from_disk_the_first_page_is_the_verdict_with_failed_checks_first(rendered, allure_run):
    dom = open_report(rendered)
    assert 'data-zdm-view="signoff"' in dom, "the report must open on the sign-off page"
    page = signoff_section(dom)
    assert 'data-verdict="FAIL"' in page and "<b>FAIL</b>" in page
    assert "entering phase 4 (route-reads)" in page and "from phase 3" in page
    outcomes = re.findall(r'class="zdm-check" data-outcome="([^"]+)"', page)
    assert outcomes == ["failed"] * 4 + ["skipped", "passed"], outcomes
    for fact in ("local", "DUAL_ASYNC_ON_SECONDARY", "ORIGIN",  # phase 3 routing: the gated phase rehearsed
                 "6 required checks: 1 passed, 4 failed, 1 not verified",
                 _git(allure_run[0], "rev-parse", "HEAD"), "250.0 ms", "none named"):  # fmt: skip
        assert fact in page, fact
    assert "%" not in re.sub(r"<style.*?</style>|<[^>]+>", " ", page, flags=re.S), "a percentage on the page"
    screenshot(rendered, "", "signoff-fail.png")


def test_a_failed_checks_evidence_is_one_click_away(rendered):
    page = signoff_section(open_report(rendered))
    row = page[page.index("test_insert_simple_statement") :]
    link = re.search(r'href="(#testresult/[^"]+)">evidence<', row)
    assert link, "no evidence link on the failed check's row"
    evidence = open_report(rendered, link.group(1), drawn="write k=1 missing on a cluster")
    assert 'data-zdm-view="allure"' in evidence
    assert "write k=1 missing on a cluster" in evidence
    assert "partial_write" in evidence, "the check's attachment is listed on its page"
    screenshot(rendered, link.group(1), "signoff-evidence.png")


def test_the_overview_shows_counts_not_a_pass_percentage(rendered):
    overview = open_report(rendered, "#overview", drawn='class="chart__caption"')
    assert 'data-zdm-view="allure"' in overview
    caption = re.search(r'class="chart__caption"[^>]*>([^<]*)<', overview)
    widgets = re.findall(r'data-id="([^"]+)"', overview)
    assert caption is not None, f"no donut on the overview (widgets on the page: {widgets})"
    stats = _embedded(rendered).json("widgets/summary.json")["statistic"]
    assert stats["skipped"] >= 1 and stats["passed"] >= 1, stats
    assert caption.group(1) == f"{stats['passed']}/{stats['total']}", (caption.group(1), stats)
    screenshot(rendered, "#overview", "allure-overview.png")


def test_the_pdf_carries_the_verdict_on_its_first_page(rendered):
    first = pdf_text(rendered / "signoff.pdf", page=1)
    assert "FAIL" in first and "entering phase 4 (route-reads)" in first, first[:2000]
    assert "test_proxy_is_reachable_and_authenticated" in first


def test_no_secret_in_any_file_of_the_report(rendered, allure_run):
    leaks = [name for name, content in report_texts(allure_run[0] / "reports").items()
             if SECRET.encode() in content or PASSWORD.encode() in content]  # fmt: skip
    assert not leaks, f"secret found in {leaks}"


PASSING = '''
import pytest
pytestmark = pytest.mark.zdm_required_for(1, 2)

def test_a_write_lands_on_both_clusters():
    """A write lands on both clusters."""
'''


def test_the_trend_shows_two_runs_after_two_runs(tmp_path):
    """Runs rendered with one history directory, as CI carries it; another phase keeps its own."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_dual_write.py").write_text(PASSING)
    (tmp_path / "pytest.ini").write_text("[pytest]\nzdm_builtin_suites = false\n")
    results = tmp_path / "reports" / "allure-results"

    def run_and_render(*args: str) -> Path:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", f"--alluredir={results}",
             "--clean-alluredir", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert "zdm gate" in proc.stdout, proc.stdout[-2000:]
        return render_report(tmp_path, "--pdf=never")

    run_and_render("--zdm-gate=1", "-k", "nothing_matches")  # INCOMPLETE: the required check deselected
    report = run_and_render("--zdm-gate=1")
    trend = _embedded(report).json("widgets/history-trend.json")
    assert len(trend) == 2, trend
    page = signoff_section(open_report(report))
    runs = re.findall(r'class="zdm-history-run"><td>([^<]+)</td><td>[^<]*</td><td[^>]*>([A-Z ]+)<', page)
    assert runs == [("this run", "PASS"), ("-1", "INCOMPLETE")], runs
    screenshot(report, "", "signoff-history.png")
    other = run_and_render("--zdm-gate=2")
    assert len(_embedded(other).json("widgets/history-trend.json")) == 1, "another phase has its own trend"
    kept = tmp_path / "reports" / "history"
    assert sorted(p.name for p in kept.iterdir() if p.is_dir()) == ["local-phase1", "local-phase2"]
