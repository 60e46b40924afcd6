"""Kubernetes binaries built from the Go module proxy and cached by version, for a cluster on loopback.

No registry but the Go module proxy (and Debian's) is reachable from this project's machines, so the control
plane and the node agent are built from source, once per machine:

- ``go install k8s.io/kubernetes/cmd/...@v1.34.x`` is refused (its go.mod replaces the 31 staging modules
  ``k8s.io/api`` ... by ``./staging/...`` at ``v0.0.0``). A small wrapper module requires
  ``k8s.io/kubernetes`` and replaces each of those by its published ``v0.34.x`` release; the components are
  then built from the wrapper with ``go build`` (CGO off, versions stamped like a release build so they
  report ``v1.34.x``, which the kubelet's registration and version skew checks read).
- etcd (``go.etcd.io/etcd/server/v3``, whose go.mod has replace directives too) is built from the same
  wrapper: a ``tools.go`` imports its main package, so the wrapper resolves the version Kubernetes pins.
- crictl (``sigs.k8s.io/cri-tools``) has no replace directives: ``go install`` works as is.

The binaries land in ``<zdm_cache_dir>/kubernetes/<version>/bin`` under a file lock; ``build.json`` is written
last, so a build cut short leaves no entry that looks complete, and the warm path is a few ``stat`` calls.
Cold, on 2 cores: about 14 minutes (kube-apiserver alone about 8), 3.4 GB of Go build cache, 1.1 GB of
modules; binaries 450 MB. Facts of the first trial: ``shared/reference/kubernetes-on-loopback.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import Progress, require_tool
from pytest_zdm.provision.tools import cache_lock, last_error_line, read_marker

KUBERNETES_VERSION = "1.34.4"
CRI_TOOLS_VERSION = "1.34.0"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
_WRAPPER_MODULE = "pytest-zdm.invalid/kubernetes-build"
_GO_TIMEOUT = 3600.0
#: What is built, in this order (the apiserver first: it is the longest, and the others reuse its packages).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
    ("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"),
    ("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"),
    ("kubelet", "k8s.io/kubernetes/cmd/kubelet"),
    ("kubectl", "k8s.io/kubernetes/cmd/kubectl"),
    ("etcd", ETCD_MODULE),
)
BINARIES = (*(name for name, _ in COMPONENTS), "crictl")


@dataclass(frozen=True)
class KubeBinaries:
    """The cached binaries of one Kubernetes version."""

    version: str
    home: Path

    @property
    def bin(self) -> Path:
        """Where the binaries are."""
        return self.home / "bin"

    def path(self, name: str) -> Path:
        """The binary ``name`` (``kubelet``, ``etcd``, ``crictl``...)."""
        return self.bin / name


def cache_home(cache_dir: Path, version: str = KUBERNETES_VERSION) -> Path:
    """``<zdm_cache_dir>/kubernetes/<version>``."""
    return cache_dir / "kubernetes" / version


def cached(cache_dir: Path, version: str = KUBERNETES_VERSION) -> KubeBinaries | None:
    """The cache entry when its marker and every binary are there (stat calls only), else None."""
    home = cache_home(cache_dir, version)
    marker = home / "build.json"
    if not marker.is_file() or not all((home / "bin" / name).is_file() for name in BINARIES):
        return None
    return KubeBinaries(version, home)


def ensure_binaries(cache_dir: Path, progress: Progress, version: str = KUBERNETES_VERSION) -> KubeBinaries:
    """The cached binaries of ``version``, built first when absent (about 14 minutes on 2 cores)."""
    found = cached(cache_dir, version)
    if found is not None:
        return found
    home = cache_home(cache_dir, version)
    with cache_lock(home.parent / f"{version}.lock", f"Kubernetes {version} binaries", progress):
        found = cached(cache_dir, version)  # another run may have built it while this one waited
        if found is not None:
            return found
        staging = home.parent / f".{version}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        try:
            timings = _build(staging, version, home.parent / "wrapper", progress)
            shutil.rmtree(home, ignore_errors=True)
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        marker = {"version": version, "cri_tools": CRI_TOOLS_VERSION, "seconds": timings}
        (home / "build.json").write_text(json.dumps(marker, indent=2))  # last: the entry is complete
        return KubeBinaries(version, home)


def _go() -> str:
    return require_tool("go", "the Kubernetes binaries are built with go from the Go module proxy")


def _run_go(args: list[str], *, cwd: Path, log: Path, env: dict[str, str], what: str) -> None:
    """One go command, its output appended to ``log``; a failure is one line with go's own error."""
    with log.open("a") as out:
        out.write(f"\n$ go {' '.join(args)}\n")
        out.flush()
        try:
            rc = subprocess.call(
                [_go(), *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=_GO_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise ProvisionError(f"{what}: go {args[0]} took over {_GO_TIMEOUT:.0f}s (log: {log})") from None
    if rc != 0:
        text = log.read_text(errors="replace")
        section = text[text.rfind("\n$ go ") :]
        raise ProvisionError(f"{what} failed (exit {rc}): {last_error_line(section)} (log: {log})")


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The modules ``k8s.io/kubernetes`` replaces by its own ``./staging/...`` directories."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/\S+) => \./staging/", kubernetes_go_mod, re.M)))


