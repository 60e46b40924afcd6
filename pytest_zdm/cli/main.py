"""``zdm-verify``: the command line around the pytest plugin.

It starts a verification project, provisions artifacts, brings an environment up or down, lints a proxy
configuration and renders the report.

Each subcommand accepts only its own options (``--help`` shows their defaults). A bad value is a usage error:
one line on stderr, exit code 2. A failure while working is one line, exit code 1. Never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest_zdm
from pytest_zdm import redact
from pytest_zdm.environment import start_or_attach, stop_environment, supervisor_identity
from pytest_zdm.errors import SettingError, ZdmError
from pytest_zdm.phases import parse_phase
from pytest_zdm.provision import provision_cassandra, provision_proxy, provision_spark_connector
from pytest_zdm.runtime import leftovers
from pytest_zdm.settings import OPTIONS, TARGET_NAMES, Option, Settings, readme_table, resolve
from pytest_zdm.targets import target_class
from pytest_zdm.targets.local import bootcache

#: The settings each subcommand takes (the others belong to a verification run, i.e. to pytest).
PROVISION_SETTINGS = (
    "zdm_cache_dir",
    "zdm_cassandra_version",
    "zdm_origin_cassandra_version",
    "zdm_target_cassandra_version",
    "zdm_java",
    "zdm_cassandra_heap",
    "zdm_fast_boot",
    "zdm_boot_cache",
    "zdm_cassandra_home",
    "zdm_cassandra_classpath",
    "zdm_proxy_commit",
    "zdm_proxy_binary",
    "zdm_proxy_source",
    "zdm_proxy_source_sha256",
    "zdm_spark_connector_version",
    "zdm_spark_connector_jars",
)
_RUN_ONLY = (
    "zdm_attach",
    "zdm_phase",
    "zdm_gate",
    "zdm_gate_file",
    "zdm_gate_suites",
    "zdm_builtin_suites",
    "zdm_allow_destructive",
    "zdm_keep",
    "zdm_request_timeout",
    "zdm_mismatch_values",
)
UP_SETTINGS = tuple(
    opt.name
    for opt in OPTIONS
    if opt.name not in _RUN_ONLY
    and not opt.name.startswith(("zdm_compare_", "zdm_perf_", "zdm_budget_", "zdm_spark_"))
)


class _HELP(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown once: a setting's help already says its default (resolved, not argparse's None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.help and "(default:" in action.help:
            return action.help
        return super()._get_help_string(action)


def _say(message: str) -> None:
    print(f"[zdm-verify] {message}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    cli = {opt.name: getattr(args, opt.name, None) for opt in OPTIONS}
    return resolve(cli=cli, ini={}, environ=os.environ, rootdir=Path.cwd())


def _default_shown(opt: Option) -> str:
    if opt.name == "zdm_cache_dir":
        return "user cache dir/pytest-zdm"
    value = opt.default(Path("<cwd>")) if opt.default else None
    if value is None or value in ((), {}):
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _add_settings(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """The settings ``names`` as options (secrets never: they come from the environment or a file)."""
    wanted = set(names)
    group = parser.add_argument_group("settings (also ini options of pytest; see zdm-verify settings)")
    for opt in OPTIONS:
        if opt.name not in wanted or not opt.on_command_line:
            continue
        env = f"; env {opt.env}" if opt.env else ""
        text = f"{opt.help} (default: {_default_shown(opt)}{env})".replace("%", "%%")
        if opt.is_flag:
            group.add_argument(opt.cli, dest=opt.name, nargs="?", const="true", default=None, help=text)
        else:
            group.add_argument(opt.cli, dest=opt.name, default=None, help=text)


def cmd_provision(args: argparse.Namespace) -> int:
    """Fetch and verify Cassandra's jars and Java, the zdm-proxy binary, then each release's boot cache.

    The boot cache (class-data archive, template data directories) boots real nodes, so it comes last and
    not with ``--cassandra-only``: a run that lacks it builds it on first use.
    """
    settings = _settings(args)
    artifacts = {}
    for version in dict.fromkeys(settings.cassandra_version(c) for c in ("origin", "target")):
        cassandra = artifacts[version] = provision_cassandra(settings, _say, version)
    if args.spark:
        connector = provision_spark_connector(settings, _say)
        print(f"spark connector {connector.version}: {len(connector.jars)} jars ({connector.source})")
        print(
            f"cassandra {cassandra.version}: {len(cassandra.jars)} jars ({cassandra.source}), "
            f"{cassandra.java or 'java on PATH'}"
        )
    if args.cassandra_only:
        return 0
    proxy = provision_proxy(settings, _say)
    print(f"zdm-proxy {proxy.version} commit {proxy.commit or 'unknown'}: {proxy.binary} ({proxy.source})")
    if settings.zdm_boot_cache and settings.zdm_fast_boot:
        for version, cassandra in artifacts.items():
            names = tuple(
                f"zdm-{c}" for c in ("origin", "target") if settings.cassandra_version(c) == version
            )
            cache = bootcache.ensure(
                cassandra, names, cache_dir=settings.zdm_cache_dir, heap=settings.zdm_cassandra_heap,
                progress=_say,
            )  # fmt: skip
            print(f"cassandra {cassandra.version}: boot cache {cache.directory}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start an environment that outlives this command (like ``--zdm-keep``)."""
    settings = _settings(args)
    settings = dataclasses.replace(settings, zdm_keep=True)
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
            stopped = stop_environment(Path(entry.run_dir), identity=entry.identity())
            if not stopped:
                _left_alone(entry.identity(), Path(entry.run_dir))
            print(f"{'stopped' if stopped else 'already stopped'}: {entry.run_dir}")
        leftovers.sweep(settings.zdm_cache_dir)
        if not found:
            print("no environment is registered as running")
        return 0
    if not args.run_dir:
        raise ZdmError("down: expected a run directory (printed by 'up' or --zdm-keep), --stale or --all")
    run_dir = Path(os.path.abspath(args.run_dir))
    identity = supervisor_identity(run_dir)
    if identity is None:
        raise ZdmError(f"down: {run_dir} is not a pytest-zdm run directory (no supervisor.pid)")
    stopped = stop_environment(run_dir, identity=identity)
    if not stopped:
        _left_alone(identity, run_dir)
    print(f"{'stopped' if stopped else 'already stopped'}: {run_dir}")
    return 0


