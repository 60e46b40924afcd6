"""The phase-change gate: a verdict on whether the migration may enter the next ZDM phase.

The required checks are those marked ``zdm_required_for(<phase>)`` in the gate's suites. They are found by
a separate ``--collect-only`` of those suites (not from this run's own collection), so a check that was
deselected with ``-k``/``-m``, left out by naming fewer files, or never collected is still known to be
required, and the verdict says so. The verdict is:

- ``PASS``: every required check ran and passed;
- ``FAIL``: a required check failed or errored (named);
- ``INCOMPLETE``: otherwise, e.g. a required check was skipped (proxy instability included), xfailed,
  deselected or not collected (named, with the reason).

An empty requirement is INCOMPLETE: a gate with nothing to check cannot pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.model import Capability
from pytest_zdm.phases import PHASES

#: Set in the collect-only subprocess: the plugin writes the required checks it collected to this file.
MANIFEST_ENV = "PYTEST_ZDM_GATE_MANIFEST"
PASS, FAIL, INCOMPLETE = "PASS", "FAIL", "INCOMPLETE"
#: Outcome of a destructive check not run here but passed by an accepted rehearsal (counts as passed).
REHEARSED = "rehearsed"
_COLLECT_TIMEOUT = 180.0
_DESELECTED = "deselected (-k, -m or --deselect)"
_NOT_RUN = "collected but not run (the run stopped early)"


def check_key(nodeid: str, suite: str) -> str:
    """A check's identity across runs: its suite and name (node ids differ with the paths a run is given)."""
    return f"{suite}::{nodeid.split('::', 1)[-1]}"


#: Fixtures that need a capability of the target: a check using one needs it too.
FIXTURE_NEEDS = {
    "proxy_configuration": Capability.PROXY_SETTINGS,
    "parsed_configuration": Capability.PROXY_LOG,
}


def needs_of(item: Any) -> frozenset[Capability]:
    """What a check needs of the target: its ``zdm_needs`` markers and the fixtures it uses."""
    needs = {FIXTURE_NEEDS[name] for name in getattr(item, "fixturenames", ()) if name in FIXTURE_NEEDS}
    for mark in item.iter_markers("zdm_needs"):
        needs.update(Capability(str(arg)) for arg in mark.args)
    return frozenset(needs)


@dataclass(frozen=True)
class RequiredCheck:
    """A check marked ``zdm_required_for``: its node id, the phases it gates and its suite (module)."""

    nodeid: str
    phases: tuple[int, ...]
    suite: str
    #: Required only when the proxy runs with one of these phases' configuration (empty: always).
    when_proxy_phase: tuple[int, ...] = ()
    #: :class:`~pytest_zdm.model.Capability` values the check needs (markers and fixtures).
    needs: tuple[str, ...] = ()
    #: Marked ``zdm_destructive``: never run against production, so a rehearsal may cover it.
    destructive: bool = False

    @property
    def key(self) -> str:
        """The check's identity across runs (see :func:`check_key`)."""
        return check_key(self.nodeid, self.suite)

    @classmethod
    def of(cls, item: Any) -> RequiredCheck | None:
        """What a collected check's ``zdm_required_for`` marker requires; None when it has none.

        The closest marker wins, so a check can narrow what its module requires (e.g. a check that only
        applies when the proxy runs with phase 3's asynchronous dual reads).
        """
        mark = item.get_closest_marker("zdm_required_for")
        if mark is None or not mark.args:
            return None
        when = mark.kwargs.get("when_proxy_phase", ())
        when = (when,) if isinstance(when, int) else tuple(when)
        # The suite is the module's own name, however it was imported (``pytest_zdm.suites.test_x`` when
        # installed, ``suites.test_x`` in a checkout): ``test_x``.
        module = getattr(getattr(item, "module", None), "__name__", "") or item.nodeid.split("::")[0]
        module = module.rsplit(".", 1)[-1].removesuffix(".py").rsplit("/", 1)[-1]
        return cls(
            item.nodeid,
            tuple(sorted(int(p) for p in mark.args)),
            module,
            tuple(int(p) for p in when),
            tuple(sorted(c.value for c in needs_of(item))),
            item.get_closest_marker("zdm_destructive") is not None,
        )

    def applies(self, entering: int, proxy_phase: int | None) -> bool:
        """Whether entering ``entering`` requires this check, the proxy running with ``proxy_phase``'s."""
        return entering in self.phases and (not self.when_proxy_phase or proxy_phase in self.when_proxy_phase)


