"""Allure results a reviewer can sign off: environment, categories, labels, evidence and the gate verdict.

allure-pytest writes one result per check; this module adds what makes the report a migration sign-off:

- ``environment.properties``: target, each cluster's Cassandra version, zdm-proxy version and commit,
  primary cluster, read mode, phase, gate verdict;
- ``categories.json``: failures sorted into proxy instability, data divergence, connectivity,
  configuration, error recovery and performance budget;
- ``executor.json``: the CI build that produced the report, or user@host and the command line;
- labels: epic / feature and parent suite (the suite's name) / story (the check's first docstring line) /
  severity (blocker when the gated phase requires the check) / ``zdm_nodeid`` (links the sign-off page's
  rows to the check's result);
- a ``ZDM gate`` result carrying the verdict, the required checks and ``gate.json``, and a skipped result
  ("not verified") for each required check that never ran (deselected, not collected, not run), so
  Allure's counts do not leave it out;
- evidence on failure: the tails of the proxy's and nodes' logs.

Allure stays optional: every function here is a no-op unless allure-pytest runs with ``--alluredir``. The
files are written once per run by the controller at the end of the session, so neither xdist workers nor
``--clean-alluredir`` (applied at start-up) can lose or duplicate them. Every file is scrubbed of
registered secrets last (:func:`scrub`).
"""

from __future__ import annotations

import html
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm import redact
from pytest_zdm.gate.verdict import FAIL, PASS, GateResult, RequiredCheck
from pytest_zdm.phases import PHASES

EPIC = "ZDM migration verification"
#: Suite module -> (feature shown in the report, severity when the check is not gating).
FEATURES: dict[str, tuple[str, str]] = {
    "test_connection": ("Connection", "critical"),
    "test_dual_write": ("Dual writes", "critical"),
    "test_consistency": ("Data consistency", "critical"),
    "test_end_to_end": ("End-to-end workflow", "critical"),
    "test_error_recovery": ("Error recovery", "critical"),
    "test_performance": ("Performance", "normal"),
}
_DOTALL = "(?s)"
#: Allure matches each regex against the whole text (Java ``matches``); the first matching category wins.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Phase gate not passed",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": _DOTALL + "gate (FAIL|INCOMPLETE):.*",
    },
    {
        "name": "Proxy instability (check skipped, not verified)",
        "matchedStatuses": ["skipped"],
        "messageRegex": _DOTALL + ".*proxy unstable.*",
    },
    {
        "name": "Skipped (not verified)",
        "matchedStatuses": ["skipped"],
    },
    {
        "name": "Performance budget exceeded",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": _DOTALL + ".*test_performance\\.py.*",
    },
    {
        "name": "Configuration",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": _DOTALL
        + ".*def test_(proxy_configuration|proxy_routing|protocol_version|proxy_is_wired).*",
    },
    {
        "name": "Connectivity",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": _DOTALL + ".*(NoHostAvailable|OperationTimedOut|Unable to connect|Connection refused|"
        "ConnectionException|environment unavailable|unreachable|AuthenticationFailed).*",
    },
    {
        "name": "Error recovery",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": _DOTALL + ".*test_error_recovery\\.py.*",
    },
    {
        "name": "Data divergence",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": _DOTALL + ".*(test_dual_write|test_consistency|test_end_to_end)\\.py.*",
    },
    {
        "name": "Connectivity",
        "matchedStatuses": ["failed", "broken"],
        "traceRegex": _DOTALL + ".*test_connection\\.py.*",
    },
]
_LOG_TAIL_LINES = 80
#: The label carrying a check's pytest node id: how the sign-off page finds the check's Allure result.
NODEID_LABEL = "zdm_nodeid"


def alluredir(config: pytest.Config) -> Path | None:
    """The results directory when allure-pytest is active with ``--alluredir``; None otherwise."""
    if not config.pluginmanager.hasplugin("allure_pytest"):
        return None
    value = getattr(config.option, "allure_report_dir", None)
    return Path(os.path.abspath(value)) if value else None