def wrapper_go_mod(version: str, staging: list[str]) -> str:
    """The wrapper module's go.mod: Kubernetes required, each staging module replaced by its release."""
    release = "v0." + version.split(".", 1)[1]  # 1.34.4 -> v0.34.4
    replaces = "\n".join(f"\t{module} => {module} {release}" for module in staging)
    return (
        f"module {_WRAPPER_MODULE}\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v{version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


def tools_go() -> str:
    """A file that imports every main package built, so ``go mod tidy`` keeps what they need.

    Behind the ``tools`` build tag: it is never compiled (main packages cannot be imported), only read by
    ``go mod tidy``; without it tidy would drop ``k8s.io/kubernetes`` from a module with no Go code.
    """
    imports = "\n".join(f'\t_ "{package}"' for _, package in COMPONENTS)
    return (
        "//go:build tools\n\n"
        "// Package tools pins what the wrapper builds; read by go mod tidy, never compiled.\n"
        f"package tools\n\nimport (\n{imports}\n)\n"
    )


def ldflags(version: str) -> str:
    """Version stamps of a release build (``kubectl version``, the kubelet's node status, skew checks)."""
    major, minor, _ = version.split(".")
    stamps = {
        "gitVersion": f"v{version}",
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{name}={value}" for name, value in stamps.items()]
    return " ".join(flags)


def _build(staging: Path, version: str, wrapper: Path, progress: Progress) -> dict[str, float]:
    """Build every binary into ``staging/bin``; returns the seconds each took."""
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"}
    wrapper.mkdir(parents=True, exist_ok=True)
    log = staging / "go-build.log"
    progress(f"Kubernetes {version}: resolving modules (k8s.io/kubernetes and its staging releases)")
    began = time.monotonic()
    listing = subprocess.run(
        [_go(), "mod", "download", "-json", f"k8s.io/kubernetes@v{version}"],
        cwd=wrapper,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=_GO_TIMEOUT,
    )
    info = json.loads(listing.stdout) if listing.stdout.strip().startswith("{") else {}
    if listing.returncode != 0 or "GoMod" not in info:
        reason = info.get("Error") or last_error_line(listing.stderr)
        raise ProvisionError(f"go mod download k8s.io/kubernetes@v{version} failed: {reason}")
    modules = staging_modules(Path(info["GoMod"]).read_text())
    if not modules:
        raise ProvisionError(f"k8s.io/kubernetes@v{version}: its go.mod requires no staging module at v0.0.0")
    (wrapper / "go.mod").write_text(wrapper_go_mod(version, modules))
    (wrapper / "tools.go").write_text(tools_go())
    (wrapper / "go.sum").unlink(missing_ok=True)
    _run_go(["mod", "tidy"], cwd=wrapper, log=log, env=env, what="go mod tidy of the Kubernetes wrapper")
    timings = {"modules": round(time.monotonic() - began, 1)}
    progress(f"modules resolved in {timings['modules']:.0f}s ({len(modules)} staging modules replaced)")
    flags = ldflags(version)
    for name, package in COMPONENTS:
        note = " (the longest: about 8 minutes on 2 cores)" if name == "kube-apiserver" else ""
        progress(f"building {name}: go build {package}{note}")
        began = time.monotonic()
        _run_go(
            ["build", "-trimpath", "-ldflags", flags, "-o", str(staging / "bin" / name), package],
            cwd=wrapper,
            log=log,
            env=env,
            what=f"go build {package}",
        )
        timings[name] = round(time.monotonic() - began, 1)
        progress(f"{name} built in {timings[name]:.0f}s")
    progress(f"building crictl (go install sigs.k8s.io/cri-tools/cmd/crictl@v{CRI_TOOLS_VERSION})")
    began = time.monotonic()
    _run_go(
        [
            "install",
            "-trimpath",
            f"-ldflags=-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v{CRI_TOOLS_VERSION}",
            f"sigs.k8s.io/cri-tools/cmd/crictl@v{CRI_TOOLS_VERSION}",
        ],
        cwd=wrapper,
        log=log,
        env={**env, "GOBIN": str(staging / "bin")},
        what="go install crictl",
    )
    timings["crictl"] = round(time.monotonic() - began, 1)
    progress(f"crictl built in {timings['crictl']:.0f}s")
    for name in BINARIES:
        _check_version(staging / "bin" / name, name)
    return timings


def _check_version(binary: Path, name: str) -> None:
    """The binary runs and says its version (a truncated or foreign binary fails here, not in the cluster)."""
    args = {"kubectl": ["version", "--client"], "etcd": ["--version"], "crictl": ["--version"]}
    command = [str(binary), *args.get(name, ["--version"])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"{name}: the built binary does not run: {exc}") from None
    if done.returncode != 0:
        reason = last_error_line(done.stdout + done.stderr)
        raise ProvisionError(f"{name}: {' '.join(command)} failed: {reason}")


def describe(binaries: KubeBinaries) -> str:
    """One line: the version and how long the cold build took (from the marker)."""
    marker = read_marker(binaries.home / "build.json") or {}
    seconds = marker.get("seconds") or {}
    total = sum(float(v) for v in seconds.values()) if isinstance(seconds, dict) else 0.0
    return f"Kubernetes {binaries.version} binaries in {binaries.bin} (built once in {total:.0f}s)"
