"""Images for the loopback cluster without a registry, and the shipped manifests deployed into it.

- The pause image (every pod's sandbox) is Kubernetes' own ``build/pause/linux/pause.c``, from the
  ``k8s.io/kubernetes`` module the binaries are built from, compiled with ``gcc -static`` and packed as a
  one-layer docker-archive by :func:`pause_archive`.
- The workloads' images are the docker target's locally built ones (``python -m tooling docker-images``):
  ``docker save`` from the project's Docker engine, ``ctr -n k8s.io images import`` into the cluster's
  containerd (what ``kind load docker-image`` does for a kind cluster). An image already imported with the
  same image ID is not imported again: containerd's store is kept between cluster runs.
- :func:`deploy` applies ``k8s/loopback`` (the shipped ``k8s/`` manifests with host networking on loopback
  ports), Cassandra first, then zdm-proxy once both clusters are ready, so the proxy does not begin with a
  crash loop.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import Progress, require_tool
from pytest_zdm.provision.tools import last_error_line
from tooling.kube_config import PAUSE_IMAGE

#: The overlay deployed into the loopback cluster, and the images it names (replaced by --*-image).
OVERLAY = Path(__file__).resolve().parent.parent / "k8s" / "loopback"
CASSANDRA_APPS = ("cassandra-origin", "cassandra-target")
PROXY_APP = "zdm-proxy"


def _run(command: list[str], what: str, *, timeout: float = 600, stdin: bytes | None = None) -> str:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProvisionError(
            f"{what}: no result within {timeout:.0f}s ({' '.join(command[:3])} ...)"
        ) from None
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        reason = last_error_line(done.stderr.decode(errors="replace") + out)
        raise ProvisionError(f"{what} failed (exit {done.returncode}): {reason}")
    return out


def pause_binary(module_dir: Path, out: Path) -> Path:
    """``pause`` compiled statically from Kubernetes' own source (no libc needed in the image)."""
    source = module_dir / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise ProvisionError(f"pause image: {source} not found (the k8s.io/kubernetes module is incomplete)")
    gcc = require_tool("gcc", "the pause image is compiled from Kubernetes' pause.c (apt-get install gcc)")
    version = PAUSE_IMAGE.rsplit(":", 1)[1]
    _run(
        [gcc, "-Os", "-static", "-Wall", f"-DVERSION=v{version}", "-o", str(out), str(source)], "gcc pause.c"
    )
    return out


def _tar_bytes(members: Iterable[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pause_archive(binary: Path, out: Path, tag: str = PAUSE_IMAGE) -> Path:
    """A docker-archive (``docker save`` format) of one layer holding ``/pause``, its entry point."""
    layer = _tar_bytes([("pause", binary.read_bytes(), 0o755)])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "gcc -static build/pause/linux/pause.c (pytest-zdm tooling)"}],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    out.write_bytes(_tar_bytes([(config_name, config, 0o644), (layer_name, layer, 0o644),
                                ("manifest.json", manifest, 0o644)]))  # fmt: skip
    return out


def normalized(name: str) -> str:
    """An image name as containerd stores it (``pytest-zdm/x:1`` -> ``docker.io/pytest-zdm/x:1``)."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"


class Containerd:
    """``ctr`` against the cluster's own containerd, in the namespace the CRI uses (``k8s.io``)."""

    def __init__(self, socket: Path, record: Path) -> None:
        self.socket = socket
        self.record = record  # image name -> the docker image ID it was imported from

    def ctr(self, *args: str, timeout: float = 600) -> str:
        """Run ``ctr --address SOCKET -n k8s.io ARGS``."""
        ctr = require_tool("ctr", "images are imported into the cluster's containerd with it (containerd)")
        return _run(
            [ctr, "--address", str(self.socket), "-n", "k8s.io", *args], f"ctr {args[0]}", timeout=timeout
        )

    def names(self) -> set[str]:
        """The image names containerd holds."""
        return {line.strip() for line in self.ctr("images", "ls", "-q").splitlines() if line.strip()}

    def _recorded(self) -> dict[str, str]:
        try:
            data = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def has(self, name: str, image_id: str) -> bool:
        """Whether ``name`` is in containerd, imported from the image ``image_id``."""
        full = normalized(name)
        return self._recorded().get(full) == image_id and full in self.names()

    def import_archive(self, archive: Path, name: str, image_id: str, progress: Progress) -> bool:
        """Import a docker-archive unless ``name`` is there from the same image ID; True if imported."""
        if self.has(name, image_id):
            return False
        full = normalized(name)
        recorded = self._recorded()
        began = time.monotonic()
        self.ctr("images", "import", str(archive), timeout=1200)
        if full not in self.names():
            raise ProvisionError(f"ctr images import {archive.name}: {full} is not in containerd afterwards")
        recorded[full] = image_id
        self.record.write_text(json.dumps(recorded, indent=2))
        size = archive.stat().st_size / 1e6
        progress(f"imported {full} ({size:.0f} MB) into containerd in {time.monotonic() - began:.0f}s")
        return True