@dataclass
class CheckOutcome:
    """What happened to one required check in this run."""

    nodeid: str
    suite: str
    outcome: str  # passed | failed | error | skipped | xfailed | deselected | not collected | not run
    reason: str = ""


@dataclass
class GateResult:
    """The verdict and everything a reviewer needs to trust it (written to ``gate.json``)."""

    verdict: str
    entering: int
    checks: list[CheckOutcome]
    reasons: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Required checks per outcome."""
        counts: dict[str, int] = {}
        for check in self.checks:
            counts[check.outcome] = counts.get(check.outcome, 0) + 1
        return counts

    def headline(self) -> str:
        """One line: ``gate FAIL: entering phase 4 (route-reads): 2 of 41 required checks failed``."""
        phase = PHASES[self.entering]
        total = len(self.checks)
        if self.verdict == PASS:
            rehearsed = sum(1 for c in self.checks if c.outcome == REHEARSED)
            detail = f"all {total} required checks ran and passed" + (
                f" ({rehearsed} of them in the rehearsal given)" if rehearsed else ""
            )
        elif self.verdict == FAIL:
            bad = sum(1 for c in self.checks if c.outcome in ("failed", "error"))
            detail = f"{bad} of {total} required checks failed"
        elif not total:
            detail = "no check is marked as required for this phase"
        else:
            missing = sum(1 for c in self.checks if c.outcome not in ("passed", REHEARSED))
            detail = f"{missing} of {total} required checks did not run to a pass"
        return f"gate {self.verdict}: entering phase {self.entering} ({phase.slug}): {detail}"

    def to_json(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The gate file's content; ``context`` adds target, versions, times and the like."""
        phase = PHASES[self.entering]
        return {
            "verdict": self.verdict,
            "headline": self.headline(),
            "phase_change": {
                "entering": self.entering,
                "entering_name": phase.slug,
                "entering_title": phase.title,
                "from": self.entering - 1 if self.entering > 1 else None,
            },
            **context,
            "counts": self.counts,
            "reasons": self.reasons,
            "checks": [asdict(c) for c in self.checks],
        }


def builtin_suites() -> Path:
    """Where the built-in suites (:mod:`pytest_zdm.suites`) are installed."""
    from pytest_zdm import suites

    return Path(suites.__file__).resolve().parent