def _left_alone(identity: leftovers.Identity, run_dir: Path) -> None:
    """Say so when the recorded pid now belongs to another process (it was not signalled)."""
    if leftovers.process_alive(identity.pid):
        _say(f"pid {identity.pid} recorded for {run_dir} is another process now: left alone")


def _docker_orphans() -> list[str]:
    """Containers of dead supervisors, removed when a Docker engine answers (``DOCKER_HOST``)."""
    import docker

    from pytest_zdm.targets.docker.containers import ping_error, remove_orphans

    if ping_error(timeout=2.0) is not None:
        return []

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
        raise SettingError(
            f"lint-config: expected a file (proxy YAML config, env file, manifest), got {args.path!r}"
        )
    findings = lint.lint_file(path, phase=args.phase)
    for line in lint.summarize(findings):
        print(f"{path}: {line}")
    if not findings:
        print(f"{path}: no findings")
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_report(args: argparse.Namespace) -> int:
    """The sign-off report: one HTML file (opens from disk) and the sign-off page as PDF."""
    from pytest_zdm.report.render import render

    settings = _settings(args)
    redact.register_settings(settings)  # passwords in this environment never reach the report either
    history = Path(args.history) if args.history else None
    done = render(Path(args.results), Path(args.output), settings.zdm_cache_dir, _say, history_dir=history,
                  pdf=args.pdf, browser=args.browser)  # fmt: skip
    print(f"report: {done.index}")
    print(f"sign-off PDF: {done.pdf}" if done.pdf else f"sign-off PDF: {done.pdf_skipped}")
    if done.history is not None:
        print(f"history: {done.earlier_runs} earlier run(s) in {done.history}")
    print(f"verdict: {done.verdict}")
    return 0


def _phase(raw: str) -> int:
    """A phase given on zdm-verify's command line, spelled as everywhere else (1-5 or its name)."""
    try:
        return parse_phase("--phase", raw)
    except SettingError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--phase: ")) from None


