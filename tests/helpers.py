"""Helpers for the integration tests: run directories, leftovers, pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil

from pytest_zdm import leftovers


def run_dirs(base: Path) -> list[Path]:
    """Run directories a pytester run created under its rootdir."""
    runs = base / "reports" / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def wait_no_leftovers(run_dir: Path, timeout: float = 30.0) -> list[int]:
    """Wait until no process carries ``run_dir``'s marker; returns the pids still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p.pid for p in leftovers.marked_processes(str(run_dir))]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.25)


def start_pytest(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen[str]:
    """Start ``python -m pytest`` in ``cwd`` with this interpreter (output captured as text)."""
    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kwargs,
    )


def supervisors_of(run_dir: Path) -> list[psutil.Process]:
    """Supervisor processes started for ``run_dir``."""
    return [
        p
        for p in leftovers.marked_processes(str(run_dir))
        if "pytest_zdm.supervisor" in " ".join(p.cmdline())
    ]


def junit_outcomes(path: Path) -> dict[str, tuple[str, str]]:
    """Each test case of a JUnit report: name -> (PASSED/FAILED/ERROR/SKIPPED, first message)."""
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "PASSED", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "SKIPPED"}[child.tag]
                message = " ".join((child.get("message") or child.text or "").split())
                break
        results[case.get("name", "")] = (outcome, message)
    return results