def add_labels(
    config: pytest.Config, items: list[pytest.Item], gate_phase: int | None, proxy_phase: int | None
) -> None:
    """Epic/feature/story/severity labels, unless the check sets its own (through allure's markers)."""
    if alluredir(config) is None:
        return
    for item in items:
        own = {m.kwargs.get("label_type") for m in item.iter_markers("allure_label")}
        module = getattr(getattr(item, "module", None), "__name__", "").rpartition(".")[2]
        default = (module.removeprefix("test_").replace("_", " ").capitalize(), "normal")
        feature, severity = FEATURES.get(module, default)
        required = RequiredCheck.of(item)
        phases = required.phases if required else ()
        if required and gate_phase is not None and required.applies(gate_phase, proxy_phase):
            severity = "blocker"
        doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip().splitlines()
        story = doc[0].rstrip(".") if doc else item.name
        labels = {"epic": EPIC, "feature": feature, "story": story, "severity": severity,
                  "parentSuite": feature, "suite": f"{module}.py", NODEID_LABEL: item.nodeid}  # fmt: skip
        for label_type, value in labels.items():
            if label_type not in own:
                item.add_marker(pytest.mark.allure_label(value, label_type=label_type))
        if phases:
            item.add_marker(pytest.mark.allure_label(*(f"required for phase {p}" for p in sorted(phases)),
                                                     label_type="tag"))  # fmt: skip


def attach_text(body: str, name: str) -> None:
    """Attach text to the running check's result (no-op without allure)."""
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    allure.attach(redact.text(body), name=name, attachment_type=allure.attachment_type.TEXT)


def attach_file(path: Path, name: str | None = None) -> None:
    """Attach a file (PNG, JSON, text) to the running check's result (no-op without allure)."""
    try:
        import allure
    except ImportError:  # pragma: no cover
        return
    kinds = {".png": allure.attachment_type.PNG, ".json": allure.attachment_type.JSON,
             ".csv": allure.attachment_type.CSV, ".md": allure.attachment_type.TEXT}  # fmt: skip
    kind = kinds.get(path.suffix.lower(), allure.attachment_type.TEXT)
    allure.attach.file(str(path), name=name or path.name, attachment_type=kind)


def attach_evidence(name: str, value: object) -> None:
    """A finding: a file (mismatch report, plot) attached as itself, anything else as text."""
    if isinstance(value, (str, Path)) and len(str(value)) < 1024:
        try:
            path = Path(value)
            if path.is_file():
                attach_file(path, f"{name}: {path.name}")
                return
        except OSError:  # not a path after all
            pass
    attach_text(str(value), name)


def attach_log_tails(logs: Mapping[str, str]) -> None:
    """On a failed check: the last lines of each process's log, where a reviewer looks for the cause."""
    for name, path in logs.items():
        try:
            lines = Path(path).read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            continue
        attach_text("\n".join(lines), f"log tail: {name} ({Path(path).name})")


