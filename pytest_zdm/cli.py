"""``zdm-verify``: provision artifacts, bring an environment up or down, print the settings table.

Errors are one line on stderr and exit code 1 (2 for usage errors), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pytest_zdm import leftovers
from pytest_zdm.environment import start_or_attach, stop_environment, supervisor_pid
from pytest_zdm.errors import ZdmError
from pytest_zdm.provision import provision_cassandra, provision_proxy
from pytest_zdm.settings import OPTIONS, Settings, readme_table, resolve
from pytest_zdm.targets import target_class


def _say(message: str) -> None:
    print(f"[zdm-verify] {message}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    cli = {opt.name: getattr(args, opt.name, None) for opt in OPTIONS}
    return resolve(cli=cli, ini={}, environ=os.environ, rootdir=Path.cwd())


def _add_settings(parser: argparse.ArgumentParser) -> None:
    for opt in OPTIONS:
        if opt.is_flag:
            parser.add_argument(opt.cli, dest=opt.name, nargs="?", const="true", default=None, help=opt.help)
        else:
            parser.add_argument(opt.cli, dest=opt.name, default=None, help=opt.help)


def cmd_provision(args: argparse.Namespace) -> int:
    """Fetch and verify Cassandra's jars and the zdm-proxy binary."""
    settings = _settings(args)
    cassandra = provision_cassandra(settings, _say)
    print(f"cassandra {cassandra.version}: {len(cassandra.jars)} jars ({cassandra.source})")
    if not args.cassandra_only:
        proxy = provision_proxy(settings, _say)
        print(
            f"zdm-proxy {proxy.version} commit {proxy.commit or 'unknown'}: {proxy.binary} ({proxy.source})"
        )
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start an environment that outlives this command (like ``--zdm-keep``)."""
    settings = _settings(args)
    settings = Settings.from_json({**settings.to_json(), "zdm_keep": True})
    cls = target_class(settings.zdm_target)
    run_dir = settings.zdm_run_dir / ("up-" + time.strftime("%Y%m%d-%H%M%S"))
    env = start_or_attach(run_dir, settings, plan=cls.plan(settings), owner_pid=None, progress=_say)
    for line in env.info.describe():
        print(line)
    print(f"run dir {run_dir}; stop it with: zdm-verify down {run_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop environments left running (by ``up`` or ``--zdm-keep``), or sweep crashed runs' leftovers."""
    settings = _settings(args)
    if args.stale:
        lines = leftovers.sweep(settings.zdm_cache_dir) + _docker_orphans()
        for line in lines or ["nothing left behind by crashed runs"]:
            print(line)
        return 0
    if args.all:
        found = leftovers.entries(settings.zdm_cache_dir)
        for _, entry in found:
            stopped = stop_environment(Path(entry.run_dir), pid=entry.supervisor_pid)
            print(f"{'stopped' if stopped else 'already stopped'}: {entry.run_dir}")
        leftovers.sweep(settings.zdm_cache_dir)
        if not found:
            print("no environment is registered as running")
        return 0
    if not args.run_dir:
        raise ZdmError("down: expected a run directory (printed by 'up' or --zdm-keep), --stale or --all")
    run_dir = Path(args.run_dir).resolve()
    if supervisor_pid(run_dir) is None:
        raise ZdmError(f"down: {run_dir} is not a pytest-zdm run directory (no supervisor.pid)")
    stopped = stop_environment(run_dir)
    print(f"{'stopped' if stopped else 'already stopped'}: {run_dir}")
    return 0


def _docker_orphans() -> list[str]:
    """Containers of dead supervisors, removed when a Docker engine answers (``DOCKER_HOST``)."""
    from pytest_zdm.dockerized.engine import ping_error

    if ping_error(timeout=2.0) is not None:
        return []
    import docker

    from pytest_zdm.dockerized.containers import remove_orphans

    client = docker.from_env()
    try:
        return remove_orphans(client)
    finally:
        client.close()


