"""Earlier runs of the same target and phase: the sign-off page's history and Allure's trend.

A reviewer signing a phase change wants to know whether this PASS follows a row of FAILs, and how long the
verification takes. ``zdm-verify report`` keeps, per history key (:func:`.record.history_key`, e.g.
``local-phase1``), in ``<history dir>/<key>/``:

- ``runs.json``: one entry per rendered run (verdict, headline, times, duration, counts, versions,
  executor), oldest first, the newest ``KEEP`` kept;
- ``allure/``: Allure's own history files after the newest run, handed to the next ``allure generate``
  (its trend widgets and per-check history); ``allure-before/``: the same before the newest run, so that
  rendering the same results again does not count the run twice.

The history directory is a plain directory CI carries between jobs (a cache or the previous job's
artifact; see ``docs/gate-and-signoff.md``). Rendering results of a run older than the newest one changes
nothing in it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_zdm import redact

KEEP = 50
_LOCK_TIMEOUT = 120.0


def _seconds(start: str | None, end: str | None) -> float | None:
    try:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return (datetime.strptime(str(end), fmt) - datetime.strptime(str(start), fmt)).total_seconds()
    except ValueError:
        return None


def entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """What the history keeps of one run's record."""
    context = record.get("context", {})
    gate = record.get("gate") or {}
    runner = context.get("executor", {})
    required = gate.get("counts", {})
    return {
        "run_id": context.get("run_id"),
        "verdict": gate.get("verdict") or "NOT GATED",
        "headline": gate.get("headline") or "",
        "started": context.get("started"),
        "finished": context.get("finished"),
        "duration_s": _seconds(context.get("started"), context.get("finished")),
        "required": {
            "total": sum(required.values()),
            "passed": required.get("passed", 0) + required.get("rehearsed", 0),
            "failed": required.get("failed", 0) + required.get("error", 0),
        },
        "checks": record.get("checks", {}).get("counts", {}),
        "zdm_proxy": context.get("zdm_proxy"),
        "zdm_proxy_commit": context.get("zdm_proxy_commit"),
        "executor": runner.get("build_name") or f"{runner.get('user', '?')}@{runner.get('host', '?')}",
        "build_url": runner.get("build_url") or "",
        "git_commit": runner.get("git_commit", ""),
    }


class History:
    """The history of one key, in ``base / key``."""

    def __init__(self, base: Path, key: str) -> None:
        self.directory = base / key
        self.key = key

    def lock(self) -> FileLock:
        """One renderer at a time per key (two jobs sharing a CI cache directory)."""
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.directory) + ".lock", timeout=_LOCK_TIMEOUT)

    def runs(self) -> list[dict[str, Any]]:
        """Recorded runs, oldest first (empty when there is no history yet or it is unreadable)."""
        try:
            data = json.loads((self.directory / "runs.json").read_text())
        except (OSError, ValueError):
            return []
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []

    def _newest_is(self, run_id: str) -> bool:
        runs = self.runs()
        return bool(runs) and runs[-1].get("run_id") == run_id

    def stage(self, run_id: str, results: Path) -> int:
        """Copy Allure's history from before ``run_id`` into ``results/history``; returns files copied."""
        source = self.directory / ("allure-before" if self._newest_is(run_id) else "allure")
        if not source.is_dir():
            return 0
        target = results / "history"
        target.mkdir(parents=True, exist_ok=True)
        copied = 0
        for path in source.glob("*.json"):
            shutil.copy2(path, target / path.name)
            copied += 1
        return copied

    def earlier(self, run_id: str) -> list[dict[str, Any]]:
        """Runs recorded before ``run_id``, newest first."""
        runs = self.runs()
        ids = [r.get("run_id") for r in runs]
        if run_id in ids:
            runs = runs[: ids.index(run_id)]
        return list(reversed(runs))

    def record(self, run: Mapping[str, Any], allure_files: Mapping[str, bytes]) -> None:
        """Add ``run`` (an :func:`entry`) and Allure's new history files, unless a newer run is recorded."""
        runs = self.runs()
        ids = [r.get("run_id") for r in runs]
        if run["run_id"] in ids[:-1]:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        current, before = self.directory / "allure", self.directory / "allure-before"
        if ids and ids[-1] == run["run_id"]:
            runs[-1] = dict(run)
        else:
            shutil.rmtree(before, ignore_errors=True)
            if current.is_dir():
                current.rename(before)
            runs.append(dict(run))
        staging = self.directory / f"allure.tmp-{time.monotonic_ns()}"
        staging.mkdir()
        for name, content in allure_files.items():
            (staging / Path(name).name).write_bytes(content)
        shutil.rmtree(current, ignore_errors=True)
        staging.rename(current)
        text = redact.text(json.dumps(runs[-KEEP:], indent=2)) + "\n"
        tmp = self.directory / "runs.json.tmp"
        tmp.write_text(text)
        tmp.replace(self.directory / "runs.json")
