"""Helpers for the integration tests: run directories, leftovers, pytest in a subprocess, a browser."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psutil
import pytest

from pytest_zdm.environment import ZdmEnv, start_or_attach, stop_environment
from pytest_zdm.runtime import leftovers
from pytest_zdm.settings import Settings
from pytest_zdm.targets.local import LocalTarget


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
        if "pytest_zdm.environment.supervisor" in " ".join(p.cmdline())
    ]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on loopback (Allure pages load data with XHR, which file:// refuses)."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def chromium(*args: str) -> str:
    """Run headless Chromium (Debian package) once; returns what it printed (``--dump-dom``: the DOM)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=20000", "--window-size=1400,1000", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1000:]
    return proc.stdout


def render_report(project: Path) -> Path:
    """``zdm-verify report`` in ``project`` (results in reports/allure-results); returns the HTML dir."""
    if shutil.which("npm") is None or shutil.which("java") is None:
        pytest.skip("rendering needs npm (Allure CLI) and java; .ci/run installs both")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "zdm-verify"), "report"],
        cwd=project, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report: reports/allure-report/index.html" in proc.stdout
    return project / "reports" / "allure-report"


def gate_page(report: Path) -> str:
    """The URL fragment of the ``ZDM gate`` result's page in a rendered report."""
    import json

    suites = json.loads((report / "data" / "suites.json").read_text())
    gate_suite = next(c for c in suites["children"] if c["name"] == "ZDM gate")
    return f"#suites/{gate_suite['uid']}/{gate_suite['children'][0]['uid']}/"


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


@contextlib.contextmanager
def local_environment(settings: Settings, run_dir: Path) -> Iterator[ZdmEnv]:
    """A real ``local`` environment owned by this test process, stopped when the block ends."""
    env = start_or_attach(
        run_dir, settings, plan=LocalTarget.plan(settings), owner_pid=os.getpid(), progress=lambda _: None
    )
    try:
        yield env
    finally:
        stop_environment(run_dir)
