"""Fetch, build and verify the real artifacts the ``local`` target runs.

Cassandra comes from its Maven Central jars (``mvn dependency:copy-dependencies`` on a generated pom) and
zdm-proxy from the Go module proxy (``go install`` by commit). Both land in a cache directory guarded by a
file lock, so concurrent runs and xdist workers fetch once; a marker file written last makes the warm path
a few stat calls. Users who already have the artifacts point at them with settings instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_zdm.errors import ProvisionError
from pytest_zdm.settings import Settings

Progress = Callable[[str], None]

PROXY_MODULE = "github.com/datastax/zdm-proxy"
_FETCH_LOCK_TIMEOUT = 1800.0
_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pytest-zdm.provision</groupId>
  <artifactId>cassandra-jars</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


@dataclass(frozen=True)
class CassandraArtifact:
    """A Cassandra classpath that was checked to load (``GetVersion`` printed ``version``)."""

    version: str
    jars: tuple[Path, ...]
    source: str

    @property
    def classpath(self) -> str:
        """The jars joined for ``java -cp``."""
        return os.pathsep.join(str(j) for j in self.jars)


@dataclass(frozen=True)
class ProxyArtifact:
    """A zdm-proxy binary that was checked to run (``--version`` printed ``version``)."""

    binary: Path
    version: str
    commit: str | None
    source: str


def require_tool(tool: str, purpose: str) -> str:
    """Return the path of ``tool`` or fail with one line saying what it is needed for."""
    found = shutil.which(tool)
    if not found:
        raise ProvisionError(f"{tool} not found on PATH: {purpose}")
    return found


def _last_error_line(output: str) -> str:
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


def _lock(path: Path, what: str, progress: Progress) -> FileLock:
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


def check_cassandra_classpath(jars: tuple[Path, ...], source: str) -> CassandraArtifact:
    """Prove the classpath loads Cassandra: run ``org.apache.cassandra.tools.GetVersion`` with it."""
    java = require_tool("java", "the local target runs Cassandra on Java 11 or 17")
    if not any(j.name.startswith("cassandra-all") or j.name.startswith("apache-cassandra") for j in jars):
        raise ProvisionError(f"{source}: no cassandra-all / apache-cassandra jar among {len(jars)} jars")
    classpath = os.pathsep.join(str(j) for j in jars)
    try:
        proc = subprocess.run(
            [java, "-cp", classpath, "org.apache.cassandra.tools.GetVersion"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{source}: GetVersion did not finish in 60s") from None
    version = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not re.fullmatch(r"\d+\.\d+[\w.\-]*", version):
        raise ProvisionError(f"{source}: classpath does not load Cassandra: {_last_error_line(proc.stderr)}")
    return CassandraArtifact(version=version, jars=jars, source=source)


def _jars_in(directory: Path) -> tuple[Path, ...]:
    return tuple(sorted(directory.glob("*.jar")))


def provision_cassandra(settings: Settings, progress: Progress) -> CassandraArtifact:
    """Return a verified Cassandra classpath, fetching the pinned jars with mvn on first use."""
    if settings.zdm_cassandra_home is not None:
        return check_cassandra_classpath(
            _jars_in(settings.zdm_cassandra_home / "lib"), f"zdm_cassandra_home {settings.zdm_cassandra_home}"
        )
    if settings.zdm_cassandra_classpath is not None:
        return check_cassandra_classpath(
            _jars_in(settings.zdm_cassandra_classpath),
            f"zdm_cassandra_classpath {settings.zdm_cassandra_classpath}",
        )
    version = settings.zdm_cassandra_version
    home = settings.zdm_cache_dir / "cassandra" / version
    marker = home / "provisioned.json"
    cached = _read_marker(marker)
    if cached is not None:
        jars = tuple(home / "lib" / name for name in cached["jars"])
        if all(j.is_file() for j in jars):
            return CassandraArtifact(version=cached["version"], jars=jars, source=f"cache {home}")
    with _lock(home.with_suffix(".lock"), f"Cassandra {version}", progress):
        cached = _read_marker(marker)
        if cached is None:
            _fetch_cassandra(version, home, progress)
        artifact = check_cassandra_classpath(_jars_in(home / "lib"), f"Cassandra {version} jars in {home}")
        if artifact.version != version:
            raise ProvisionError(
                f"Cassandra jars in {home} report version {artifact.version}, expected {version}"
            )
        marker.write_text(json.dumps({"version": version, "jars": [j.name for j in artifact.jars]}))
        progress(f"Cassandra {version}: {len(artifact.jars)} jars verified in {home}")
        return CassandraArtifact(version=version, jars=artifact.jars, source=f"cache {home}")


def _fetch_cassandra(version: str, home: Path, progress: Progress) -> None:
    mvn = require_tool("mvn", "the local target fetches Cassandra's jars from Maven Central with Maven")
    require_tool("java", "the local target runs Cassandra on Java 11 or 17")
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (home / "pom.xml").write_text(_POM.format(version=version))
    progress(
        f"fetching Apache Cassandra {version} jars from Maven Central with mvn into {home} (about a minute)"
    )
    log = home / "mvn.log"
    with log.open("w") as out:
        rc = subprocess.call(
            [
                mvn,
                "-B",
                "-f",
                str(home / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    if rc != 0:
        raise ProvisionError(
            f"Cassandra {version}: mvn dependency:copy-dependencies failed (exit {rc}): "
            f"{_last_error_line(log.read_text())} (log: {log})"
        )
    final = home / "lib"
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_proxy_binary(binary: Path, source: str, commit: str | None = None) -> ProxyArtifact:
    """Prove the binary is a zdm-proxy: ``--version`` must print ``ZDM proxy version X``."""
    try:
        proc = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"{source}: cannot run {binary}: {exc}") from None
    match = re.search(r"ZDM proxy version (\S+)", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not match:
        raise ProvisionError(
            f"{source}: {binary} is not a zdm-proxy (--version printed no 'ZDM proxy version')"
        )
    return ProxyArtifact(
        binary=binary, version=match.group(1), commit=commit or _build_commit(binary), source=source
    )


def _build_commit(binary: Path) -> str | None:
    """The module pseudo-version's commit recorded in the binary by the Go toolchain, if any."""
    go = shutil.which("go")
    if not go:
        return None
    try:
        out = subprocess.run(
            [go, "version", "-m", str(binary)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rf"mod\s+{re.escape(PROXY_MODULE)}\s+v\S*-([0-9a-f]{{12}})\b", out)
    return match.group(1) if match else None


def provision_proxy(settings: Settings, progress: Progress) -> ProxyArtifact:
    """Return a verified zdm-proxy binary, building the pinned commit with go install on first use."""
    if settings.zdm_proxy_binary is not None:
        return check_proxy_binary(settings.zdm_proxy_binary, f"zdm_proxy_binary {settings.zdm_proxy_binary}")
    commit = settings.zdm_proxy_commit
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise ProvisionError(
            f"zdm_proxy_commit: expected a git commit hash (7-40 hex digits), got {commit!r}"
        )
    home = settings.zdm_cache_dir / "zdm-proxy" / commit
    binary = home / "bin" / "proxy"
    marker = home / "provisioned.json"
    cached = _read_marker(marker)
    if cached is not None and binary.is_file():
        return ProxyArtifact(
            binary=binary, version=str(cached["version"]), commit=commit, source=f"cache {home}"
        )
    with _lock(home.with_suffix(".lock"), f"zdm-proxy {commit}", progress):
        if not binary.is_file():
            _build_proxy(commit, home, progress)
        artifact = check_proxy_binary(binary, f"zdm-proxy {commit} in {home}", commit=commit)
        marker.write_text(json.dumps({"version": artifact.version, "commit": commit}))
        progress(f"zdm-proxy {artifact.version} (commit {commit}) verified: {binary}")
        return ProxyArtifact(binary=binary, version=artifact.version, commit=commit, source=f"cache {home}")


def _build_proxy(commit: str, home: Path, progress: Progress) -> None:
    go = require_tool("go", "the local target builds zdm-proxy with go install (or set zdm_proxy_binary)")
    home.mkdir(parents=True, exist_ok=True)
    target = f"{PROXY_MODULE}/proxy@{commit}"
    progress(f"building zdm-proxy with go install {target} into {home / 'bin'} (a minute or two)")
    env = {**os.environ, "GOBIN": str(home / "bin"), "CGO_ENABLED": "0"}
    log = home / "go-install.log"
    with log.open("w") as out:
        rc = subprocess.call(
            [go, "install", target], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    if rc != 0:
        raise ProvisionError(
            f"zdm-proxy {commit}: go install {target} failed (exit {rc}): {_last_error_line(log.read_text())}"
        )
