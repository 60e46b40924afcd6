"""The ZDM migration phases as the ZDM documentation numbers them, and the names users call them by.

The gate (``--zdm-gate``) takes the phase about to be entered. Teams say "phase 4", "route reads" or use
the words of the guide this project replaced, whose "Phase B" is dual writes (phase 1 here) and whose
"Phase C" (cut-over) is two ZDM phases: reads routed to the target (4), then clients connected straight to
the target (5). "Phase C" is therefore not accepted: it is ambiguous, and the error says which to pick.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_zdm.errors import SettingError


@dataclass(frozen=True)
class Phase:
    """One ZDM phase: its number, a slug for files and CLI, and what entering it means."""

    number: int
    slug: str
    title: str


PHASES: dict[int, Phase] = {
    1: Phase(1, "deploy-proxy", "deploy zdm-proxy and connect clients (dual writes on)"),
    2: Phase(2, "migrate-data", "migrate and validate existing data"),
    3: Phase(3, "async-dual-reads", "asynchronous dual reads on the target"),
    4: Phase(4, "route-reads", "route reads to the target"),
    5: Phase(5, "connect-to-target", "connect clients straight to the target (no return)"),
}

_ALIASES: dict[str, int] = {
    **{p.slug: n for n, p in PHASES.items()},
    "dual-writes": 1,
    "phase-b": 1,
    "migrate": 2,
    "dual-reads": 3,
    "reads-on-target": 4,
    "cut-over": 5,
    "cutover": 5,
}


def parse_phase(name: str, raw: str) -> int:
    """A phase number from ``4``, ``phase-4``, ``route-reads`` or an alias; a one-line error otherwise."""
    value = raw.strip().lower().replace("_", "-").replace(" ", "-")
    stripped = value.removeprefix("phase-")
    value = stripped if stripped.isascii() and stripped.isdigit() else value
    if value.isascii() and value.isdigit() and int(value) in PHASES:
        return int(value)
    if value in _ALIASES:
        return _ALIASES[value]
    if value in {"c", "phase-c"}:
        raise SettingError(
            f"{name}: 'Phase C' (cut-over) is two ZDM phases: 4 (route-reads) then 5 (connect-to-target); "
            "gate each one"
        )
    names = ", ".join(f"{n} ({p.slug})" for n, p in PHASES.items())
    raise SettingError(f"{name}: expected a ZDM phase {names}, got {raw!r}")


def describe(number: int) -> str:
    """``4 (route-reads: route reads to the target)``."""
    phase = PHASES[number]
    return f"{number} ({phase.slug}: {phase.title})"
