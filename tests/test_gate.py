"""The phase-change gate on real pytest runs: PASS only when every required check ran and passed.

The checks here are small stand-ins with the suites' markers (what is verified is the gate's decision from
real pytest outcomes, not the checks); the same gate on the real suites and a real environment is in
``test_gate_local.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_zdm.errors import SettingError
from pytest_zdm.gate.verdict import RequiredCheck, decide, older_than
from pytest_zdm.phases import parse_phase

CONNECTION = """
import pytest
pytestmark = pytest.mark.zdm_required_for(1, 2, 3, 4, 5)

def test_login():
    pass

def test_readiness():
    pass
"""
DUAL_WRITE = """
import os
import pytest
pytestmark = pytest.mark.zdm_required_for(1, 2, 3, 4, 5)

def test_insert():
    assert os.environ.get("SEED_FAULT") != "lost-write", "row k=1 is on origin only"

def test_batch():
    if os.environ.get("SEED_FAULT") == "unstable":
        pytest.skip("proxy unstable: 2 restart(s) since the session began")

@pytest.mark.xfail(os.environ.get("SEED_FAULT") == "xfail", reason="known divergence", run=True)
def test_ttl():
    assert os.environ.get("SEED_FAULT") != "xfail"

@pytest.mark.zdm_required_for(4, 5, when_proxy_phase=3)
def test_async_reads():
    pass
"""
ERROR_RECOVERY = """
import pytest
pytestmark = pytest.mark.zdm_required_for(4, 5)

def test_node_down():
    pass
"""
UNMARKED = """
def test_helper_not_required():
    pass
