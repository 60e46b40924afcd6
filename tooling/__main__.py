"""``python -m tooling``: the project's CI tooling.

    python -m tooling docker-engine start|stop|status   # a loopback-only Docker engine (needs root)
    python -m tooling docker-images                      # images from the local target's artifacts
    python -m tooling kube-build                         # Kubernetes binaries from the Go module proxy
    python -m tooling kube-cluster start|stop|status     # a single-node Kubernetes cluster on 127.0.0.1
    python -m tooling kube-cluster load IMAGE...         # docker images into it (kind load docker-image)
    python -m tooling kube-cluster deploy                # k8s/loopback into it, waiting until Ready

``docker-engine start`` prints the ``DOCKER_HOST`` to use; ``docker-images`` prints the settings that
select the images it built (``PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE=...``), one per line, for ``export``;
``kube-cluster start`` prints the cluster's kubeconfig (``export KUBECONFIG=...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pytest_zdm.errors import ZdmError
from pytest_zdm.settings import OPTIONS, Settings, resolve
from pytest_zdm.targets.docker import docker_client
from pytest_zdm.targets.docker.containers import remove_orphans
from tooling import docker_engine as engine
from tooling import kube_build, kube_images
from tooling.docker_images import build_cassandra_image, build_proxy_image
from tooling.kube_cluster import COMPONENTS, Cluster, cluster_dirs, running


def _say(message: str) -> None:
    print(f"[tooling] {message}", file=sys.stderr, flush=True)


def _settings() -> Settings:
    return resolve(cli={opt.name: None for opt in OPTIONS}, ini={}, environ=os.environ, rootdir=Path.cwd())


def cmd_docker_engine(args: argparse.Namespace) -> int:
    """Start, stop or report the framework's own Docker engine (loopback rule; for machines with none)."""
    settings = _settings()
    dirs = (
        engine.EngineDirs(Path(args.engine_dir))
        if args.engine_dir
        else engine.engine_dirs(settings.zdm_cache_dir)
    )
    if args.action == "start":
        host = engine.start(dirs, _say)
        os.environ["DOCKER_HOST"] = host
        for line in remove_orphans(docker_client()):
            _say(line)
        print(host)  # the only line on stdout: export DOCKER_HOST="$(python -m tooling docker-engine start)"
        return 0
    if args.action == "stop":
        if not engine.stop(dirs, _say):
            _say(f"no engine of {dirs.home} is running")
        return 0
    state = engine.running(dirs)
    print(f"running: dockerd pid {state['pid']}, DOCKER_HOST={dirs.host}" if state else "not running")
    return 0 if state else 1


def cmd_docker_images(args: argparse.Namespace) -> int:
    """Build the docker target's images from the local target's artifacts; print the settings that pick them.

    The proxy image needs a zdm-proxy binary: without one this fails (CI must not go on without it).
    """
    del args
    settings = _settings()
    client = docker_client()
    began = time.monotonic()
    images = {
        cluster: build_cassandra_image(client, settings, _say, settings.cassandra_version(cluster))
        for cluster in ("origin", "target")
    }
    proxy = build_proxy_image(client, settings, _say)
    built = ", ".join(dict.fromkeys(images.values()))
    _say(f"images {built}, {proxy} ready after {time.monotonic() - began:.0f}s")
    print(f"PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE={images['target']}")
    if images["origin"] != images["target"]:  # versions per cluster (zdm_origin_cassandra_version...)
        print(f"PYTEST_ZDM_DOCKER_ORIGIN_CASSANDRA_IMAGE={images['origin']}")
    print(f"PYTEST_ZDM_DOCKER_PROXY_IMAGE={proxy}")
    return 0


def cmd_kube_build(args: argparse.Namespace) -> int:
    """Build (once) or find the cached Kubernetes binaries; print the directory that holds them."""
    del args
    began = time.monotonic()
    binaries = kube_build.ensure_binaries(_settings().zdm_cache_dir, _say)
    _say(f"{kube_build.describe(binaries)}; ready after {time.monotonic() - began:.1f}s")
    print(binaries.bin)
    return 0


def _cluster() -> Cluster:
    settings = _settings()
    binaries = kube_build.ensure_binaries(settings.zdm_cache_dir, _say)
    return Cluster(cluster_dirs(settings.zdm_cache_dir), binaries, _say)


