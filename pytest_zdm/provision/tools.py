"""What every artifact's provisioning shares: tools on PATH, the cache's lock and marker, terse errors.

An artifact lands in the cache directory under a file lock (concurrent runs and xdist workers fetch once)
and is recorded last in a small JSON marker, so the warm path is a few stat calls.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_zdm.errors import ProvisionError

Progress = Callable[[str], None]
_FETCH_LOCK_TIMEOUT = 1800.0


def require_tool(tool: str, purpose: str) -> str:
    """Return the path of ``tool`` or fail with one line saying what it is needed for."""
    found = shutil.which(tool)
    if not found:
        raise ProvisionError(f"{tool} not found on PATH: {purpose}")
    return found


def last_error_line(output: str) -> str:
    """The most telling line of a tool's failure output, folded onto one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for marker in ("[ERROR] Failed", "[ERROR]", "go: ", "error", "Error"):
        hits = [i for i, ln in enumerate(lines) if marker in ln]
        if hits:
            first = hits[0]
            folded = " ".join(lines[first : first + 2]) if marker == "go: " else lines[first]
            return folded[:400]
    return (lines[-1] if lines else "no output")[:400]


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pytest-zdm.provision</groupId>
  <artifactId>{artifact}-jars</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def maven_copy(
    mvn: str,
    coordinates: tuple[str, str, str],
    staging: Path,
    log: Path,
    *,
    exclude_groups: tuple[str, ...] = (),
    transitive: bool = True,
    timeout: float = 1800.0,
) -> str | None:
    """Copy one artifact ``(group, artifact, version)`` and its runtime dependencies into ``staging``.

    ``mvn dependency:copy-dependencies`` resolves the versions the artifact was built with, which a
    hand-kept list of jars would not. None when done, else the telling line of Maven's log (``log``).
    """
    group, artifact, version = coordinates
    shutil.rmtree(staging, ignore_errors=True)
    pom = log.with_name(f"{artifact}.pom.xml")
    pom.write_text(_POM.format(group=group, artifact=artifact, version=version))
    command = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
               f"-DoutputDirectory={staging}"]  # fmt: skip
    if exclude_groups:
        command.append(f"-DexcludeGroupIds={','.join(exclude_groups)}")
    if not transitive:
        command.append("-DexcludeTransitive=true")
    with log.open("w") as out:
        try:
            rc = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"mvn did not finish in {timeout:.0f}s"
    return None if rc == 0 else f"exit {rc}: {last_error_line(log.read_text())}"


def cache_lock(path: Path, what: str, progress: Progress) -> FileLock:
    """Take the cache entry's lock, saying so when another run holds it; bounded wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        progress(f"waiting for another run that is provisioning {what} ({path})")
        try:
            lock.acquire(timeout=_FETCH_LOCK_TIMEOUT)
        except Timeout:
            raise ProvisionError(
                f"{what}: lock {path} still held after {_FETCH_LOCK_TIMEOUT:.0f}s by another run"
            ) from None
    return lock


def read_marker(marker: Path) -> dict[str, Any] | None:
    """The JSON marker of a provisioned artifact, or None when absent or unreadable."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
