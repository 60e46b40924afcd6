"""Which gates each target can pass, and what a team must supply for the others (docs/capabilities.md).

Computed, not written by hand: the required checks of each phase come from the built-in suites (their
``zdm_required_for``, ``zdm_needs`` and ``zdm_destructive`` markers and the fixtures they use), what each
target offers from its class (its control verbs, what it offers once the user supplies something, whether
it is disposable). ``zdm-verify capabilities`` prints the table; a test keeps the docs equal to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_zdm.gate.verdict import RequiredCheck
from pytest_zdm.model import Capability
from pytest_zdm.phases import PHASES
from pytest_zdm.settings import TARGET_NAMES
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import REHEARSAL_HINT


@dataclass(frozen=True)
class GateCoverage:
    """One target and phase: how many required checks, and what must be supplied for a PASS."""

    target: str
    phase: int
    required: int
    supply: tuple[str, ...]  # what to supply (settings, files); empty: the target alone can PASS
    rehearsed: int  # required checks only a rehearsal (or --zdm-allow-destructive) can cover

    def cell(self) -> str:
        """The table cell."""
        if not self.supply and not self.rehearsed:
            return f"PASS possible ({self.required} checks)"
        parts = [f"supply {', '.join(self.supply)}"] if self.supply else []
        if self.rehearsed:
            parts.append(f"a rehearsal for {self.rehearsed} destructive check(s)")
        return f"PASS with {'; '.join(parts)} ({self.required} checks)"


def coverage(target: str, phase: int, required: Iterable[RequiredCheck]) -> GateCoverage:
    """What ``target`` needs supplied to pass the gate for entering ``phase``."""
    cls = target_class(target)
    always = Capability.of_controls(cls.controls)
    proxy_phase = min(4, max(1, phase - 1))
    checks = [req for req in required if req.applies(phase, proxy_phase)]
    supply: set[str] = set()
    rehearsed = 0
    for req in checks:
        missing = {Capability(need) for need in req.needs} - always
        by_rehearsal = req.destructive and not cls.disposable
        for capability in missing:
            if capability in cls.provides:
                supply.add(_short(cls.provides[capability]))
            else:
                by_rehearsal = True
        rehearsed += by_rehearsal
    return GateCoverage(target, phase, len(checks), tuple(sorted(supply)), rehearsed)


def _short(hint: str) -> str:
    """``name the proxy's log file in zdm.toml: [proxy] log = ...`` -> ``[proxy] log in zdm.toml``."""
    if "zdm.toml: " in hint:
        key = hint.split("zdm.toml: ", 1)[1].split(" = ", 1)[0]
        return f"`{key}` in zdm.toml"
    return hint


def table(required: list[RequiredCheck]) -> str:
    """docs/capabilities.md's table: targets x the phases a gate can be entered into."""
    phases = sorted(PHASES)
    head = "| target | " + " | ".join(f"entering {n} ({PHASES[n].slug})" for n in phases) + " |"
    rows = [head, "|---" * (len(phases) + 1) + "|"]
    for name in TARGET_NAMES:
        cells = [coverage(name, phase, required).cell() for phase in phases]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    notes = [
        "",
        "What each capability is, and how a target without it gets the checks that need it covered:",
        "",
    ]
    for capability in Capability:
        notes.append(f"- `{capability.value}`: {capability.description}")
    notes.append(f"- destructive checks on a target that is not disposable: {REHEARSAL_HINT}")
    return "\n".join(rows + notes)