def _containerd(cluster: Cluster) -> kube_images.Containerd:
    return kube_images.Containerd(cluster.dirs.socket, cluster.dirs.images / "imported.json")


def _module_dir(version: str) -> Path:
    """The k8s.io/kubernetes module's directory (pause.c is there), downloaded if the cache lost it."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@v{version}"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    try:
        return Path(json.loads(done.stdout)["Dir"])
    except (ValueError, KeyError):
        raise ZdmError(
            f"go mod download k8s.io/kubernetes@v{version} failed: {done.stderr.strip()[:300]}"
        ) from None


def cmd_kube_cluster(args: argparse.Namespace) -> int:
    """Start, stop, describe the loopback cluster; load images into it; deploy the shipped manifests."""
    cluster = _cluster()
    if args.action == "start":
        kubeconfig = cluster.start(timeout=args.timeout)
        kube_images.load_pause(
            _containerd(cluster), _module_dir(cluster.binaries.version), cluster.dirs.run / "images", _say
        )
        print(
            kubeconfig
        )  # the only line on stdout: export KUBECONFIG="$(python -m tooling kube-cluster start)"
        return 0
    if args.action == "stop":
        left = cluster.stop()
        for line in left:
            _say(f"left behind: {line}")
        return 1 if left else 0
    if args.action == "status":
        for line in cluster.status():
            print(line)
        return 0 if len(running(cluster.dirs)) == len(COMPONENTS) else 1
    if not running(cluster.dirs).get("containerd"):
        raise ZdmError("kube-cluster: the cluster is not running (python -m tooling kube-cluster start)")
    work = cluster.dirs.run / "images"
    if args.action == "load":
        kube_images.load_docker_images(_containerd(cluster), args.images, work, _say)
        return 0
    docs = kube_images.render(
        kube_images.which_kubectl(cluster.binaries.bin),
        kube_images.OVERLAY,
        cassandra_image=args.cassandra_image or os.environ.get("PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE"),
        proxy_image=args.proxy_image or os.environ.get("PYTEST_ZDM_DOCKER_PROXY_IMAGE"),
    )
    wanted = sorted({c["image"] for d in docs for c in kube_images.containers(d)})
    kube_images.load_docker_images(_containerd(cluster), wanted, work, _say)
    began = time.monotonic()
    kube_images.deploy(cluster.kubectl(), docs, _say, timeout=args.timeout)
    _say(f"k8s/loopback deployed and ready in {time.monotonic() - began:.0f}s ({', '.join(wanted)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The tooling's command line."""
    parser = argparse.ArgumentParser(prog="python -m tooling", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "docker-engine",
        help="start/stop a Docker engine (dockerd --bridge=none --iptables=false --ip-forward=false; needs "
        "root); start prints its DOCKER_HOST",
    )
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--engine-dir", help="its data root and state (default: <zdm_cache_dir>/docker-engine)")
    p.set_defaults(func=cmd_docker_engine)
    p = sub.add_parser("docker-images", help="build the Cassandra and zdm-proxy images from local artifacts")
    p.set_defaults(func=cmd_docker_images)
    p = sub.add_parser(
        "kube-build",
        help="build the Kubernetes binaries from the Go module proxy (once, ~14 min on 2 cores; cached by "
        "version); prints their directory",
    )
    p.set_defaults(func=cmd_kube_build)
    p = sub.add_parser(
        "kube-cluster",
        help="a single-node Kubernetes cluster on 127.0.0.1 (needs root): start prints its KUBECONFIG; stop "
        "ends it by PID and fails when something is left; load imports docker images; deploy applies "
        "k8s/loopback",
    )
    p.add_argument("action", choices=("start", "stop", "status", "load", "deploy"))
    p.add_argument(
        "images", nargs="*", help="load: docker images to import (e.g. pytest-zdm/cassandra:5.0.6)"
    )
    p.add_argument("--cassandra-image", help="deploy: the Cassandra image (default: "
                   "PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE, else the overlay's)")  # fmt: skip
    p.add_argument("--proxy-image", help="deploy: the zdm-proxy image (default: "
                   "PYTEST_ZDM_DOCKER_PROXY_IMAGE, else the overlay's)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for start, or for each deploy step")
    p.set_defaults(func=cmd_kube_cluster)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one tooling command; errors are one line."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ZdmError as exc:
        print(f"tooling: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
