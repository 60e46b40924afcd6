"""End-of-run sign-off: the gate verdict, its file and exit code, the Allure run files and the run record.

Registered on the controller (the only process that sees every check's report under xdist), so the gate
file, the Allure run files and the run record the sign-off page is built from (:mod:`.record`) are written
exactly once. Workers register :class:`WorkerNotes`, which hands the controller what only a worker knows:
the checks it deselected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm import redact
from pytest_zdm.errors import ZdmError
from pytest_zdm.gate import verdict as gate
from pytest_zdm.gate.rehearsal import Rehearsal
from pytest_zdm.gate.summary import VerificationSummary
from pytest_zdm.lab.proxy import behaviour
from pytest_zdm.model import EnvironmentInfo
from pytest_zdm.phases import describe
from pytest_zdm.report import allure as allure_results
from pytest_zdm.report import executor, record
from pytest_zdm.settings import Settings
from pytest_zdm.targets import target_class

_DESELECTED = "zdm_deselected"


class WorkerNotes:
    """xdist worker: pass the node ids this worker deselected to the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.deselected: list[str] = []

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Remember deselected checks (-k, -m, --deselect)."""
        self.deselected.extend(item.nodeid for item in items)

    def pytest_sessionfinish(self) -> None:
        """Hand them over with the worker's output."""
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_DESELECTED] = self.deselected


