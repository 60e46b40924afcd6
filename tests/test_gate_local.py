"""The gate on the real suites against a real ``local`` environment (two Cassandra nodes and zdm-proxy).

One environment is started for the module; each gate run is a separate pytest process attached to it
(``--zdm-attach``), as a team runs it in CI before a phase change. Entering phase 1 requires the connection
and dual-write suites (about 30 checks):

The runs name only those two files (what a team gating phase 1 needs to run); the gate still collects the
whole ``suites/`` directory to know what is required.

- healthy environment -> PASS, exit 0; the sign-off report, opened from disk in headless Chromium, shows
  PASS on its first page with the versions, endpoints and budgets, each check carries the proxy's metric
  deltas, and the PDF's first page carries the verdict;
- a required check deselected -> INCOMPLETE naming it, non-zero exit; the report names it first;
- seeded fault: the proxy routes as in phase 1 while the run declares phase 4 (reads should come from the
  target) -> FAIL naming the routing checks; the report shows FAIL, the failed checks first, and their
  evidence (message, log tails) one click away.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_zdm.report.page import OUTCOMES
from pytest_zdm.settings import Settings

from .helpers import local_environment, open_report, pdf_text, render_report, screenshot, signoff_section

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("proxy_available")]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gate_env(zdm_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    with local_environment(zdm_settings, tmp_path_factory.mktemp("gate-env") / "env") as env:
        yield env


def _gate_run(env, project: Path, *args: str) -> tuple[int, dict, str]:
    """The real suites attached to ``env``, gating entry into phase 1; gate file in ``project``."""
    gate_file = project / "reports" / "gate.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suites" / "test_connection.py"),
         str(ROOT / "suites" / "test_dual_write.py"), f"--zdm-attach={env.run_dir}", "--zdm-gate=1",
         f"--zdm-gate-file={gate_file}", f"--zdm-gate-suites={ROOT / 'suites'}", "-p", "no:cacheprovider",
         "-q", *args],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False,
    )  # fmt: skip
    (project / "output.txt").write_text(proc.stdout + proc.stderr)
    return proc.returncode, json.loads(gate_file.read_text()), proc.stdout


def _metric_deltas(results: Path, name: str) -> str:
    """The proxy-metrics attachment of the check called ``name``."""
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        if data["name"] == name:
            found = [a for a in data.get("attachments", []) if a["name"] == "proxy metrics during this check"]
            assert found, f"{name}: no metric deltas attached"
            return (results / found[0]["source"]).read_text()
    raise AssertionError(f"no result for {name}")


def test_healthy_environment_passes_the_gate_and_the_report_shows_it(gate_env, tmp_path):
    results = tmp_path / "reports" / "allure-results"
    code, gate, out = _gate_run(gate_env, tmp_path, f"--alluredir={results}")
    assert (code, gate["verdict"]) == (0, "PASS"), out[-3000:]
    suites = {c["suite"] for c in gate["checks"]}
    assert suites == {"test_connection", "test_dual_write"}
    assert len(gate["checks"]) >= 25 and all(c["outcome"] == "passed" for c in gate["checks"])
    assert gate["origin_cassandra"].startswith("5.0") and gate["zdm_proxy"]
    assert gate["environment"]["endpoints"]["proxy"].startswith("127.0.0.1:")
    deltas = _metric_deltas(results, "test_insert_simple_statement")
    assert re.search(r"zdm_proxy_request_duration_seconds_count\{type=writes\}: \d+ requests", deltas), deltas
    assert "failures counted by the proxy: none" in deltas
    report = render_report(tmp_path, "--pdf=always")
    page = signoff_section(open_report(report))
    assert 'data-verdict="PASS"' in page and "entering phase 1 (deploy-proxy)" in page
    for fact in (gate["origin_cassandra"], gate["zdm_proxy"], gate["zdm_proxy_commit"], "PRIMARY_ONLY",
                 gate["environment"]["endpoints"]["proxy"], "250.0 ms"):  # fmt: skip
        assert fact in page, fact
    assert set(re.findall(r'data-outcome="([^"]+)"', page)) == {"passed"}
    first = pdf_text(report / "signoff.pdf")
    assert "PASS" in first and "entering phase 1 (deploy-proxy)" in first, first[:1500]
    screenshot(report, "", "signoff-real-pass.png")


def test_a_deselected_required_check_makes_the_gate_incomplete(gate_env, tmp_path):
    results = tmp_path / "reports" / "allure-results"
    code, gate, out = _gate_run(gate_env, tmp_path, "-k", "not test_ttl", f"--alluredir={results}")
    assert code != 0
    assert gate["verdict"] == "INCOMPLETE", out[-3000:]
    not_passed = {
        c["nodeid"].split("::")[-1]: c["outcome"] for c in gate["checks"] if c["outcome"] != "passed"
    }
    assert not_passed == {"test_ttl": "deselected"}
    page = signoff_section(open_report(render_report(tmp_path, "--pdf=never")))
    assert 'data-verdict="INCOMPLETE"' in page
    first = re.search(r'class="zdm-check" data-outcome="([^"]+)">.*?<strong>([^<]+)</strong>', page, re.S)
    assert first and first.groups() == ("deselected", "test_ttl"), "the deselected check is named first"
    assert "NOT VERIFIED (deselected)" in page


def test_a_seeded_fault_fails_the_gate_naming_the_check(gate_env, tmp_path):
    results = tmp_path / "allure-results"
    code, gate, out = _gate_run(gate_env, tmp_path, "--zdm-phase=4", f"--alluredir={results}")
    assert code == 1
    assert gate["verdict"] == "FAIL", out[-3000:]
    failed = {c["nodeid"].split("::")[-1] for c in gate["checks"] if c["outcome"] == "failed"}
    assert {"test_proxy_routing_matches_the_phase", "test_reads_come_from_the_primary"} <= failed
    assert "gate FAIL: entering phase 1 (deploy-proxy)" in out
    assert "FAILED" in out and "test_proxy_routing_matches_the_phase" in out
    # Evidence where a reviewer looks: the failed check's result carries the proxy's and nodes' log tails.
    routing = [
        json.loads(p.read_text())
        for p in results.glob("*-result.json")
        if json.loads(p.read_text())["name"] == "test_proxy_routing_matches_the_phase"
    ]
    attached = {a["name"].split(" (")[0] for a in routing[0].get("attachments", [])}
    assert {"log tail: proxy", "log tail: origin", "log tail: target"} <= attached, attached
    # The sign-off report: FAIL first, the failed checks first, each one click from its evidence.
    report = render_report(tmp_path, "--results", str(results), "--pdf=never")
    page = signoff_section(open_report(report))
    assert 'data-verdict="FAIL"' in page
    outcomes = re.findall(r'class="zdm-check" data-outcome="([^"]+)"', page)
    assert outcomes == sorted(outcomes, key=lambda o: OUTCOMES[o][0]) and outcomes[0] == "failed", outcomes
    row = page[page.index("<strong>test_proxy_routing_matches_the_phase</strong>") :]
    link = re.search(r'href="(#testresult/[^"]+)">evidence<', row)
    assert link, "no evidence link on the failed check's row"
    evidence = open_report(report, link.group(1), drawn="log tail: proxy")
    assert "ZDM_PRIMARY_CLUSTER" in evidence or "primary" in evidence.lower()
    assert "log tail: proxy" in evidence
    screenshot(report, "", "signoff-real-fail.png")
    screenshot(report, link.group(1), "signoff-real-fail-evidence.png")


def test_a_healthy_lab_passes_the_route_reads_gate_running_phase_3s_routing(tmp_path):
    """Entering phase 4 expects the proxy in phase 3's configuration: the lab runs it, and every required
    check (error recovery and the async dual reads included) passes, but one: the comparison of the team's
    own tables, which a lab without named tables cannot verify, so the gate stays INCOMPLETE for it."""
    gate_file = tmp_path / "gate.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "suites"), "--zdm-target=local", "--zdm-gate=4",
         f"--zdm-gate-file={gate_file}", "-p", "no:cacheprovider", "-q"],
        capture_output=True, text=True, timeout=1500, cwd=tmp_path, check=False,
    )  # fmt: skip
    gate = json.loads(gate_file.read_text())
    assert (gate["primary_cluster"], gate["read_mode"]) == ("ORIGIN", "DUAL_ASYNC_ON_SECONDARY")
    outcomes = {c["nodeid"].split("::")[-1]: c for c in gate["checks"]}
    not_passed = {name: c["reason"] for name, c in outcomes.items() if c["outcome"] != "passed"}
    assert list(not_passed) == ["test_user_tables_are_identical_on_both_clusters"], not_passed
    assert "zdm_compare_tables is empty" in not_passed["test_user_tables_are_identical_on_both_clusters"]
    assert gate["verdict"] == "INCOMPLETE", gate["reasons"][:8]
    assert outcomes["test_async_dual_reads_reach_the_secondary"]["outcome"] == "passed"
    assert outcomes["test_proxy_restart_clients_reconnect"]["outcome"] == "passed"
    assert proc.returncode != 0, "an INCOMPLETE gate must not exit 0"
