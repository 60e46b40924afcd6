"""``python -m tooling``: the project's CI tooling.

    python -m tooling docker-engine start|stop|status   # a loopback-only Docker engine (needs root)
    python -m tooling docker-images                      # images from the local target's artifacts

``docker-engine start`` prints the ``DOCKER_HOST`` to use; ``docker-images`` prints the settings that
select the images it built (``PYTEST_ZDM_DOCKER_CASSANDRA_IMAGE=...``), one per line, for ``export``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pytest_zdm.errors import ZdmError
from pytest_zdm.settings import OPTIONS, Settings, resolve
from pytest_zdm.targets.docker import docker_client
from pytest_zdm.targets.docker.containers import remove_orphans
from tooling import docker_engine as engine
from tooling.docker_images import build_cassandra_image, build_proxy_image


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
