"""Render Allure results to an HTML report with the Allure command line from npm.

The Allure CLI (``allure-commandline``, the Java report generator packaged for npm) is installed once into
the artifact cache with ``npm install``, pinned like the other artifacts, and checked with ``--version``.
It needs Java, which the ``local`` target needs anyway. Rendering is what a reviewer opens to sign off.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from pytest_zdm.errors import ZdmError
from pytest_zdm.provision import Progress, require_tool

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


def render(results: Path, output: Path, cache_dir: Path, progress: Progress) -> Path:
    """Generate the HTML report from ``results`` into ``output`` (replaced); returns its index.html."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ZdmError(
            f"allure results: expected a directory of Allure results (pytest --alluredir={results}), "
            f"found none in {results}"
        )
    cli = provision_allure(cache_dir, progress)
    progress(f"rendering {results} with Allure {cli.version} into {output}")
    env = {**os.environ, "JAVA_TOOL_OPTIONS": os.environ.get("JAVA_TOOL_OPTIONS", "-Xmx512m")}
    cmd = [str(cli.executable), "generate", str(results), "-o", str(output), "--clean"]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_GENERATE_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise ZdmError("allure: generating the report took over 10 minutes") from None
    index = output / "index.html"
    if proc.returncode != 0 or not index.exists():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ZdmError(f"allure: generate failed: {last[0]}")
    return index