def environment_properties(context: Mapping[str, Any]) -> str:
    """``key = value`` lines (Allure's environment widget); values on one line each."""
    lines = []
    for key, value in context.items():
        if value is None or value == "":
            continue
        text = " ".join(str(value).split())
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def write_run_files(directory: Path, context: Mapping[str, Any], executor: Mapping[str, Any]) -> None:
    """environment.properties, categories.json and executor.json (once, by the controller)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "environment.properties").write_text(redact.text(environment_properties(context)))
    (directory / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    (directory / "executor.json").write_text(redact.text(json.dumps(dict(executor), indent=2)))


def write_gate_result(directory: Path, result: GateResult, gate_json: Mapping[str, Any]) -> None:
    """The verdict as a result of its own ("ZDM gate"), so it is the first thing a reviewer sees."""
    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import Attachment, Label, Status, StatusDetails, TestResult

    logger = AllureFileLogger(str(directory))
    status = {PASS: Status.PASSED, FAIL: Status.FAILED}.get(result.verdict, Status.BROKEN)
    source = f"{uuid.uuid4()}-attachment.json"
    logger.report_attached_data(redact.text(json.dumps(gate_json, indent=2)), source)
    rows = "".join(
        f"<tr><td>{html.escape(c.outcome)}</td><td><code>{html.escape(c.nodeid)}</code></td>"
        f"<td>{html.escape(c.reason)}</td></tr>"
        for c in result.checks
    )
    description = (
        f"<p><b>{html.escape(result.headline())}</b></p>"
        f"<p>Phase about to be entered: {html.escape(PHASES[result.entering].title)}.</p>"
        f"<table><tr><th>outcome</th><th>required check</th><th>reason</th></tr>{rows}</table>"
    )
    stamp = int(time.time() * 1000)
    name = f"ZDM gate: entering phase {result.entering} ({PHASES[result.entering].slug}): {result.verdict}"
    test = TestResult(
        uuid=str(uuid.uuid4()),
        historyId=f"zdm-gate-{result.entering}",
        testCaseId=f"zdm-gate-{result.entering}",
        fullName=f"zdm.gate.phase{result.entering}",
        name=name,
        status=status,
        statusDetails=StatusDetails(message=redact.text("\n".join([result.headline(), *result.reasons]))),
        descriptionHtml=redact.text(description),
        start=stamp,
        stop=stamp,
        labels=[
            Label("epic", EPIC),
            Label("feature", "Phase gate"),
            Label("suite", "ZDM gate"),
            Label("severity", "blocker"),
            Label("framework", "pytest-zdm"),
            Label(NODEID_LABEL, GATE_NODEID),
        ],
        attachments=[Attachment(name="gate.json", source=source, type="application/json")],
    )
    logger.report_result(test)


#: The ``zdm_nodeid`` label of the gate's own result.
GATE_NODEID = "zdm-gate"
_NEVER_RAN = ("deselected", "not collected", "not run")


def write_unrun_results(directory: Path, result: GateResult) -> int:
    """A skipped result ("not verified") for each required check that never ran; returns how many.

    allure-pytest writes results only for checks that ran, so a required check left out with ``-k`` or by
    naming fewer files would be missing from Allure's counts and the overview could look all green.
    """
    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import Label, Status, StatusDetails, TestResult

    logger = AllureFileLogger(str(directory))
    stamp = int(time.time() * 1000)
    written = 0
    for check in result.checks:
        if check.outcome not in _NEVER_RAN:
            continue
        default = check.suite.removeprefix("test_").replace("_", " ").capitalize()
        feature = FEATURES[check.suite][0] if check.suite in FEATURES else default
        path, _, name = check.nodeid.rpartition("::")
        why = f"not verified: {check.outcome} ({check.reason}); required for phase {result.entering}"
        test = TestResult(
            uuid=str(uuid.uuid4()),
            historyId=f"zdm-unrun-{check.nodeid}",
            testCaseId=f"zdm-unrun-{check.nodeid}",
            fullName=check.nodeid,
            name=name or check.nodeid,
            status=Status.SKIPPED,
            statusDetails=StatusDetails(message=redact.text(why)),
            start=stamp,
            stop=stamp,
            labels=[
                Label("epic", EPIC),
                Label("feature", feature),
                Label("parentSuite", feature),
                Label("suite", Path(path).name or check.suite),
                Label("severity", "blocker"),
                Label("tag", check.outcome),
                Label("framework", "pytest-zdm"),
                Label(NODEID_LABEL, check.nodeid),
            ],
        )
        logger.report_result(test)
        written += 1
    return written


def scrub(directory: Path) -> int:
    """Replace registered secrets in every results file; returns how many files needed it."""
    if not list(redact.secrets()):
        return 0
    changed = 0
    for path in directory.rglob("*"):
        if not path.is_file() or path.suffix.lower() in (".png", ".jpg"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        clean = redact.text(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed += 1
    return changed