def cmd_init(args: argparse.Namespace) -> int:
    """Write a ready verification project (see :mod:`pytest_zdm.cli.init`)."""
    from pytest_zdm.cli.init import write_project

    for path in write_project(
        Path(args.directory), target=args.target, phase=args.phase, ci=args.ci, force=args.force
    ):
        print(f"wrote {path}")
    print(f"next: cd {args.directory} && pytest   (see its README.md)")
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    """Print which gates each target can pass and what to supply (docs/capabilities.md is this output)."""
    import tempfile

    from pytest_zdm.gate import coverage, verdict

    del args
    with tempfile.TemporaryDirectory(prefix="zdm-capabilities-") as tmp:
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        required = verdict.collect_required(
            [str(verdict.builtin_suites())],
            invocation_dir=Path(tmp),
            rootdir=Path(tmp),
            inifile=Path(tmp) / "pytest.ini",
        )
    print(coverage.table(required))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print the settings table (the README's table is this output)."""
    del args
    print(readme_table())
    return 0


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=summary, formatter_class=_HELP
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="zdm-verify", description=__doc__, formatter_class=_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {pytest_zdm.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = _command(
        sub,
        "init",
        "write a ready verification project: pytest settings, zdm.toml, an example check, a CI job",
    )
    p.add_argument("directory", nargs="?", default=".", help="where to write it (created if missing)")
    p.add_argument("--target", default="local", choices=TARGET_NAMES, help="the target it verifies")
    p.add_argument("--phase", type=_phase, default=1, help="the phase change its CI job gates (1-5 or name)")
    p.add_argument("--ci", default="github", choices=("github", "gitlab"), help="which CI job to write")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_init)
    p = _command(sub, "provision", "fetch and verify Cassandra jars and the zdm-proxy binary")
    p.add_argument("--cassandra-only", action="store_true", help="only the Cassandra jars")
    p.add_argument(
        "--spark", action="store_true", help="also the Spark Cassandra Connector (the spark engine's jars)"
    )
    _add_settings(p, PROVISION_SETTINGS)
    p.set_defaults(func=cmd_provision)
    p = _command(sub, "up", "start an environment and leave it running")
    _add_settings(p, UP_SETTINGS)
    p.set_defaults(func=cmd_up)
    p = _command(sub, "down", "stop an environment left running")
    p.add_argument("run_dir", nargs="?", help="run directory printed by 'up' or --zdm-keep")
    p.add_argument("--stale", action="store_true", help="kill what crashed runs left behind")
    p.add_argument(
        "--all", action="store_true", help="stop every environment this cache dir knows is running"
    )
    _add_settings(p, ("zdm_cache_dir",))
    p.set_defaults(func=cmd_down)
    p = _command(sub, "lint-config", "lint a zdm-proxy configuration (exit 1 on any error finding)")
    p.add_argument("path", help="proxy YAML config, env file, Kubernetes manifest or proxy start-up log")
    p.add_argument(
        "--phase",
        type=_phase,
        help="the ZDM phase the configuration is meant for: 1-5 or its name (deploy-proxy, migrate-data, "
        "async-dual-reads, route-reads, connect-to-target), as --zdm-phase and --zdm-gate take it",
    )
    p.set_defaults(func=cmd_lint_config)
    p = _command(
        sub,
        "report",
        "the sign-off report: one HTML file that opens from disk (Allure CLI from npm), the sign-off page as "
        "PDF (headless Chromium), and the history of earlier runs of the same target and phase",
    )
    p.add_argument("--results", default="reports/allure-results", help="pytest's --alluredir")
    p.add_argument(
        "--output", default="reports/allure-report", help="where index.html and signoff.pdf go (replaced)"
    )
    p.add_argument(
        "--history",
        default="reports/history",
        help="earlier runs, kept per target and phase (CI carries it between jobs); empty: none",
    )
    p.add_argument(
        "--pdf",
        default="auto",
        choices=("auto", "always", "never"),
        help="print the sign-off page to signoff.pdf: auto (when a Chromium is found), always, never",
    )
    p.add_argument(
        "--browser", help="the Chromium to print with (default: chromium or google-chrome on PATH)"
    )
    _add_settings(p, ("zdm_cache_dir",))
    p.set_defaults(func=cmd_report)
    p = _command(
        sub, "capabilities", "print which gates each target can pass (docs/capabilities.md is this output)"
    )
    p.set_defaults(func=cmd_capabilities)
    p = _command(sub, "settings", "print the settings table (docs/settings.md is this output)")
    p.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``zdm-verify`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingError as exc:  # a bad value given by the user: a usage error, as argparse's own
        print(f"zdm-verify {args.command}: error: {exc}", file=sys.stderr)
        return 2
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
