"""The sign-off page: what a migration lead reads, and signs, before a phase change.

Built from the run record (:mod:`.record`), the Allure results the report holds (to link each check to its
evidence) and the history of the same target and phase (:mod:`.history`). It is an HTML fragment placed at
the top of the report's single file; the report opens on it. Rendered with Jinja2, which escapes every
value (check names, reasons and messages come from test output).

The page states counts, never a pass percentage: a skipped, deselected or unrun check is "not verified",
and a percentage of anything invites reading it as a share of what was proven.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

import pytest_zdm
from pytest_zdm import redact

#: Outcome -> (rank: failed first, then not verified, then passed; label; css class).
OUTCOMES: dict[str, tuple[int, str, str]] = {
    "failed": (0, "FAILED", "failed"),
    "error": (0, "ERROR", "error"),
    "skipped": (1, "NOT VERIFIED (skipped)", "notverified"),
    "xfailed": (1, "NOT VERIFIED (xfailed)", "notverified"),
    "deselected": (1, "NOT VERIFIED (deselected)", "notverified"),
    "not collected": (1, "NOT VERIFIED (not collected)", "notverified"),
    "not run": (1, "NOT VERIFIED (not run)", "notverified"),
    "passed": (2, "PASSED", "passed"),
    "rehearsed": (2, "PASSED IN REHEARSAL", "passed"),
}
_VERDICT_CSS = {"PASS": "passed", "FAIL": "failed", "INCOMPLETE": "notverified"}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def counts_line(counts: Mapping[str, int], total: int, noun: str) -> str:
    """``41 required checks: 39 passed, 1 failed, 1 not verified (1 deselected)``: counts, no percentage."""
    rehearsed = counts.get("rehearsed", 0)
    passed = counts.get("passed", 0) + rehearsed
    failed = counts.get("failed", 0) + counts.get("error", 0)
    verified = ("passed", "rehearsed", "failed", "error")
    unverified = {k: v for k, v in counts.items() if k not in verified and v}
    detail = ", ".join(f"{v} {k}" for k, v in sorted(unverified.items()))
    missing = sum(unverified.values())
    in_rehearsal = f" ({rehearsed} in the rehearsal given)" if rehearsed else ""
    text = f"{total} {noun}: {passed} passed{in_rehearsal}, {failed} failed, {missing} not verified"
    return text + (f" ({detail})" if detail else "")


def _row(check: Mapping[str, Any], results: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    outcome = str(check.get("outcome", ""))
    rank, label, css = OUTCOMES.get(outcome, (1, outcome.upper(), "notverified"))
    nodeid = str(check.get("nodeid", ""))
    found = results.get(nodeid, {})
    return {
        "rank": rank,
        "outcome": outcome,
        "label": label,
        "css": css,
        "nodeid": nodeid,
        "name": nodeid.rpartition("::")[2] or nodeid,
        "story": found.get("story", ""),
        "reason": check.get("reason", ""),
        "uid": found.get("uid", ""),
    }


def _history_rows(this: Mapping[str, Any], earlier: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for n, run in enumerate([this, *earlier]):
        required = run.get("required", {})
        total = required.get("total", 0)
        commit = str(run.get("zdm_proxy_commit") or "?")[:12]
        rows.append(
            {
                "label": "this run" if n == 0 else f"-{n}",
                "started": run.get("started") or "?",
                "verdict": run.get("verdict", "?"),
                "css": _VERDICT_CSS.get(str(run.get("verdict")), "notverified"),
                "required": f"{required.get('passed', 0)} of {total}" if total else "none required",
                "duration": _duration(run.get("duration_s")),
                "proxy": f"{run.get('zdm_proxy') or '?'} {commit}",
                "executor": run.get("executor", "?"),
                "build_url": run.get("build_url", ""),
            }
        )
    return rows


def render(
    record: Mapping[str, Any],
    results: Mapping[str, Mapping[str, str]],
    this_run: Mapping[str, Any],
    earlier: Sequence[Mapping[str, Any]],
    history_key: str,
    allure_version: str,
) -> str:
    """The page's HTML fragment; ``results`` maps node ids to their Allure result (``uid``, ``story``)."""
    context = record.get("context", {})
    gate = record.get("gate") or {}
    env = context.get("environment", {})
    phase = None
    if gate:
        change = gate["phase_change"]
        before = change.get("from")
        phase = {
            "entering": change["entering"],
            "slug": change["entering_name"],
            "title": change["entering_title"],
            "from_text": f"{before}" if before else "0 (before the migration: clients on origin only)",
        }
    required = sorted((_row(c, results) for c in gate.get("checks", [])), key=lambda r: r["rank"])
    checks = record.get("checks", {})
    required_ids = {r["nodeid"] for r in required}
    others = sorted(
        (_row(c, results) for c in checks.get("not_passed", []) if c.get("nodeid") not in required_ids),
        key=lambda r: r["rank"],
    )
    verdict = str(gate.get("verdict") or "NOT GATED")
    headline = gate.get("headline") or (
        "not gated: " + counts_line(checks.get("counts", {}), checks.get("total", 0), "checks")
    )
    facts = {k: context.get(k) if context.get(k) not in (None, "") else "?" for k in (
        "target", "origin_cassandra", "target_cassandra", "zdm_proxy", "zdm_proxy_commit", "primary_cluster",
        "read_mode", "proxy_phase", "started", "finished", "run_id")}  # fmt: skip
    facts["duration"] = _duration(this_run.get("duration_s"))
    endpoints = list(env.get("endpoints", {}).items())
    stopped = checks.get("stopped")
    nodeids = [c["nodeid"] for c in gate.get("checks", [])]
    notes = [r for r in gate.get("reasons", []) if not any(f" {n}: " in r for n in nodeids)]
    if stopped:
        notes.append(f"the run stopped early: {stopped}")
    rehearsal = gate.get("rehearsal")
    if rehearsal:
        problems = "; ".join(rehearsal.get("problems", []))
        accepted = "accepted" if rehearsal.get("accepted") else f"NOT accepted: {problems}"
        notes.append(
            f"rehearsal {rehearsal.get('run_id')} on {rehearsal.get('target')}, finished "
            f"{rehearsal.get('finished')} ({rehearsal.get('path')}): {accepted}; it covers "
            f"{len(rehearsal.get('covered', []))} destructive check(s) not run here"
        )
    html = (
        _environment()
        .get_template("signoff.html.j2")
        .render(
            verdict=verdict,
            phase=phase,
            headline=headline,
            facts=facts,
            runner=context.get("executor", {}),
            required=required,
            required_counts=counts_line(gate.get("counts", {}), len(required), "required checks"),
            gate_notes=[n for n in notes if n],
            all_counts=counts_line(checks.get("counts", {}), checks.get("total", 0), "checks in this run"),
            others=others,
            history=_history_rows(this_run, earlier),
            history_title=_history_title(history_key, context, phase),
            history_note=_history_note(len(earlier)),
            env={
                **env,
                "compare_rate": (
                    f"{env.get('compare_rate_rows_per_s'):g} rows/s per cluster"
                    if env.get("compare_rate_rows_per_s")
                    else "not limited"
                ),
                "perf_rate": f"{env.get('perf_rate_ops_per_s', 0):g}",
            },
            endpoints=endpoints,
            proxy_settings=sorted(env.get("proxy_settings", {}).items()),
            rendered=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            version=pytest_zdm.__version__,
            allure_version=allure_version,
        )
    )
    return redact.text(html)


def _history_title(key: str, context: Mapping[str, Any], phase: Mapping[str, Any] | None) -> str:
    target = context.get("target", "?")
    if phase is None:
        return f"earlier ungated runs on target {target}"
    return f"earlier runs of target {target} entering phase {phase['entering']} ({phase['slug']})"


def _history_note(earlier: int) -> str:
    if earlier:
        return (
            f"{earlier} earlier run(s) recorded in the history this report was rendered with "
            "(zdm-verify report --history DIR; CI keeps it between jobs)."
        )
    return (
        "No earlier run recorded: the history directory (zdm-verify report --history DIR, default "
        "reports/history) was empty. CI keeps it between jobs as a cache or artifact."
    )
