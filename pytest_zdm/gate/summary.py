"""The verification summary at the end of a run: every check that did not pass, and why.

A skipped check is not a pass. The guide this project replaces reported "8/9 passed (100% success)" with a
check skipped; here the last line says ``all N checks ran and passed`` only when that is literally true.
Registered on the controller only, so under xdist it sees every worker's reports once.
"""

from __future__ import annotations

from typing import Any

import pytest

PASSED, FAILED, ERROR, SKIPPED, XFAILED = "PASSED", "FAILED", "ERROR", "SKIPPED", "XFAILED"


class VerificationSummary:
    """Collects each check's outcome from its reports and writes the ``zdm verification`` section."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[tuple[str, str, str]]] = {}
        self.collected: set[str] = set()
        self.stopped = ""
        self.interrupted = False

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The checks this run selected (no xdist: the controller collects them itself)."""
        self.collected.update(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The checks a worker selected."""
        self.collected.update(ids)

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """Ctrl-C (or SIGINT), even during the last teardown: the run did not finish, so nothing passed it.

        pytest-xdist ends a run it stops early (``session.shouldfail`` on a worker, e.g. the environment did
        not start) with its own ``Interrupted``, a KeyboardInterrupt too: that is an early stop, not Ctrl-C.
        """
        value = excinfo.value
        from_xdist = type(value).__module__.split(".")[0] == "xdist"
        if from_xdist and "keyboard-interrupt" not in str(value):
            self.stopped = self.stopped or str(value)
            return
        self.interrupted = True
        self.stopped = "the run was interrupted (Ctrl-C)"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Why the run ended before running every check, if it did."""
        if self.interrupted or self.stopped:
            return
        reason = session.shouldfail or session.shouldstop
        if reason:
            self.stopped = str(reason)
        elif exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = True
            self.stopped = "the run was interrupted"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record the outcome of each phase that matters (setup/teardown only when they did not pass)."""
        if report.when != "call" and report.outcome == "passed":
            return
        reason = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            lines = (report.longreprtext or "").strip().splitlines()
            reason = str(crash.message) if crash is not None else (lines[-1] if lines else "")
            reason = " ".join(reason.split())
        outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        if outcome == "xfailed":
            reason = f"xfailed: {report.wasxfail}" if report.wasxfail else "xfailed"
        self.outcomes.setdefault(report.nodeid, []).append((outcome, report.when, reason))

    def verdicts(self) -> dict[str, tuple[str, str]]:
        """Map nodeid -> (PASSED, FAILED, ERROR, SKIPPED or XFAILED, reason)."""
        verdicts: dict[str, tuple[str, str]] = {}
        for nodeid, outcomes in self.outcomes.items():
            failed = [o for o in outcomes if o[0] == "failed"]
            skipped = [o for o in outcomes if o[0] in ("skipped", "xfailed")]
            if failed:
                verdicts[nodeid] = (FAILED if failed[0][1] == "call" else ERROR, failed[0][2])
            elif skipped:
                verdicts[nodeid] = (XFAILED if skipped[0][0] == "xfailed" else SKIPPED, skipped[0][2])
            elif any(o[0] == "passed" and o[1] == "call" for o in outcomes):
                verdicts[nodeid] = (PASSED, "")
        return verdicts

    def write(self, terminalreporter: Any) -> None:
        """The ``zdm verification`` section."""
        verdicts = self.verdicts()
        if not verdicts and not self.stopped:
            return
        counts = {k: sum(1 for v in verdicts.values() if v[0] == k) for k in (PASSED, FAILED, ERROR, SKIPPED)}
        counts[SKIPPED] += sum(1 for v in verdicts.values() if v[0] == XFAILED)
        terminalreporter.section("zdm verification")
        for nodeid, (verdict, reason) in verdicts.items():
            if verdict != PASSED:
                terminalreporter.write_line(f"{verdict} {nodeid}: {reason}"[:400])
        not_run = len(self.collected - verdicts.keys())
        total = len(self.collected | verdicts.keys())
        if self.stopped:
            shown = self.stopped if self.interrupted else f"the run stopped early: {self.stopped}"
            terminalreporter.write_line(shown[:400], red=True)
        terminalreporter.write_line(
            f"checks: {counts[PASSED]} passed, {counts[FAILED] + counts[ERROR]} failed, "
            f"{counts[SKIPPED]} skipped, {not_run} not run (a check that did not run or was skipped is not "
            "a pass)"
        )
        not_passed = total - counts[PASSED]
        if self.stopped and not not_passed:
            shown = f"not verified: {total} of {total} checks passed, but the run did not finish"
            terminalreporter.write_line(shown, red=True, bold=True)
        elif not_passed or self.stopped:
            terminalreporter.write_line(
                f"not verified: {not_passed} of {total} checks did not pass", red=True, bold=True
            )
        else:
            terminalreporter.write_line(f"all {total} checks ran and passed", green=True, bold=True)