class SignOff:
    """Controller: decides the gate (when ``--zdm-gate``) and writes the run's Allure files (when active)."""

    def __init__(self, config: pytest.Config, settings: Settings, summary: VerificationSummary, run_dir: Path,
                 run_id: str, *, plan: Mapping[str, Any] | None = None,
                 rehearsal: Rehearsal | None = None) -> None:  # fmt: skip
        self.config = config
        self.rehearsal = rehearsal
        self.settings = settings
        self.summary = summary
        self.run_dir = run_dir
        self.run_id = run_id
        self.plan = dict(plan or {})
        self.started = gate.now_iso()
        self.required: list[gate.RequiredCheck] | None = None
        self.required_error = ""
        self._collection: gate.RequiredCollection | None = None
        self.deselected: set[str] = set()
        self.collected: set[str] = set()
        self.result: gate.GateResult | None = None
        self.write_error = ""

    # --- what this run selected ----------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Start finding the gate's required checks, in a subprocess that runs beside the checks.

        A ``--collect-only`` run runs no check, so it decides nothing and must not overwrite the verdict of
        a real run: the gate is off for it.
        """
        if self.settings.zdm_gate is None or self.config.option.collectonly:
            return
        paths = self.settings.zdm_gate_suites or _gate_paths(self.config, self.settings)
        self._collection = gate.RequiredCollection(
            paths,
            invocation_dir=Path(self.config.invocation_params.dir),
            rootdir=Path(str(self.config.rootpath)),
            inifile=Path(str(self.config.inipath)) if self.config.inipath else None,
        )

    def _required(self) -> list[gate.RequiredCheck]:
        """The gate's required checks, collected meanwhile by the subprocess started with the session."""
        if self.required is None and self._collection is not None:
            try:
                self.required = self._collection.result()
            except ZdmError as exc:
                self.required_error = str(exc)
            self._collection = None
        return self.required or []

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Checks deselected in this process (no xdist)."""
        self.deselected.update(item.nodeid for item in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Checks collected in this process (no xdist)."""
        self.collected.update(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Checks collected by a worker (after its deselection)."""
        self.collected.update(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Checks a worker deselected."""
        self.deselected.update(getattr(node, "workeroutput", {}).get(_DESELECTED, []))

    # --- the verdict -----------------------------------------------------------------------------------

    def context(self, exitstatus: int) -> dict[str, Any]:
        """Target, versions, settings and times for the gate file and Allure's environment widget."""
        info = self._info()
        versions = dict(info.versions) if info else {}
        return {
            "target": self.settings.zdm_target,
            "origin_cassandra": versions.get("origin"),
            "target_cassandra": versions.get("target"),
            "origin_java": versions.get("origin_java"),
            "target_java": versions.get("target_java"),
            "zdm_proxy": versions.get("proxy"),
            "zdm_proxy_commit": versions.get("proxy_commit"),
            "proxy_behaviour": behaviour(info.proxy_settings) if info and info.proxy_settings else {},
            "primary_cluster": self.settings.zdm_primary_cluster,
            "read_mode": self.settings.zdm_read_mode,
            "proxy_phase": self.settings.zdm_phase,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "started": self.started,
            "finished": gate.now_iso(),
            "pytest_exit_status": int(exitstatus),
        }

    def environment(self, info: EnvironmentInfo | None) -> dict[str, Any]:
        """What was verified where, for the report's environment section.

        Endpoints, the target's own description (kube context, static config, images), compared tables,
        budgets and workload, the proxy's settings (secrets masked).
        """
        settings = self.settings
        details: list[str] = []
        if self.plan or settings.zdm_target in ("kind", "kube", "static"):
            try:
                header = target_class(settings.zdm_target).report_header(settings, self.plan)
                details = [line.removeprefix("zdm: ") for line in header]
            except (KeyError, ZdmError):  # a plan without the planned ports (attached run)
                details = []
        endpoints: dict[str, str] = {}
        if info is not None:
            for name in ("origin", "target", "proxy"):
                endpoint = info.endpoint(name)
                dc = f" (dc {endpoint.local_dc})" if endpoint.local_dc else ""
                endpoints[name] = f"{endpoint}{dc}, user {info.usernames.get(name, '?')}"
            endpoints["proxy health/metrics"] = info.proxy_http
        return {
            "endpoints": endpoints,
            "target_details": details,
            "compared_tables": list(settings.zdm_compare_tables),
            "compare_writetime": settings.zdm_compare_writetime,
            "compare_rate_rows_per_s": settings.zdm_compare_rate,
            "budget_p99_overhead_ms": settings.zdm_budget_p99_overhead_ms,
            "budget_error_rate": settings.zdm_budget_error_rate,
            "perf_operations": settings.zdm_perf_operations,
            "perf_rate_ops_per_s": settings.zdm_perf_rate,
            "protocol_version": settings.zdm_protocol_version,
            "proxy_settings": dict(info.proxy_settings) if info is not None else {},
            "run_dir": str(self.run_dir),
        }

    def all_checks(self) -> dict[str, Any]:
        """Every check of the run, required or not: counts per outcome and those that did not pass."""
        verdicts = self.summary.verdicts()
        counts: dict[str, int] = {}
        for outcome, _ in verdicts.values():
            counts[outcome.lower()] = counts.get(outcome.lower(), 0) + 1
        not_run = sorted(self.summary.collected - verdicts.keys())
        if not_run:
            counts["not run"] = len(not_run)
        not_passed = [{"nodeid": n, "outcome": o.lower(), "reason": r} for n, (o, r) in verdicts.items()
                      if o != "PASSED"]  # fmt: skip
        not_passed += [{"nodeid": n, "outcome": "not run", "reason": "collected but not run"}
                       for n in not_run]  # fmt: skip
        return {"counts": counts, "total": len(verdicts) + len(not_run), "not_passed": not_passed,
                "stopped": self.summary.stopped}  # fmt: skip

    def _rehearsal(self, here: dict[str, Any]) -> tuple[dict[str, str], str, dict[str, Any] | None]:
        """Which destructive checks the rehearsal given covers (key -> where), why not, and its record."""
        rehearsal = self.rehearsal
        if rehearsal is None:
            return {}, "", None
        problems = rehearsal.differences(here)
        record: dict[str, Any] = {
            "path": str(rehearsal.path),
            "run_id": rehearsal.run_id,
            "target": rehearsal.target,
            "finished": rehearsal.finished,
            "accepted": not problems,
            "problems": problems,
        }
        if problems:
            return {}, f"the rehearsal {rehearsal.path} is not accepted: " + "; ".join(problems), record
        where = f"passed in the {rehearsal.describe()}"
        return dict.fromkeys(rehearsal.passed, where), "", record

    def _cassandra_releases(self) -> dict[str, str]:
        """The release each cluster reported (empty when the environment never started)."""
        info = self._info()
        versions = dict(info.versions) if info else {}
        return {c: str(versions[c]) for c in ("origin", "target") if versions.get(c)}

    def _info(self) -> EnvironmentInfo | None:
        env_file = self.run_dir / "env.json"
        try:
            return EnvironmentInfo.from_json(json.loads(env_file.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Decide, write ``gate.json`` and the Allure files, and make the exit code follow the verdict."""
        gate_json: dict[str, Any] | None = None
        rehearsal_json: dict[str, Any] | None = None
        if self.settings.zdm_gate is not None and not self.config.option.collectonly:
            rehearsed, note, rehearsal_json = self._rehearsal(self.context(int(session.exitstatus)))
            self.result = gate.decide(
                self.settings.zdm_gate,
                self._required(),
                self.summary.verdicts(),
                deselected=self.deselected,
                collected=self.collected or None,
                proxy_phase=self.settings.zdm_phase,
                rehearsed=rehearsed,
                rehearsal_note=note,
                cassandra=self._cassandra_releases(),
            )
            if rehearsal_json is not None:
                rehearsal_json["covered"] = [
                    c.nodeid for c in self.result.checks if c.outcome == gate.REHEARSED
                ]
            if self.required_error:
                if self.result.verdict == gate.PASS:
                    self.result.verdict = gate.INCOMPLETE
                self.result.reasons.insert(0, self.required_error)
            if self.summary.interrupted:  # even after the last check: its teardown did not finish
                if self.result.verdict == gate.PASS:
                    self.result.verdict = gate.INCOMPLETE
                unfinished = f"{self.summary.stopped}: the gate cannot pass an unfinished run"
                self.result.reasons.insert(0, unfinished)
            if self.result.verdict != gate.PASS and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        context = self.context(int(session.exitstatus))
        info = self._info()
        runner = executor.current(Path(str(self.config.rootpath)), self.config.invocation_params.args)
        context["executor"] = runner.to_json()
        context["environment"] = self.environment(info)
        if self.result is not None:
            gate_json = self.result.to_json(context)
            if rehearsal_json is not None:
                gate_json["rehearsal"] = rehearsal_json
            try:
                gate.write_gate_file(self.settings.zdm_gate_file, gate_json, redact.text)
            except ZdmError as exc:  # the verdict is still printed; the run must not look like a pass
                self.write_error = str(exc)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_path:
                gate.github_step_summary(self.result, summary_path)
        directory = allure_results.alluredir(self.config)
        if directory is not None:
            allure_results.write_run_files(directory, self._properties(context), runner.allure())
            if self.result is not None and gate_json is not None:
                allure_results.write_gate_result(directory, self.result, gate_json)
                allure_results.write_unrun_results(directory, self.result)
            gate_part = self.result.to_json({}) if self.result is not None else None
            if gate_part is not None and rehearsal_json is not None:
                gate_part["rehearsal"] = rehearsal_json
            record.write(directory, {"context": context, "gate": gate_part, "checks": self.all_checks()})
            allure_results.scrub(directory)

    def _properties(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Allure's environment widget: one line per fact (keys without spaces: Java properties)."""
        skip = ("run_dir", "started", "finished", "executor", "environment")
        props = {k: v for k, v in context.items() if k not in skip}
        if self.result is not None:
            props["gate"] = f"entering phase {describe(self.result.entering)}: {self.result.verdict}"
        env = context["environment"]
        for name, value in env["endpoints"].items():
            props[f"{name.replace(' ', '_').replace('/', '_')}_endpoint"] = value
        for n, line in enumerate(env["target_details"], 1):
            props[f"target_details_{n}"] = line
        props["compared_tables"] = ", ".join(env["compared_tables"]) or "none named (zdm_compare_tables)"
        props["budget_p99_overhead_ms"] = env["budget_p99_overhead_ms"]
        props["budget_error_rate"] = env["budget_error_rate"]
        rate = env["perf_rate_ops_per_s"]
        props["perf_workload"] = f"{env['perf_operations']} operations at {rate:g} ops/s"
        runner = context["executor"]
        props["executor"] = runner["ci"] or f"{runner['user']}@{runner['host']}"
        props["command"] = runner["command"]
        props["git_commit"] = runner["git_commit"]
        return props

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The verdict, after the other zdm sections (only pytest's short summary and counts follow)."""
        if self.result is None:
            return
        terminalreporter.section("zdm gate")
        for reason in self.result.reasons[:40]:
            terminalreporter.write_line(reason[:400])
        if len(self.result.reasons) > 40:
            more = len(self.result.reasons) - 40
            terminalreporter.write_line(f"... {more} more in {self.settings.zdm_gate_file}")
        for check in self.result.not_applicable:
            terminalreporter.write_line(f"NOT APPLICABLE {check.nodeid}: {check.reason}"[:400])
        colour = {"green": True} if self.result.verdict == gate.PASS else {"red": True}
        terminalreporter.write_line(self.result.headline(), bold=True, **colour)
        if self.write_error:
            terminalreporter.write_line(f"verdict NOT written: {self.write_error}", red=True, bold=True)
        else:
            terminalreporter.write_line(f"verdict written to {self.settings.zdm_gate_file}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Scrub secrets from the JUnit XML too (pytest writes it at the very end of the session)."""
        xmlpath = getattr(config.option, "xmlpath", None)
        if xmlpath and list(redact.secrets()):
            path = Path(xmlpath)
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                clean = redact.text(text)
                if clean != text:
                    path.write_text(clean, encoding="utf-8")


def _gate_paths(config: pytest.Config, settings: Settings) -> tuple[str, ...]:
    """What the gate collects by default: the built-in suites and the run's own test paths."""
    paths = [str(gate.builtin_suites())] if settings.zdm_builtin_suites else []
    for arg in config.args:
        path = arg.split("::")[0]
        if Path(path).exists() and str(Path(path).resolve()) not in paths:
            paths.append(str(Path(path).resolve()))
    return tuple(paths)
