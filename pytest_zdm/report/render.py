"""``zdm-verify report``: the sign-off report, one HTML file that opens from disk, and its PDF.

The Allure CLI (``allure-commandline``, the Java report generator packaged for npm) is installed once into
the artifact cache with ``npm install``, pinned like the other artifacts, and checked with ``--version``.
It needs Java, which the ``local`` target needs anyway.

Rendering: the results are copied aside with the history of the same target and phase (:mod:`.history`)
and rendered as a single file (:mod:`.singlefile`); the sign-off page (:mod:`.page`) is put first; the
history is updated; a headless Chromium prints the sign-off page to PDF (:mod:`.browser`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from pytest_zdm import redact
from pytest_zdm.errors import SettingError, ZdmError
from pytest_zdm.provision import Progress, require_tool
from pytest_zdm.report import allure as allure_results
from pytest_zdm.report import history, page, record
from pytest_zdm.report.browser import BROWSERS, find_browser, print_pdf
from pytest_zdm.report.history import History
from pytest_zdm.report.singlefile import SingleFileReport
from pytest_zdm.runtime.process import run_once

ALLURE_CLI_PACKAGE = "allure-commandline"
ALLURE_CLI_VERSION = "2.46.1"
_NPM_TIMEOUT = 600.0
_GENERATE_TIMEOUT = 600.0


@dataclass(frozen=True)
class AllureCli:
    """A verified Allure command line."""

    executable: Path
    version: str


def provision_allure(cache_dir: Path, progress: Progress, version: str = ALLURE_CLI_VERSION) -> AllureCli:
    """The Allure CLI at ``version``, installed from npm into the cache on first use."""
    home = cache_dir / f"allure-{version}"
    executable = home / "node_modules" / ".bin" / "allure"
    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home) + ".lock", timeout=_NPM_TIMEOUT):
        if not executable.exists():
            npm = require_tool("npm", "installing the Allure command line (report rendering)")
            progress(f"installing the Allure command line {version} from npm into {home}")
            cmd = [npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", "--loglevel=error",
                   f"{ALLURE_CLI_PACKAGE}@{version}"]  # fmt: skip
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_NPM_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise ZdmError(
                    f"allure: npm install {ALLURE_CLI_PACKAGE}@{version} took over 10 minutes"
                ) from None
            if proc.returncode != 0 or not executable.exists():
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise ZdmError(f"allure: npm install {ALLURE_CLI_PACKAGE}@{version} failed: {last[0]}")
    require_tool("java", "running the Allure command line")
    proc = subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    found = proc.stdout.strip()
    if proc.returncode != 0 or not found:
        raise ZdmError(f"allure: {executable} --version failed: {(proc.stderr or 'no output').strip()[:200]}")
    return AllureCli(executable, found)


@dataclass(frozen=True)
class Rendered:
    """What ``zdm-verify report`` produced."""

    index: Path
    pdf: Path | None
    pdf_skipped: str
    history: Path | None
    earlier_runs: int
    verdict: str


def _generate(cli: AllureCli, results: list[Path], output: Path) -> Path:
    """``allure generate --single-file`` (no analytics: the report must not call out when opened)."""
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true",
           "JAVA_TOOL_OPTIONS": os.environ.get("JAVA_TOOL_OPTIONS", "-Xmx512m")}  # fmt: skip
    cmd = [str(cli.executable), "generate", *map(str, results), "-o", str(output), "--clean", "--single-file"]
    try:
        proc = run_once(cmd, timeout=_GENERATE_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        raise ZdmError("allure: generating the report took over 10 minutes") from None
    index = output / "index.html"
    if proc.returncode != 0 or not index.exists():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ZdmError(f"allure: generate failed: {last[0]}")
    return index


def _stage(results: Path, staged: Path, build_order: int, title: str) -> None:
    """A copy of the results to generate from (the user's directory stays as pytest wrote it)."""
    shutil.copytree(results, staged, ignore=shutil.ignore_patterns("history"))
    executor_file = staged / "executor.json"
    try:
        executor_json = json.loads(executor_file.read_text())
    except (OSError, ValueError):
        executor_json = {"name": "unknown"}
    executor_json.update({"buildOrder": build_order, "reportName": title})
    executor_file.write_text(json.dumps(executor_json, indent=2))


def _replace_dir(output: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` as the whole content of ``output`` (replaced only once they are written)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name, content in files.items():
        (staging / name).write_bytes(content)
    if output.is_dir():
        shutil.rmtree(output)
    staging.rename(output)


def title_of(run: dict[str, Any]) -> str:
    """The report's title: verdict, phase change and target, e.g. ``PASS: local entering phase 1``."""
    gate = run.get("gate") or {}
    target = run.get("context", {}).get("target", "?")
    if not gate:
        return f"ZDM verification of {target} (not gated)"
    change = gate["phase_change"]
    return f"{gate['verdict']}: {target} entering phase {change['entering']} ({change['entering_name']})"


def render(
    results: Path,
    output: Path,
    cache_dir: Path,
    progress: Progress,
    *,
    history_dir: Path | None = None,
    pdf: str = "auto",
    browser: str | None = None,
) -> Rendered:
    """The sign-off report: ``output/index.html`` (one file, opens from disk) and ``output/signoff.pdf``.

    ``history_dir`` keeps earlier runs of the same target and phase (None: no history). ``pdf`` is
    ``auto`` (printed when a Chromium is found, else said why not), ``always`` (no browser is an error)
    or ``never``; ``browser`` names the Chromium to use.
    """
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ZdmError(
            f"allure results: expected a directory of Allure results (pytest --alluredir={results}), "
            f"found none in {results}"
        )
    if pdf not in ("auto", "always", "never"):
        raise SettingError(f"--pdf: expected auto, always or never, got {pdf!r}")
    run = record.read(results)
    key = record.history_key(run)
    run_id = str(run.get("context", {}).get("run_id"))
    kept = History(history_dir, key) if history_dir is not None else None
    cli = provision_allure(cache_dir, progress)
    this_run = history.entry(run)
    title = title_of(run)
    with tempfile.TemporaryDirectory(prefix="zdm-report-") as tmp, kept.lock() if kept else nullcontext():
        earlier = kept.earlier(run_id) if kept else []
        staged = Path(tmp) / "results"
        _stage(results, staged, len(earlier) + 1, title)
        if kept is not None and kept.stage(run_id, staged):
            progress(f"trend: {len(earlier)} earlier run(s) of {key} from {kept.directory}")
        progress(f"rendering {results} with Allure {cli.version} into {output}")
        report = SingleFileReport(_generate(cli, [staged], Path(tmp) / "out").read_text(encoding="utf-8"))
        report.count_not_percentage()
        fragment = page.render(
            run, report.results_by_label(allure_results.NODEID_LABEL), this_run, earlier, key, cli.version
        )
        report.put_first(fragment, f"{title} - ZDM sign-off")
        _replace_dir(output, {"index.html": report.html.encode("utf-8")})
        if kept is not None:
            scrubbed = {n: redact.text(c.decode("utf-8", "replace")).encode() for n, c in
                        report.history_files().items()}  # fmt: skip
            kept.record(this_run, scrubbed)
    index = output / "index.html"
    printed, skipped = _pdf(index, output / "signoff.pdf", pdf, browser, progress)
    verdict = str((run.get("gate") or {}).get("verdict") or "NOT GATED")
    return Rendered(index, printed, skipped, kept.directory if kept else None, len(earlier), verdict)


def _pdf(
    index: Path, target: Path, mode: str, browser: str | None, progress: Progress
) -> tuple[Path | None, str]:
    """Print the sign-off page, or say why not (``auto`` without a browser)."""
    if mode == "never":
        return None, "not asked for (--pdf=never)"
    found = find_browser(browser)
    if found is None:
        wanted = (
            f"{browser!r} is not an executable" if browser else f"none of {', '.join(BROWSERS)} is on PATH"
        )
        if mode == "always":
            raise ZdmError(
                f"pdf: --pdf=always but {wanted} (install Debian's chromium or name one: --browser)"
            )
        return None, f"no PDF: {wanted} (install Debian's chromium, or --browser PATH)"
    progress(f"printing the sign-off page to {target} with {found}")
    return print_pdf(found, index, target), ""
