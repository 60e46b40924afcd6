"""The sign-off report's parts without a browser: the page, the history, the executor, the single file.

The rendered report itself (real Allure command line, real headless Chromium from ``file://``, the PDF) is
tested in ``test_allure_report.py`` and, against a real environment, in ``test_gate_local.py``.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from pytest_zdm.errors import ZdmError
from pytest_zdm.proxy.metrics import describe_delta, parse
from pytest_zdm.report import executor, history, page, record
from pytest_zdm.report.singlefile import COUNT_JS, PASS_RATE_JS, SingleFileReport


def _record(checks: list[dict], verdict: str = "INCOMPLETE", run_id: str = "r1") -> dict:
    counts: dict[str, int] = {}
    for check in checks:
        counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
    return {
        "format": 1,
        "context": {
            "target": "local", "origin_cassandra": "5.0.6", "target_cassandra": "5.0.6", "zdm_proxy": "2.4.2",
            "zdm_proxy_commit": "02d423db4da1", "primary_cluster": "ORIGIN", "read_mode": "PRIMARY_ONLY",
            "proxy_phase": 0, "run_id": run_id, "started": "2026-11-30T00:00:00Z",
            "finished": "2026-11-30T00:02:05Z",
            "executor": {"user": "ana", "host": "desk", "command": "pytest --zdm-gate=1", "workdir": "/w",
                         "git_commit": "abc (main)", "ci": "", "build_name": "", "build_url": ""},
            "environment": {"endpoints": {"proxy": "127.0.0.1:9042"}, "target_details": ["kube context x"],
                            "compared_tables": ["shop.orders"], "budget_p99_overhead_ms": 250.0,
                            "budget_error_rate": 0.0, "perf_operations": 2000, "perf_rate_ops_per_s": 200.0,
                            "compare_writetime": False, "compare_rate_rows_per_s": 0.0,
                            "protocol_version": "4", "proxy_settings": {"ZDM_PRIMARY_CLUSTER": "ORIGIN"},
                            "run_dir": "/w/reports/runs/r1"},
        },
        "gate": {
            "verdict": verdict, "headline": f"gate {verdict}: entering phase 1 (deploy-proxy): ...",
            "phase_change": {"entering": 1, "entering_name": "deploy-proxy", "entering_title": "dual writes",
                             "from": None},
            "counts": counts, "reasons": [], "checks": checks,
        },
        "checks": {"counts": {"passed": 3}, "total": 3, "not_passed": [], "stopped": ""},
    }  # fmt: skip


CHECKS = [
    {"nodeid": "suites/test_a.py::test_passes", "suite": "test_a", "outcome": "passed", "reason": ""},
    {"nodeid": "suites/test_a.py::test_ttl", "suite": "test_a", "outcome": "deselected",
     "reason": "deselected"},
    {"nodeid": "suites/test_a.py::test_skips", "suite": "test_a", "outcome": "skipped",
     "reason": "proxy <b>unstable</b>"},
    {"nodeid": "suites/test_a.py::test_fails", "suite": "test_a", "outcome": "failed", "reason": "boom"},
]  # fmt: skip


def test_page_lists_failed_then_not_verified_then_passed_with_evidence_links():
    results = {"suites/test_a.py::test_fails": {"uid": "u-fail", "story": "A write lands on both"}}
    html = page.render(_record(CHECKS), results, history.entry(_record(CHECKS)), [], "local-phase1", "2.46.1")
    order = [html.index(f"::{name}<") for name in ("test_fails", "test_skips", "test_ttl", "test_passes")]
    assert order[0] < min(order[1:3]) and max(order[1:3]) < order[3], "failed, then not verified, then passed"
    assert 'href="#testresult/u-fail"' in html and "A write lands on both" in html
    assert "proxy &lt;b&gt;unstable&lt;/b&gt;" in html, "reasons are escaped"
    assert "4 required checks: 1 passed, 1 failed, 2 not verified (1 deselected, 1 skipped)" in html
    text = re.sub(r"<[^>]+>", " ", html.split("</style>", 1)[1].split("<script>", 1)[0])
    assert "%" not in text, "no percentage anywhere on the page"
    for fact in ("5.0.6", "02d423db4da1", "PRIMARY_ONLY", "shop.orders", "250.0 ms", "kube context x",
                 "pytest --zdm-gate=1", "abc (main)", "ana@desk", "2 min 05 s"):  # fmt: skip
        assert fact in html, fact


def test_a_check_passed_in_a_rehearsal_is_named_so_with_the_rehearsal():
    rehearsed = {"nodeid": "suites/test_b.py::test_kill_a_node", "suite": "test_b", "outcome": "rehearsed",
                 "reason": "passed in the rehearsal r0 on local"}  # fmt: skip
    checks = [CHECKS[0], rehearsed]
    run = _record(checks, verdict="PASS")
    run["gate"]["rehearsal"] = {"path": "/w/rehearsal.json", "run_id": "r0", "target": "local",
                                "finished": "2026-11-29T10:00:00Z", "accepted": True, "problems": [],
                                "covered": ["suites/test_b.py::test_kill_a_node"]}  # fmt: skip
    html = page.render(run, {}, history.entry(run), [], "local-phase1", "2.46.1")
    assert "PASSED IN REHEARSAL" in html
    assert "2 required checks: 2 passed (1 in the rehearsal given), 0 failed, 0 not verified" in html
    assert "rehearsal r0 on local" in html and "accepted; it covers 1 destructive check(s)" in html


def test_counts_line_counts_a_skip_as_not_verified():
    line = page.counts_line({"passed": 8, "skipped": 1}, 9, "checks")
    assert line == "9 checks: 8 passed, 0 failed, 1 not verified (1 skipped)"
    assert "%" not in line
    rehearsed = page.counts_line({"passed": 7, "rehearsed": 2, "deselected": 1}, 10, "required checks")
    assert rehearsed == (
        "10 required checks: 9 passed (2 in the rehearsal given), 0 failed, 1 not verified (1 deselected)"
    )


def test_history_keeps_runs_per_key_and_does_not_count_a_rerender_twice(tmp_path):
    kept = history.History(tmp_path, "local-phase1")
    first, second = _record(CHECKS, "FAIL", "r1"), _record(CHECKS[:1], "PASS", "r2")
    kept.record(history.entry(first), {"history-trend.json": b"[1]"})
    assert kept.earlier("r2") == [history.entry(first)]
    staged = tmp_path / "staged"
    assert (
        kept.stage("r2", staged) == 1 and (staged / "history" / "history-trend.json").read_bytes() == b"[1]"
    )
    kept.record(history.entry(second), {"history-trend.json": b"[2,1]"})
    # Rendering r2's results again: the trend starts from before r2, and r2 is not added twice.
    again = tmp_path / "again"
    kept.stage("r2", again)
    assert (again / "history" / "history-trend.json").read_bytes() == b"[1]"
    kept.record(history.entry(second), {"history-trend.json": b"[2,1]"})
    assert [r["run_id"] for r in kept.runs()] == ["r1", "r2"]
    assert [r["verdict"] for r in kept.earlier("r3")] == ["PASS", "FAIL"]
    assert history.History(tmp_path, "local-phase4").runs() == []
    assert record.history_key(first) == "local-phase1"
    assert record.history_key({"context": {"target": "kube"}, "gate": None}) == "kube-ungated"


def test_a_missing_run_record_is_one_line(tmp_path):
    with pytest.raises(ZdmError, match=r"expected .*zdm-run.json, written by pytest-zdm at the end of a run"):
        record.read(tmp_path)


METRICS_BEFORE = """
# TYPE zdm_proxy_request_duration_seconds histogram
zdm_proxy_request_duration_seconds_bucket{type="writes",le="0.01"} 10
zdm_proxy_request_duration_seconds_bucket{type="writes",le="+Inf"} 10
zdm_proxy_request_duration_seconds_sum{type="writes"} 0.02
zdm_proxy_request_duration_seconds_count{type="writes"} 10
# TYPE zdm_proxy_failed_writes_total counter
zdm_proxy_failed_writes_total{failed_on="target"} 0
# TYPE zdm_client_connections_total gauge
zdm_client_connections_total 1
"""


def test_metric_deltas_say_what_the_proxy_counted_and_that_nothing_failed():
    after = METRICS_BEFORE.replace("} 10\n", "} 30\n").replace("0.02", "0.06").replace("total 1", "total 3")
    lines = describe_delta(parse(after).delta(parse(METRICS_BEFORE)))
    assert "zdm_proxy_request_duration_seconds_count{type=writes}: 20 requests, mean 2.00 ms" in lines
    assert "zdm_client_connections_total: +2" in lines
    assert lines[-1].startswith("failures counted by the proxy: none")
    assert not any("_bucket" in line for line in lines)
    failed = METRICS_BEFORE.replace('failed_on="target"} 0', 'failed_on="target"} 4')
    lines = describe_delta(parse(failed).delta(parse(METRICS_BEFORE)))
    assert lines == ["failures counted by the proxy:", "zdm_proxy_failed_writes_total{failed_on=target}: +4"]
    restarted = describe_delta(parse(METRICS_BEFORE).delta(parse(after)))
    assert any("restarted" in line for line in restarted)
    assert describe_delta(parse(METRICS_BEFORE).delta(parse(METRICS_BEFORE))) == []


def test_executor_names_the_ci_build_or_the_user_host_command_and_commit(tmp_path):
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
        "GITHUB_WORKFLOW": "g",
    }
    assert executor.ci_build(github) == ("GitHub Actions", "g #7", "https://github.com/o/r/actions/runs/7")
    gitlab = {"GITLAB_CI": "true", "CI_JOB_ID": "9", "CI_JOB_URL": "https://gl/j/9", "CI_JOB_NAME": "gate"}
    assert executor.ci_build(gitlab)[0::2] == ("GitLab CI", "https://gl/j/9")
    jenkins = {
        "JENKINS_URL": "https://j/",
        "BUILD_URL": "https://j/job/x/3/",
        "JOB_NAME": "x",
        "BUILD_NUMBER": "3",
    }
    assert executor.ci_build(jenkins) == ("Jenkins", "x #3", "https://j/job/x/3/")
    assert executor.ci_build({}) == ("", "", "")
    assert executor.git_commit(tmp_path).startswith("none (")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    subprocess.run([*git, "add", "pytest.ini"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert executor.git_commit(tmp_path) == f"{sha} (main)"
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -x\n")
    assert executor.git_commit(tmp_path) == f"{sha} (main, uncommitted changes)"
    local = executor.current(tmp_path, ["--zdm-gate=1", "-k", "not slow"], env={})
    assert local.command == "pytest --zdm-gate=1 -k 'not slow'"
    assert local.allure() == {
        "name": f"{local.user}@{local.host}",
        "type": "local",
        "buildName": local.command,
    }


def _single_file(script: str) -> str:
    encoded = base64.b64encode(script.encode()).decode()
    data = base64.b64encode(json.dumps({"statistic": {"total": 1}}).encode()).decode()
    return (f'<html><head><title>Allure Report</title></head><body><div id="content"></div>'
            f'<script src="data:text/javascript; charset=utf-8;base64,{encoded}"></script>'
            f"<script>d('widgets/summary.json','{data}'),</script></body></html>")  # fmt: skip


def test_the_pass_percentage_is_replaced_by_a_count_or_the_report_is_refused():
    report = SingleFileReport(_single_file(f"class X{{{PASS_RATE_JS}}}"))
    report.count_not_percentage()
    script = report.html.split("base64,")[1].split('"')[0]
    assert COUNT_JS in base64.b64decode(script).decode()
    assert report.json("widgets/summary.json") == {"statistic": {"total": 1}}
    report.put_first('<div id="zdm-signoff">PASS</div>', "PASS: local <entering> phase 1")
    assert report.html.index("zdm-signoff") < report.html.index('id="content"')
    assert "<title>PASS: local &lt;entering&gt; phase 1</title>" in report.html
    with pytest.raises(ZdmError, match="pass-rate code was not found"):
        SingleFileReport(_single_file("class Y{}")).count_not_percentage()
    with pytest.raises(ZdmError, match="embeds no report data"):
        SingleFileReport("<html><body></body></html>")


def test_page_template_is_shipped_with_the_package():
    assert (Path(page.__file__).parent / "templates" / "signoff.html.j2").is_file()
