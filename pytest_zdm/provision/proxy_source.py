"""Building zdm-proxy from a source the user names (a checkout or a ``git archive`` tarball) with go build.

For machines whose Go module proxy refuses ``github.com/datastax/zdm-proxy`` while serving everything it
depends on. The source must prove which commit it holds, because the build is cached, and reported, as
that commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision.tools import Progress, last_error_line

PROXY_MODULE = "github.com/datastax/zdm-proxy"
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
        raise ProvisionError(f"{setting}: go build failed (exit {rc}): {last_error_line(log.read_text())}")
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
