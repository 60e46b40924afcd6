"""zdm-proxy: a binary the user names, or one built from the pinned commit and cached by commit.

The Go module proxy serves the module by commit (``go install ...@<commit>``: tags ``v2.x`` are not valid Go
versions for a module path without ``/v2``). Where it refuses the module (403), a source the user names is
built instead (:mod:`pytest_zdm.provision.proxy_source`).
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

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision.proxy_source import PROXY_MODULE, build_from_source
from pytest_zdm.provision.tools import Progress, cache_lock, last_error_line, read_marker, require_tool
from pytest_zdm.settings import Settings


@dataclass(frozen=True)
class ProxyArtifact:
    """A zdm-proxy binary that was checked to run (``--version`` printed ``version``)."""

    binary: Path
    version: str
    commit: str | None
    source: str


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
    """The commit the Go toolchain recorded in the binary, if any.

    ``go install module@commit`` records a pseudo-version (``v0.0.0-<time>-<commit>``); ``go build`` in a git
    checkout records ``vcs.revision``. A binary built otherwise carries none: its commit is unknown.
    """
    go = shutil.which("go")
    if not go:
        return None
    try:
        out = subprocess.run(
            [go, "version", "-m", str(binary)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rf"mod\s+{re.escape(PROXY_MODULE)}\s+v\S*-([0-9a-f]{{12}})\b", out) or re.search(
        r"build\s+vcs\.revision=([0-9a-f]{12})", out
    )
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
    with cache_lock(home.with_suffix(".lock"), f"zdm-proxy {commit}", progress):
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
    cached = read_marker(home / "provisioned.json")
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
        raise ProvisionError(f"go install {target} failed (exit {rc}): {last_error_line(log.read_text())}")
    return "go install"
