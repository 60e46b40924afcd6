"""Rehearsal evidence: destructive checks that passed on a disposable copy, counted for a production gate.

Destructive checks (a node stopped, the proxy restarted) are not run against production. A team rehearses
them on a disposable target (``local``, ``docker``, ``kind``) running what production runs: the same
zdm-proxy version and commit, and the same proxy behaviour, i.e. every setting apart from endpoints,
logins and log level (the lab takes the team's own configuration with ``zdm_proxy_config``). The gate then
accepts that rehearsal's ``gate.json`` (``zdm_rehearsal``) as evidence for those checks, and only for them;
anything else about the rehearsal that differs is named, and those checks stay INCOMPLETE.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_zdm.errors import SettingError
from pytest_zdm.gate.verdict import check_key
from pytest_zdm.settings import TARGET_NAMES
from pytest_zdm.targets import target_class

#: Checks, past this many differences, are summarised (a whole configuration can differ).
_SHOWN = 6


def _version(value: Any) -> str | None:
    """A proxy version as reported, or None when it is not known."""
    text = str(value or "").strip()
    return text if text and text[0].isdigit() else None


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal's gate.json says: where and with what it ran, and which checks passed."""

    path: Path
    target: str
    run_id: str
    finished: str
    proxy_version: str | None
    proxy_commit: str | None
    behaviour: Mapping[str, str]
    passed: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Rehearsal:
        """Read a gate.json written by pytest-zdm; a one-line error naming the setting otherwise."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            checks = data["checks"]
            passed = frozenset(
                check_key(c["nodeid"], c["suite"]) for c in checks if c.get("outcome") == "passed"
            )
            return cls(
                path=path,
                target=str(data["target"]),
                run_id=str(data.get("run_id", "?")),
                finished=str(data.get("finished", "?")),
                proxy_version=data.get("zdm_proxy"),
                proxy_commit=data.get("zdm_proxy_commit"),
                behaviour=dict(data.get("proxy_behaviour") or {}),
                passed=passed,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SettingError(
                f"zdm_rehearsal: expected the gate.json of a pytest-zdm rehearsal run, got {path} "
                f"({type(exc).__name__}: {str(exc)[:120]})"
            ) from None

    def differences(self, here: Mapping[str, Any]) -> list[str]:
        """Why this rehearsal does not stand for the run described by ``here`` (its gate context)."""
        problems = []
        disposable = [n for n in TARGET_NAMES if target_class(n).disposable]
        if self.target not in disposable:
            problems.append(f"it ran on {self.target}, not a disposable target ({', '.join(disposable)})")
        version, commit = here.get("zdm_proxy"), here.get("zdm_proxy_commit")
        if not _version(version) or _version(version) != _version(self.proxy_version):
            problems.append(
                f"zdm-proxy version {self.proxy_version or 'unknown'} in the rehearsal, "
                f"{version or 'unknown'} here"
            )
        elif commit and self.proxy_commit and commit != self.proxy_commit:  # compared where both are known
            problems.append(f"zdm-proxy commit {self.proxy_commit} in the rehearsal, {commit} here")
        behaviour: Mapping[str, str] = here.get("proxy_behaviour") or {}
        if not behaviour or not self.behaviour:
            problems.append("the proxy's settings are unknown here or in the rehearsal (nothing to compare)")
        else:
            keys = sorted(set(behaviour) | set(self.behaviour))
            shown = [
                f"{k}={self.behaviour.get(k, '')} in the rehearsal, {behaviour.get(k, '')} here"
                for k in keys
                if behaviour.get(k) != self.behaviour.get(k)
            ]
            if len(shown) > _SHOWN:
                shown = [*shown[:_SHOWN], f"and {len(shown) - _SHOWN} more"]
            if shown:
                problems.append("proxy settings differ: " + "; ".join(shown))
        return problems

    def describe(self) -> str:
        """``rehearsal 20261130-010203-ab12cd on local, finished ... (path)``."""
        return f"rehearsal {self.run_id} on {self.target}, finished {self.finished} ({self.path})"