"""


@pytest.fixture
def suites(pytester: pytest.Pytester) -> Path:
    """A ``suites`` directory shaped like the real one (the gate's default requirement source)."""
    # These stand-ins are the gate's whole requirement here: not the built-in suites.
    pytester.makeini("[pytest]\nzdm_builtin_suites = false\nzdm_gate_suites = suites\n")
    root = pytester.mkdir("suites")
    (root / "test_connection.py").write_text(CONNECTION)
    (root / "test_dual_write.py").write_text(DUAL_WRITE)
    (root / "test_error_recovery.py").write_text(ERROR_RECOVERY)
    (root / "test_helpers.py").write_text(UNMARKED)
    return root


def _gate(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    gate_file = pytester.path / "reports" / "gate.json"
    return result, json.loads(gate_file.read_text())


def _outcomes(gate: dict) -> dict[str, str]:
    return {c["nodeid"].split("::")[-1]: c["outcome"] for c in gate["checks"]}


def test_every_required_check_passed_gives_pass_and_exit_0(pytester, suites):
    result, gate = _gate(pytester, "suites", "--zdm-gate=1")
    assert result.ret == 0
    assert gate["verdict"] == "PASS"
    assert _outcomes(gate) == {"test_login": "passed", "test_readiness": "passed", "test_insert": "passed",
                               "test_batch": "passed", "test_ttl": "passed"}  # fmt: skip
    assert gate["phase_change"]["entering"] == 1 and gate["phase_change"]["entering_name"] == "deploy-proxy"
    result.stdout.fnmatch_lines(["*zdm gate*", "gate PASS: entering phase 1 (deploy-proxy): all 5 required*"])


def test_a_failed_required_check_gives_fail_naming_it(pytester, suites, monkeypatch):
    monkeypatch.setenv("SEED_FAULT", "lost-write")
    result, gate = _gate(pytester, "suites", "--zdm-gate=route-reads")
    assert result.ret == 1
    assert gate["verdict"] == "FAIL"
    assert _outcomes(gate)["test_insert"] == "failed"
    assert any("test_insert" in r and "row k=1 is on origin only" in r for r in gate["reasons"])
    result.stdout.fnmatch_lines(
        ["FAILED suites/test_dual_write.py::test_insert: *origin only*",
         "gate FAIL: entering phase 4 (route-reads): 1 of 7 required checks failed"]
    )  # fmt: skip


def test_a_skipped_required_check_gives_incomplete_and_a_non_zero_exit(pytester, suites, monkeypatch):
    monkeypatch.setenv("SEED_FAULT", "unstable")
    result, gate = _gate(pytester, "suites", "--zdm-gate=2")
    assert result.ret != 0, "all tests passed or skipped, but the gate is INCOMPLETE"
    assert gate["verdict"] == "INCOMPLETE"
    batch = next(c for c in gate["checks"] if c["nodeid"].endswith("test_batch"))
    assert (batch["outcome"], batch["suite"]) == ("skipped", "test_dual_write")
    assert batch["reason"] == "proxy unstable: 2 restart(s) since the session began"


def test_an_xfailed_required_check_is_incomplete_not_a_pass(pytester, suites, monkeypatch):
    monkeypatch.setenv("SEED_FAULT", "xfail")
    result, gate = _gate(pytester, "suites", "--zdm-gate=1")
    assert result.ret != 0
    assert gate["verdict"] == "INCOMPLETE"
    assert _outcomes(gate)["test_ttl"] == "xfailed"


def test_a_deselected_required_check_gives_incomplete(pytester, suites):
    result, gate = _gate(pytester, "suites", "--zdm-gate=1", "-k", "not readiness")
    assert result.ret != 0
    assert gate["verdict"] == "INCOMPLETE"
    assert _outcomes(gate)["test_readiness"] == "deselected"
    result.stdout.fnmatch_lines(["DESELECTED suites/test_connection.py::test_readiness: deselected*"])


def test_required_checks_never_collected_give_incomplete(pytester, suites):
    result, gate = _gate(pytester, "suites/test_connection.py", "--zdm-gate=4")
    assert result.ret != 0
    assert gate["verdict"] == "INCOMPLETE"
    outcomes = _outcomes(gate)
    assert outcomes["test_login"] == "passed"
    assert outcomes["test_node_down"] == "not collected"
    assert outcomes["test_insert"] == "not collected"


def test_under_xdist_the_verdict_is_the_same_and_worker_deselections_are_seen(pytester, suites):
    result, gate = _gate(pytester, "suites", "--zdm-gate=1", "-n", "2", "-k", "not readiness")
    assert result.ret != 0
    assert gate["verdict"] == "INCOMPLETE"
    assert _outcomes(gate)["test_readiness"] == "deselected"
    result, gate = _gate(pytester, "suites", "--zdm-gate=1", "-n", "2")
    assert (result.ret, gate["verdict"]) == (0, "PASS")
    assert not list((pytester.path / "reports").glob("gate.json.tmp*")) and not list(
        (pytester.path / "reports").glob("*.tmp-*")
    )


def test_a_check_narrowed_to_a_proxy_phase_is_required_only_there(pytester, suites):
    _, gate = _gate(pytester, "suites", "--zdm-gate=4", "--zdm-phase=2")
    assert "test_async_reads" not in _outcomes(gate)
    _, gate = _gate(pytester, "suites", "--zdm-gate=4")  # proxy phase defaults to 3 when entering 4
    assert _outcomes(gate)["test_async_reads"] == "passed"
    assert gate["proxy_phase"] == 3


def test_nothing_required_for_the_phase_is_incomplete(pytester):
    pytester.makeini("[pytest]\nzdm_builtin_suites = false\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result, gate = _gate(pytester, "--zdm-gate=1")
    assert result.ret != 0
    assert gate["verdict"] == "INCOMPLETE"
    assert any("no check in the gate's suites is marked zdm_required_for(1)" in r for r in gate["reasons"])


def test_without_a_gate_there_is_no_gate_file_and_exit_follows_pytest(pytester, suites):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "suites", "-k", "not readiness")
    assert result.ret == 0
    assert not (pytester.path / "reports" / "gate.json").exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("4", 4), ("phase-4", 4), ("Route reads", 4), ("route_reads", 4), ("cut-over", 5), ("phase-b", 1),
     ("migrate-data", 2), ("async-dual-reads", 3), ("connect-to-target", 5)],
)  # fmt: skip
def test_phase_names(raw, expected):
    assert parse_phase("zdm_gate", raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [("phase-c", "'Phase C' (cut-over) is two ZDM phases: 4 (route-reads) then 5 (connect-to-target)"),
     ("6", "expected a ZDM phase 1 (deploy-proxy), 2 (migrate-data)"), ("", "expected a ZDM phase")],
)  # fmt: skip
def test_bad_phase_names_are_one_line_errors(raw, message):
    with pytest.raises(SettingError, match=None) as info:
        parse_phase("zdm_gate", raw)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_gate_is_a_usage_error_without_traceback(pytester, suites):
    result = pytester.runpytest_subprocess("suites", "--zdm-gate=phase-c")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: zdm_gate: 'Phase C' (cut-over) is two ZDM phases*"])
    assert "Traceback" not in result.stderr.str()
    result = pytester.runpytest_subprocess("suites", "--zdm-gate=4", "--zdm-gate-suites=nowhere")
    result.stderr.fnmatch_lines(["ERROR: zdm_gate_suites: expected existing test files or directories, got*"])