def collect_required(
    paths: Sequence[str], *, invocation_dir: Path, rootdir: Path, inifile: Path | None
) -> list[RequiredCheck]:
    """Every check under ``paths`` marked ``zdm_required_for``, found by a collect-only subprocess."""
    with tempfile.TemporaryDirectory(prefix="zdm-gate-") as tmp:
        manifest = Path(tmp) / "manifest.json"
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", "--rootdir", str(rootdir)]  # fmt: skip
        if inifile is not None:
            cmd += ["-c", str(inifile)]
        cmd += list(paths)
        env = {**os.environ, MANIFEST_ENV: str(manifest)}
        env.pop("PYTEST_XDIST_WORKER", None)
        env.pop("PYTEST_ADDOPTS", None)
        try:
            proc = subprocess.run(cmd, cwd=invocation_dir, env=env, capture_output=True, text=True,
                                  timeout=_COLLECT_TIMEOUT, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            limit = f"{_COLLECT_TIMEOUT:.0f}s"
            raise ZdmError(f"zdm_gate: collecting the gate's suites took over {limit}") from None
        if not manifest.exists() or proc.returncode not in (0, 5):
            tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise ZdmError(f"zdm_gate: could not collect the gate's suites {list(paths)}: {tail}")
        data = json.loads(manifest.read_text())
    return [
        RequiredCheck(
            d["nodeid"],
            tuple(d["phases"]),
            d["suite"],
            tuple(d.get("when_proxy_phase", ())),
            tuple(d.get("needs", ())),
            bool(d.get("destructive")),
        )
        for d in data
    ]


def write_manifest(path: Path, items: Iterable[Any]) -> None:
    """In the collect-only subprocess: record what each collected check's ``zdm_required_for`` requires."""
    required = (RequiredCheck.of(item) for item in items)
    path.write_text(json.dumps([asdict(req) for req in required if req is not None]))


def decide(
    entering: int,
    required: Iterable[RequiredCheck],
    verdicts: Mapping[str, tuple[str, str]],
    *,
    deselected: set[str],
    collected: set[str] | None,
    proxy_phase: int | None = None,
    rehearsed: Mapping[str, str] | None = None,
    rehearsal_note: str = "",
) -> GateResult:
    """The verdict for entering ``entering`` from this run's outcomes.

    ``verdicts`` maps node ids to (PASSED|FAILED|ERROR|SKIPPED|XFAILED, reason) as the verification summary
    records them; ``collected`` is the set of node ids this run collected (None when unknown);
    ``proxy_phase`` is the phase whose configuration the proxy runs with. ``rehearsed`` maps the keys
    (:attr:`RequiredCheck.key`) of destructive checks an accepted rehearsal passed to where it did; they
    count as passed when this run did not run them. ``rehearsal_note`` is added to the reason of the
    destructive checks left uncovered (e.g. why the rehearsal given was not accepted).
    """
    rehearsed = rehearsed or {}
    checks: list[CheckOutcome] = []
    for req in required:
        if not req.applies(entering, proxy_phase):
            continue
        seen = verdicts.get(req.nodeid)
        if req.destructive and (seen is None or seen[0] in ("SKIPPED", "XFAILED")) and req.key in rehearsed:
            checks.append(CheckOutcome(req.nodeid, req.suite, REHEARSED, rehearsed[req.key]))
        elif seen is not None:
            reason = seen[1]
            if req.destructive and rehearsal_note and seen[0] in ("SKIPPED", "XFAILED"):
                reason = f"{reason}; {rehearsal_note}"
            checks.append(CheckOutcome(req.nodeid, req.suite, seen[0].lower(), reason))
        elif req.nodeid in deselected:
            checks.append(CheckOutcome(req.nodeid, req.suite, "deselected", _DESELECTED))
        elif collected is not None and req.nodeid not in collected:
            checks.append(CheckOutcome(req.nodeid, req.suite, "not collected", "not collected by this run"))
        else:
            checks.append(CheckOutcome(req.nodeid, req.suite, "not run", _NOT_RUN))
    failed = [c for c in checks if c.outcome in ("failed", "error")]
    missing = [c for c in checks if c.outcome not in ("passed", REHEARSED, "failed", "error")]
    reasons = [f"{c.outcome.upper()} {c.nodeid}: {c.reason}" for c in failed + missing]
    if failed:
        verdict = FAIL
    elif missing or not checks:
        verdict = INCOMPLETE
        if not checks:
            reasons.append(f"no check in the gate's suites is marked zdm_required_for({entering})")
    else:
        verdict = PASS
    return GateResult(verdict, entering, checks, reasons)


def write_gate_file(path: Path, content: Mapping[str, Any], redact: Any = None) -> None:
    """Write ``gate.json`` atomically (one file per run, written by the controller only)."""
    text = json.dumps(content, indent=2, sort_keys=False) + "\n"
    if redact is not None:
        text = redact(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def github_step_summary(result: GateResult, path: str) -> None:
    """Append the verdict as markdown to GitHub Actions' job summary (``$GITHUB_STEP_SUMMARY``)."""
    lines = [f"### {result.headline()}", ""]
    for reason in result.reasons[:50]:
        lines.append(f"- {reason}")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def now_iso() -> str:
    """UTC time for the gate file."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