def cmd_lint_config(args: argparse.Namespace) -> int:
    """Lint a proxy YAML config, an env file, a Kubernetes manifest or a proxy start-up log."""
    from pytest_zdm import lint  # deferred: only this command needs YAML parsing

    path = Path(args.path)
    if not path.is_file():
        raise ZdmError(
            f"lint-config: expected a file (proxy YAML config, env file, manifest), got {args.path!r}"
        )
    phase = None
    if args.phase is not None:
        if args.phase not in {"1", "2", "3", "4", "5"}:
            raise ZdmError(f"--phase: expected a ZDM phase 1 to 5, got {args.phase!r}")
        phase = int(args.phase)
    findings = lint.lint_file(path, phase=phase)
    for finding in findings:
        print(f"{path}: {finding}")
    if not findings:
        print(f"{path}: no findings")
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render Allure results (``pytest --alluredir``) to HTML with the Allure command line from npm."""
    from pytest_zdm.report import render

    settings = _settings(args)
    index = render(Path(args.results), Path(args.output), settings.zdm_cache_dir, _say)
    print(f"report: {index}")
    return 0


def cmd_docker_engine(args: argparse.Namespace) -> int:
    """Start, stop or report the framework's own Docker engine (loopback rule; for machines with none)."""
    from pytest_zdm.dockerized import engine  # deferred: only the docker target needs docker-py

    settings = _settings(args)
    dirs = (
        engine.EngineDirs(Path(args.engine_dir))
        if args.engine_dir
        else engine.engine_dirs(settings.zdm_cache_dir)
    )
    if args.action == "start":
        host = engine.start(dirs, _say)
        from pytest_zdm.dockerized.containers import remove_orphans
        from pytest_zdm.targets.docker import docker_client

        os.environ["DOCKER_HOST"] = host
        for line in remove_orphans(docker_client()):
            _say(line)
        print(host)  # the only line on stdout: export DOCKER_HOST="$(zdm-verify docker-engine start)"
        return 0
    if args.action == "stop":
        if not engine.stop(dirs, _say):
            _say(f"no engine of {dirs.home} is running")
        return 0
    state = engine.running(dirs)
    print(f"running: dockerd pid {state['pid']}, DOCKER_HOST={dirs.host}" if state else "not running")
    return 0 if state else 1


def cmd_docker_images(args: argparse.Namespace) -> int:
    """Build the docker target's images from the local target's artifacts (zdm_docker_build_images)."""
    from pytest_zdm.dockerized.images import build_cassandra_image, build_proxy_image
    from pytest_zdm.errors import ProvisionError
    from pytest_zdm.targets.docker import docker_client

    settings = _settings(args)
    client = docker_client()
    began = time.monotonic()
    print(f"{build_cassandra_image(client, settings, _say)} ready after {time.monotonic() - began:.0f}s")
    try:
        provision_proxy(settings, _say)
    except ProvisionError as exc:
        _say(f"WARNING: no zdm-proxy image: no binary could be provisioned ({exc})")
        return 0
    print(f"{build_proxy_image(client, settings, _say)} ready after {time.monotonic() - began:.0f}s")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print the settings table (the README's table is this output)."""
    del args
    print(readme_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="zdm-verify", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="fetch and verify Cassandra jars and the zdm-proxy binary")
    p.add_argument("--cassandra-only", action="store_true", help="only the Cassandra jars")
    _add_settings(p)
    p.set_defaults(func=cmd_provision)
    p = sub.add_parser("up", help="start an environment and leave it running")
    _add_settings(p)
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop an environment left running")
    p.add_argument("run_dir", nargs="?", help="run directory printed by 'up' or --zdm-keep")
    p.add_argument("--stale", action="store_true", help="kill what crashed runs left behind")
    p.add_argument(
        "--all", action="store_true", help="stop every environment this cache dir knows is running"
    )
    _add_settings(p)
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("lint-config", help="lint a zdm-proxy configuration (exit 1 on any error finding)")
    p.add_argument("path", help="proxy YAML config, env file, Kubernetes manifest or proxy start-up log")
    p.add_argument("--phase", help="the ZDM phase (1-5) the configuration is meant for")
    p.set_defaults(func=cmd_lint_config)
    p = sub.add_parser("report", help="render Allure results to an HTML report (Allure CLI from npm)")
    p.add_argument("--results", default="reports/allure-results", help="pytest's --alluredir")
    p.add_argument("--output", default="reports/allure-report", help="where the HTML report goes (replaced)")
    _add_settings(p)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser(
        "docker-engine",
        help="start/stop the framework's own Docker engine (dockerd --bridge=none --iptables=false "
        "--ip-forward=false; needs root); start prints its DOCKER_HOST",
    )
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--engine-dir", help="its data root and state (default: <zdm_cache_dir>/docker-engine)")
    _add_settings(p)
    p.set_defaults(func=cmd_docker_engine)
    p = sub.add_parser(
        "docker-images",
        help="build the docker target's Cassandra and zdm-proxy images from the local target's artifacts",
    )
    _add_settings(p)
    p.set_defaults(func=cmd_docker_images)
    p = sub.add_parser("settings", help="print the settings table")
    p.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zdm-verify`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ZdmError as exc:
        first, _, rest = str(exc).partition("\n")
        print(f"zdm-verify: error: {first}", file=sys.stderr)
        if rest:
            print(rest, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zdm-verify: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
