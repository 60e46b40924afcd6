"""Helpers for the integration tests: run directories, leftovers, pytest in a subprocess, a browser."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
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


def chromium(*args: str) -> str:
    """Run headless Chromium (Debian package) once; returns what it printed (``--dump-dom``: the DOM).

    The flags are the ones ``zdm-verify report`` prints with (no background networking: this machine's
    closed network refuses it), with a fresh profile each time.
    """
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    from pytest_zdm.report.browser import HEADLESS_FLAGS
    from pytest_zdm.runtime.process import run_once

    with tempfile.TemporaryDirectory(prefix="zdm-test-chromium-") as profile:
        proc = run_once(
            [CHROMIUM, *HEADLESS_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000",
             "--window-size=1400,1000", *args],
            timeout=120,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1000:]
    return proc.stdout


def render_report(project: Path, *args: str) -> Path:
    """``zdm-verify report`` in ``project`` (results in reports/allure-results); returns the output dir."""
    if shutil.which("npm") is None or shutil.which("java") is None:
        pytest.skip("rendering needs npm (Allure CLI) and java; .ci/run installs both")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "zdm-verify"), "report", *args],
        cwd=project, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report: reports/allure-report/index.html" in proc.stdout, proc.stdout
    return project / "reports" / "allure-report"


def open_report(report: Path, address: str = "", *, drawn: str | None = None) -> str:
    """The DOM of the report's ``index.html`` opened from disk (``file://``), at ``address`` (``#...``).

    ``drawn`` is a pattern the page shows once Allure has drawn it (a chart, a test's page): the DOM is
    dumped when Chromium's virtual time runs out, which on a loaded machine can come before the
    application has drawn its widgets from the embedded data, so the page is opened again (three times at
    most) until the pattern is there; the last DOM is returned either way, for the check to judge.
    """
    uri = (report / "index.html").resolve().as_uri() + address
    dom = chromium("--dump-dom", uri)
    if drawn is not None:
        for _ in range(2):  # three openings in all
            if re.search(drawn, dom):
                break
            dom = chromium("--dump-dom", uri)
    return dom


def screenshot(report: Path, address: str, name: str) -> Path:
    """A screenshot of the report opened from disk, kept in ``reports/screenshots/`` of the repository."""
    shots = Path(__file__).resolve().parent.parent / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chromium(f"--screenshot={shots / name}", (report / "index.html").resolve().as_uri() + address)
    assert (shots / name).stat().st_size > 10_000, f"{name}: an empty screenshot"
    return shots / name


def signoff_section(dom: str) -> str:
    """The sign-off page's part of a dumped DOM (up to the Allure application)."""
    start = dom.index('id="zdm-signoff"')
    return dom[start : dom.index('id="zdm-back"', start)]


def pdf_text(pdf: Path, page: int | None = 1) -> str:
    """The text of one page of a PDF (every page when ``page`` is None), by poppler's pdftotext."""
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext is not installed (Debian package poppler-utils; .ci/run installs it)")
    pages = ["-f", str(page), "-l", str(page)] if page is not None else []
    command = [tool, "-layout", *pages, str(pdf), "-"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


def report_texts(reports: Path) -> dict[str, bytes]:
    """Every file under ``reports``, the report's embedded files decoded and the PDF's text extracted."""
    from pytest_zdm.report.singlefile import SingleFileReport

    texts: dict[str, bytes] = {}
    for path in reports.rglob("*"):
        if not path.is_file():
            continue
        texts[str(path)] = path.read_bytes()
        if path.name == "index.html" and b"d('" in texts[str(path)]:
            embedded = SingleFileReport(path.read_text(encoding="utf-8"))
            for name in embedded.names():
                texts[f"{path}!{name}"] = embedded.data(name) or b""
        if path.suffix == ".pdf":
            texts[f"{path}!text"] = pdf_text(path, page=None).encode()
    return texts


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
