"""Fetch, build and verify the real artifacts the ``local`` target runs.

Cassandra comes from its Maven Central jars (``mvn dependency:copy-dependencies`` on a generated pom) and
zdm-proxy from the Go module proxy (``go install`` by commit) or, where that proxy refuses the module, from a
source the user names (``go build``). Both land in a cache directory guarded by a
file lock, so concurrent runs and xdist workers fetch once; a marker file written last makes the warm path
a few stat calls. Users who already have the artifacts point at them with settings instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import zlib
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
    """Return a verified zdm-proxy binary; every way to obtain one is tried in a fixed order.

    1. ``zdm_proxy_binary``: the binary the user names (checked with ``--version``, never cached).
    2. The cache entry of ``zdm_proxy_commit``: a marker and a binary, so the warm path is two stat calls.
    3. ``go install`` of the pinned commit from the Go module proxy.
    4. ``zdm_proxy_source``: a zdm-proxy checkout or a ``.tar.gz`` of one, built with ``go build``. Some Go
       module proxies refuse ``github.com/datastax/zdm-proxy`` (403) while serving all its dependencies;
       this is the way for those machines.

    Steps 3 and 4 run under the entry's file lock and write into a staging directory renamed into place
    last, so a failure or a crash leaves nothing half-written. When every way fails, one line names each
    of them with what it needs or why it failed.
    """
    if settings.zdm_proxy_binary is not None:
        return check_proxy_binary(settings.zdm_proxy_binary, f"zdm_proxy_binary {settings.zdm_proxy_binary}")
    commit = settings.zdm_proxy_commit
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise ProvisionError(
            f"zdm_proxy_commit: expected a git commit hash (7-40 hex digits), got {commit!r}"
        )
    home = settings.zdm_cache_dir / "zdm-proxy" / commit
    cached = _cached_proxy(home, commit)
    if cached is not None:
        return cached
    with _lock(home.with_suffix(".lock"), f"zdm-proxy {commit}", progress):
        cached = _cached_proxy(home, commit)
        if cached is not None:
            return cached
        failures = [
            "zdm_proxy_binary: not set (a zdm-proxy 2.x binary)",
            f"cache: no zdm-proxy {commit} in {home}",
        ]
        try:
            return _build_into_cache(home, commit, lambda staging: _go_install(commit, staging, progress))
        except ProvisionError as exc:
            failures.append(f"go install: {exc}")
        source = settings.zdm_proxy_source
        if source is not None:
            progress(f"{failures[-1]}; trying zdm_proxy_source")
        if source is None:
            failures.append(
                "zdm_proxy_source: not set (a zdm-proxy checkout directory or .tar.gz of one, built with "
                "go build)"
            )
        else:
            try:
                return _build_into_cache(
                    home,
                    commit,
                    lambda staging: build_from_source(
                        source, settings.zdm_proxy_source_sha256, commit, staging, progress
                    ),
                )
            except ProvisionError as exc:
                failures.append(str(exc))
        raise ProvisionError(f"zdm-proxy {commit}: no way to obtain it worked: " + "; ".join(failures))


def _cached_proxy(home: Path, commit: str) -> ProxyArtifact | None:
    """The cache entry of ``commit`` when its marker and binary are there (stat calls only)."""
    binary = home / "bin" / "proxy"
    cached = _read_marker(home / "provisioned.json")
    if cached is None or not binary.is_file():
        return None
    how = cached.get("how", "go install")
    return ProxyArtifact(
        binary=binary, version=str(cached["version"]), commit=commit, source=f"cache {home} ({how})"
    )


def _build_into_cache(home: Path, commit: str, build: Callable[[Path], str]) -> ProxyArtifact:
    """Run ``build(staging)`` (it leaves ``staging/bin/proxy``), verify the binary, then move it into place.

    The staging directory sits next to the entry, so the final rename is atomic; whatever fails on the way,
    the staging directory is removed and the entry is left as it was (absent).
    """
    staging = home.parent / f".{home.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        how = build(staging)
        artifact = check_proxy_binary(staging / "bin" / "proxy", f"zdm-proxy {commit} ({how})", commit=commit)
        (staging / "provisioned.json").write_text(
            json.dumps({"version": artifact.version, "commit": commit, "how": how})
        )
        shutil.rmtree(home, ignore_errors=True)
        staging.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ProxyArtifact(
        binary=home / "bin" / "proxy", version=artifact.version, commit=commit, source=f"cache {home} ({how})"
    )


def _go_install(commit: str, staging: Path, progress: Progress) -> str:
    go = require_tool("go", "zdm-proxy is built with go install (or set zdm_proxy_binary)")
    target = f"{PROXY_MODULE}/proxy@{commit}"
    progress(f"building zdm-proxy with go install {target} (a minute or two)")
    env = {**os.environ, "GOBIN": str(staging / "bin"), "CGO_ENABLED": "0"}
    log = staging / "go-install.log"
    with log.open("w") as out:
        rc = subprocess.call(
            [go, "install", target], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    if rc != 0:
        raise ProvisionError(f"go install {target} failed (exit {rc}): {_last_error_line(log.read_text())}")
    return "go install"


#: Bounds on what is unpacked from a source archive (zdm-proxy's own tree is ~260 files, ~2 MB).
_SOURCE_MAX_MEMBERS = 20_000
_SOURCE_MAX_BYTES = 256 * 1024 * 1024
_GO_BUILD_TIMEOUT = 1800.0


def build_from_source(
    source: Path, sha256: str | None, commit: str, staging: Path, progress: Progress
) -> str:
    """Build ``staging/bin/proxy`` from a zdm-proxy checkout or ``.tar.gz`` with ``go build``.

    The source must prove which commit it holds (a git checkout without uncommitted changes, or an archive
    made by ``git archive``, which records the commit in its pax header) and that commit must be
    ``zdm_proxy_commit``: the cache is keyed by commit, and the commit lands in the gate's verdict, so a
    build of unknown code must not be filed under a commit it may not be. An archive is unpacked into the
    staging directory (kept with the binary as ``src/``); a checkout is built where it is (``go build``
    writes nothing into it). Returns how the binary was made, for the marker and the report.
    """
    setting = f"zdm_proxy_source {source}"
    go = shutil.which("go")
    if go is None:
        raise ProvisionError(f"{setting}: go not found on PATH (a source is built with go build)")
    if source.is_dir():
        tree, found = source, _checkout_commit(source, setting)
    else:
        if sha256 is not None:
            actual = _sha256(source)
            if actual != sha256:
                raise ProvisionError(
                    f"{setting}: sha256 is {actual}, expected {sha256} (zdm_proxy_source_sha256)"
                )
        tree, found = _unpack_source(source, staging / "src", setting)
    module = _go_module(tree)
    if module != PROXY_MODULE:
        raise ProvisionError(
            f"{setting}: not a zdm-proxy source (go.mod names module {module or 'none'}, expected "
            f"{PROXY_MODULE})"
        )
    if not (tree / "proxy" / "main.go").is_file():
        raise ProvisionError(f"{setting}: not a zdm-proxy source (no proxy/main.go)")
    if found is None:
        raise ProvisionError(
            f"{setting}: cannot tell which zdm-proxy commit it holds (expected a git checkout or an archive "
            "made by git archive, which records its commit)"
        )
    if not found.startswith(commit):
        raise ProvisionError(
            f"{setting}: holds zdm-proxy commit {found[:12]}, expected zdm_proxy_commit {commit} "
            f"(set zdm_proxy_commit={found[:12]} to build it)"
        )
    progress(
        f"building zdm-proxy {commit} from {source} with go build (about a minute on 2 cores; its "
        "dependencies come from the Go module proxy)"
    )
    log = staging / "go-build.log"
    env = {**os.environ, "CGO_ENABLED": "0"}
    command = [go, "build", "-trimpath", "-buildvcs=false", "-o", str(staging / "bin" / "proxy"), "./proxy"]
    with log.open("w") as out:
        try:
            rc = subprocess.run(
                command, cwd=tree, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, timeout=_GO_BUILD_TIMEOUT, check=False,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ProvisionError(f"{setting}: go build did not finish in {_GO_BUILD_TIMEOUT:.0f}s") from None
    if rc != 0:
        raise ProvisionError(f"{setting}: go build failed (exit {rc}): {_last_error_line(log.read_text())}")
    return f"go build of {source}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checkout_commit(directory: Path, setting: str) -> str | None:
    """The commit a git checkout is at, or None when it is not one; uncommitted changes are an error."""
    git = shutil.which("git")
    if git is None or not (directory / ".git").exists():
        return None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git, "-c", "safe.directory=*", "-C", str(directory), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    head = run("rev-parse", "HEAD")
    if head.returncode != 0:
        return None
    if run("status", "--porcelain", "--untracked-files=no").stdout.strip():
        raise ProvisionError(
            f"{setting}: the checkout has uncommitted changes (expected a clean checkout, whose commit says "
            "what is built)"
        )
    return head.stdout.strip()


def _unpack_source(archive: Path, into: Path, setting: str) -> tuple[Path, str | None]:
    """Unpack a ``.tar.gz`` with one top directory safely (bounded, no link or path escaping ``into``).

    Returns the top directory and the commit ``git archive`` recorded in the pax global header, if any.
    """
    unreadable = f"{setting}: not a readable .tar.gz"
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = []
            total = 0
            for member in tar:
                members.append(member)
                total += member.size
                if len(members) > _SOURCE_MAX_MEMBERS or total > _SOURCE_MAX_BYTES:
                    raise ProvisionError(
                        f"{setting}: expected a zdm-proxy source of at most {_SOURCE_MAX_MEMBERS} files and "
                        f"{_SOURCE_MAX_BYTES >> 20} MiB, the archive holds more"
                    )
            tops = {Path(m.name).parts[0] for m in members if Path(m.name).parts}
            if len(tops) != 1:
                raise ProvisionError(
                    f"{setting}: expected one top directory in the archive, found {len(tops)}"
                )
            commit = tar.pax_headers.get("comment")
            into.mkdir(parents=True)
            tar.extractall(into, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise ProvisionError(f"{setting}: refused to unpack an unsafe member ({exc})") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ProvisionError(f"{unreadable} ({' '.join(str(exc).split())[:200]})") from None
    found = commit.strip() if commit and re.fullmatch(r"[0-9a-f]{40}", commit.strip()) else None
    return into / tops.pop(), found


def _go_module(tree: Path) -> str | None:
    try:
        text = (tree / "go.mod").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"^module\s+(\S+)", text, flags=re.MULTILINE)
    return match.group(1) if match else None