def load_pause(containerd: Containerd, module_dir: Path, work: Path, progress: Progress) -> None:
    """Build and import the pause image unless it is there (compiled from the module's pause.c)."""
    work.mkdir(parents=True, exist_ok=True)
    binary = pause_binary(module_dir, work / "pause")
    archive = pause_archive(binary, work / "pause.tar")
    digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    containerd.import_archive(archive, PAUSE_IMAGE, digest, progress)


def load_docker_images(containerd: Containerd, tags: Iterable[str], work: Path, progress: Progress) -> None:
    """``docker save`` each image from the Docker engine (``DOCKER_HOST``) and import it into containerd."""
    from pytest_zdm.targets.docker import docker_client  # the docker SDK, only when images are loaded

    client = docker_client()
    work.mkdir(parents=True, exist_ok=True)
    for tag in tags:
        try:
            image = client.images.get(tag)
        except Exception as exc:  # docker's ImageNotFound, or the engine unreachable
            raise ProvisionError(
                f"image {tag}: not in the Docker engine ({str(exc).splitlines()[0]}); build it with "
                "python -m tooling docker-images"
            ) from None
        if containerd.has(tag, str(image.id)):
            progress(f"{tag}: already in the cluster's containerd (image {image.id[7:19]})")
            continue
        archive = work / (tag.replace("/", "_").replace(":", "_") + ".tar")
        progress(f"{tag}: docker save, then ctr images import")
        with archive.open("wb") as out:
            for chunk in image.save(named=True):
                out.write(chunk)
        try:
            containerd.import_archive(archive, tag, str(image.id), progress)
        finally:
            archive.unlink(missing_ok=True)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers (and init containers) of a workload's pod template."""
    spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def render(
    kubectl: str, overlay: Path, *, cassandra_image: str | None, proxy_image: str | None
) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of the overlay, with the Cassandra and zdm-proxy images replaced when given.

    The overlay names the manifests above its directory, hence ``--load-restrictor=LoadRestrictionsNone``.
    """
    out = _run(
        [kubectl, "kustomize", "--load-restrictor=LoadRestrictionsNone", str(overlay)], "kubectl kustomize"
    )
    docs = [doc for doc in yaml.safe_load_all(out) if doc]
    for doc in docs:
        app = _app(doc)
        image = cassandra_image if app in CASSANDRA_APPS else proxy_image if app == PROXY_APP else None
        for container in containers(doc) if image else []:
            container["image"] = image
    return docs


def _app(doc: dict[str, Any]) -> str:
    labels = (doc.get("metadata") or {}).get("labels") or {}
    selector = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return str(labels.get("app") or selector.get("app") or (doc.get("metadata") or {}).get("name"))


def deploy(kubectl: list[str], docs: list[dict[str, Any]], progress: Progress, *, timeout: float) -> None:
    """Apply Cassandra, wait for its pods, then zdm-proxy, wait for it: each step bounded by ``timeout``."""
    cassandra = [d for d in docs if _app(d) in CASSANDRA_APPS]
    rest = [d for d in docs if _app(d) not in CASSANDRA_APPS]
    for what, part, apps in (("Cassandra", cassandra, CASSANDRA_APPS), ("zdm-proxy", rest, (PROXY_APP,))):
        began = time.monotonic()
        text = yaml.safe_dump_all(part, sort_keys=False).encode()
        out = _run([*kubectl, "apply", "-f", "-"], f"kubectl apply ({what})", stdin=text)
        progress(" ".join(out.split()))
        selector = f"app in ({','.join(apps)})"
        _wait_pods(kubectl, selector, len(apps), timeout, what)
        progress(f"{what} ready in {time.monotonic() - began:.0f}s")


def _wait_pods(kubectl: list[str], selector: str, count: int, timeout: float, what: str) -> None:
    """Until ``count`` pods match and ``kubectl wait`` says they are Ready."""
    deadline = time.monotonic() + timeout
    while True:
        names = _run([*kubectl, "get", "pods", "-l", selector, "-o", "name"], "kubectl get pods").split()
        if len(names) >= count:
            break
        if time.monotonic() > deadline:
            raise ProvisionError(f"{what}: {len(names)} of {count} pods created within {timeout:.0f}s")
        time.sleep(1)
    left = max(1.0, deadline - time.monotonic())
    try:
        _run([*kubectl, "wait", "--for=condition=Ready", "pod", "-l", selector, f"--timeout={left:.0f}s"],
             f"{what}: pods Ready", timeout=left + 30)  # fmt: skip
    except ProvisionError as exc:
        state = _run([*kubectl, "get", "pods", "-l", selector, "-o", "wide"], "kubectl get pods")
        raise ProvisionError(f"{exc}\n{state}") from None


def which_kubectl(bin_dir: Path) -> str:
    """The kubectl built with the cluster (same version), else the one on PATH."""
    built = bin_dir / "kubectl"
    return str(built) if built.is_file() else require_tool("kubectl", "the manifests are applied with it")


def remove_tree(path: Path) -> None:
    """Remove a directory tree, ignoring what is gone already."""
    shutil.rmtree(path, ignore_errors=True)