def test_failure_wins_over_incomplete():
    required = [RequiredCheck("a::x", (4,), "a"), RequiredCheck("a::y", (4,), "a")]
    result = decide(4, required, {"a::x": ("FAILED", "boom")}, deselected={"a::y"}, collected=None)
    assert result.verdict == "FAIL"
    assert [c.outcome for c in result.checks] == ["failed", "deselected"]


def test_a_narrowed_requirement_applies_only_with_its_proxy_phase():
    narrowed = RequiredCheck("a::x", (4, 5), "a", when_proxy_phase=(3,))
    assert narrowed.applies(4, 3)
    assert not narrowed.applies(4, 2)
    assert not narrowed.applies(1, 3)
    assert RequiredCheck("a::y", (1, 4), "a").applies(4, None)


def test_a_check_needing_a_newer_cassandra_is_not_required_where_a_cluster_is_older():
    vectors = RequiredCheck("a::vector", (1,), "a", min_cassandra="5.0")
    plain = RequiredCheck("a::insert", (1,), "a")
    mixed = {"origin": "4.1.10", "target": "5.0.6"}
    result = decide(1, [vectors, plain], {"a::insert": ("PASSED", "")}, deselected=set(), collected=None,
                    cassandra=mixed)  # fmt: skip
    assert result.verdict == "PASS"
    assert [c.nodeid for c in result.checks] == ["a::insert"]
    assert [(c.nodeid, c.reason) for c in result.not_applicable] == [
        ("a::vector", "needs Cassandra 5.0 on both clusters; origin runs Cassandra 4.1.10")
    ]
    assert result.to_json({})["not_applicable"][0]["outcome"] == "not applicable"
    # on 5.0 -> 5.0 it is required like any other check, and its skip is not a pass
    same = {"origin": "5.0.6", "target": "5.0.6"}
    skipped = {"a::insert": ("PASSED", ""), "a::vector": ("SKIPPED", "whatever")}
    result = decide(1, [vectors, plain], skipped, deselected=set(), collected=None, cassandra=same)
    assert result.verdict == "INCOMPLETE" and not result.not_applicable
    # releases unknown (the environment never started): still required
    result = decide(1, [vectors], {}, deselected=set(), collected=None, cassandra={})
    assert result.verdict == "INCOMPLETE" and [c.outcome for c in result.checks] == ["not run"]


@pytest.mark.parametrize(
    ("line", "releases", "expected"),
    [
        ("5.0", {"origin": "4.0.19", "target": "5.0.6"}, "origin runs Cassandra 4.0.19"),
        ("5.0", {"origin": "5.0.6", "target": "5.0-beta1"}, None),
        ("4.1", {"origin": "4.0.19", "target": "4.1.10"}, "origin runs Cassandra 4.0.19"),
        ("4.1", {"origin": "4.1.0", "target": "5.0.6"}, None),
        (
            "5.0",
            {"origin": "4.1.10", "target": "4.0.19"},
            "origin runs Cassandra 4.1.10, target runs Cassandra 4.0.19",
        ),
    ],
)
def test_older_than(line, releases, expected):
    assert older_than(line, releases) == expected
