"""The pytest plugin: options, report header and summary, the run's lifecycle, and the public fixtures.

Fixture names are the public contract suites and users build on: ``zdm_env``, ``origin_session``,
``target_session``, ``proxy_session`` and ``zdm_keyspace``. They stay thin; the work lives in plain classes
(:mod:`pytest_zdm.environment`, :mod:`pytest_zdm.targets`) usable without pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm import allure_results, disruption, gate, keyspaces, redact, stability
from pytest_zdm.environment import ZdmEnv, attach_running, start_or_attach, stop_environment
from pytest_zdm.errors import UnsupportedControl, ZdmError
from pytest_zdm.phases import describe
from pytest_zdm.settings import OPTIONS, Settings, resolve
from pytest_zdm.signoff import SignOff, WorkerNotes
from pytest_zdm.summary import VerificationSummary
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import EnvironmentInfo

SETTINGS_KEY = pytest.StashKey[Settings]()
RUN_KEY = pytest.StashKey["RunContext"]()
ENV_KEY = pytest.StashKey["ZdmEnv | ZdmError"]()
SESSIONS_KEY = pytest.StashKey[list[Any]]()
SUMMARY_KEY = pytest.StashKey[VerificationSummary]()
SEEN_BASELINE_KEY = pytest.StashKey[int]()
_KEEP_RUN_DIRS = 10


@dataclass(frozen=True)
class RunContext:
    """What every process of one run (controller and xdist workers) agrees on."""

    run_id: str
    run_dir: str
    plan: dict[str, Any]
    owner_pid: int
    controller: bool
    attached: bool = False

    @property
    def baseline_path(self) -> Path:
        """Where the session's proxy-stability baseline is kept (sessions may share an environment)."""
        return Path(self.run_dir) / f"stability-baseline-{self.run_id}.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Each setting as an ini option and a command-line option of the same name, one help text."""
    group = parser.getgroup("zdm", "pytest-zdm: verify a Cassandra migration through zdm-proxy")
    for opt in OPTIONS:
        help_text = opt.help + (f" (env {opt.env})" if opt.env else "")
        if opt.is_flag:
            group.addoption(opt.cli, dest=opt.name, default=None, nargs="?", const="true", metavar="BOOL",
                            help=help_text)  # fmt: skip
        else:
            group.addoption(opt.cli, dest=opt.name, default=None, help=help_text)
        parser.addini(opt.name, help=help_text, default=None)


def _settings_from(config: pytest.Config) -> Settings:
    cli = {opt.name: config.getoption(opt.name) for opt in OPTIONS}
    ini = {opt.name: config.getini(opt.name) for opt in OPTIONS}
    settings = resolve(cli=cli, ini=ini, environ=os.environ, rootdir=Path(str(config.rootpath)))
    if settings.zdm_gate is not None and settings.zdm_phase is None:
        # Gating entry into phase N: the proxy still runs with the configuration of the phase before it.
        proxy_phase = min(4, max(1, settings.zdm_gate - 1))
        sources = {**settings.sources, "zdm_phase": "zdm_gate"}
        settings = replace(settings, zdm_phase=proxy_phase, sources=sources)
    return settings


MARKERS = {
    "zdm_stable_proxy": "zdm_stable_proxy: the check needs a stable proxy; it is skipped, with the evidence "
    "as reason, when readiness is not UP, the proxy restarted or connections failed since the session began",
    "zdm_destructive": "zdm_destructive: the check stops/pauses nodes or restarts the proxy; it runs alone "
    "(no other check runs meanwhile) and only on disposable targets or with --zdm-allow-destructive",
    "zdm_required_for": "zdm_required_for(*phases, when_proxy_phase=()): the check must pass before entering "
    "these ZDM phases (1 deploy proxy, 2 migrate data, 3 async dual reads, 4 reads on target, 5 clients on "
    "target); with when_proxy_phase, only while the proxy runs with one of those phases' configuration",
}


def pytest_configure(config: pytest.Config) -> None:
    """Resolve settings (a bad value is a usage error) and agree on the run directory."""
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    try:
        settings = _settings_from(config)
        cls = target_class(settings.zdm_target)
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and "zdm_run" in workerinput:
            ctx = RunContext(**workerinput["zdm_run"])
        elif settings.zdm_attach is not None:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]  # own keyspaces per session
            attached = str(settings.zdm_attach.resolve())
            ctx = RunContext(run_id, attached, {}, os.getpid(), controller=True, attached=True)
        else:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
            ctx = RunContext(
                run_id=run_id,
                run_dir=str(settings.zdm_run_dir / run_id),
                plan=dict(cls.plan(settings)),  # a target checks its own settings here (e.g. zdm.toml)
                owner_pid=os.getpid(),
                controller=True,
            )
            _prune_old_runs(settings.zdm_run_dir)
    except ZdmError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS_KEY] = settings
    redact.register_settings(settings)
    config.stash[RUN_KEY] = ctx
    config.pluginmanager.register(UnsupportedControlSkip(), "zdm-unsupported-control-skip")
    if ctx.controller:
        summary = VerificationSummary()
        config.stash[SUMMARY_KEY] = summary
        config.pluginmanager.register(summary, "zdm-verification-summary")
        config.pluginmanager.register(
            SignOff(config, settings, summary, Path(ctx.run_dir), ctx.run_id), "zdm-signoff"
        )
    else:
        config.pluginmanager.register(WorkerNotes(config), "zdm-worker-notes")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Label checks for Allure; in the gate's collect-only subprocess, write the required checks."""
    manifest = os.environ.get(gate.MANIFEST_ENV)
    if manifest and config.option.collectonly:
        gate.write_manifest(Path(manifest), items)
        return
    settings = config.stash[SETTINGS_KEY]
    allure_results.add_labels(config, items, settings.zdm_gate, settings.zdm_phase)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failed check that used the environment, attach the proxy's and nodes' log tails for Allure."""
    report = yield
    if report.failed and _uses_env(item) and allure_results.alluredir(item.config) is not None:
        env = item.config.stash.get(ENV_KEY, None)
        if isinstance(env, ZdmEnv):
            allure_results.attach_log_tails(env.info.logs)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Xdist controller: hand the run directory, port plan and owner pid to each worker."""
    ctx = node.config.stash[RUN_KEY]
    node.workerinput["zdm_run"] = {**asdict(ctx), "controller": False}


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Target, endpoints and versions, before anything starts."""
    settings = config.stash[SETTINGS_KEY]
    ctx = config.stash[RUN_KEY]
    gate_line = []
    if settings.zdm_gate is not None:
        gate_line.append(
            f"zdm: gate: entering phase {describe(settings.zdm_gate)}; proxy expected in its phase "
            f"{settings.zdm_phase} configuration; verdict to {settings.zdm_gate_file}"
        )
    if ctx.attached:
        return [f"zdm: attached to the running environment in {ctx.run_dir} (it is left running)", *gate_line]
    lines = [f"zdm: target {settings.zdm_target}, run dir {ctx.run_dir}", *gate_line]
    lines += target_class(settings.zdm_target).report_header(settings, ctx.plan)
    if settings.zdm_target == "local":
        from pytest_zdm.targets.local import LocalTarget

        planned = LocalTarget.planned_info(ctx.plan)
        lines.append(
            f"zdm: endpoints (planned) origin {planned['origin']}, target {planned['target']}, "
            f"proxy {planned['proxy']}, proxy health/metrics {planned['proxy_http']}"
        )
        cassandra = (
            f"Cassandra {settings.zdm_cassandra_version} (Maven jars)"
            if not (settings.zdm_cassandra_home or settings.zdm_cassandra_classpath)
            else f"Cassandra from {settings.zdm_cassandra_home or settings.zdm_cassandra_classpath}"
        )
        proxy = (
            f"zdm-proxy binary {settings.zdm_proxy_binary}"
            if settings.zdm_proxy_binary
            else f"zdm-proxy commit {settings.zdm_proxy_commit} (go install"
            + (", else go build of zdm_proxy_source)" if settings.zdm_proxy_source else ")")
        )
        lines.append(
            f"zdm: {cassandra}, {proxy}, primary {settings.zdm_primary_cluster}, read mode "
            f"{settings.zdm_read_mode}, CQL protocol v{settings.zdm_protocol_version}"
        )
    else:
        lines.extend(target_class(settings.zdm_target).report_header(settings, ctx.plan))
    return lines


def _emitter(config: pytest.Config) -> Any:
    """Progress lines that reach the terminal even from inside a captured fixture or an xdist worker."""
    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    worker = hasattr(config, "workerinput")

    def emit(message: str) -> None:
        line = f"[pytest-zdm] {message}"
        cm = capman.global_and_fixture_disabled() if capman else None
        if cm is not None:
            cm.__enter__()
        try:
            if reporter is not None and not worker:
                reporter.ensure_newline()
                reporter.write_line(line)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        finally:
            if cm is not None:
                cm.__exit__(None, None, None)

    return emit


def environment(config: pytest.Config) -> ZdmEnv:
    """The run's environment for this process, started on first use; a start failure is remembered."""
    cached = config.stash.get(ENV_KEY, None)
    if isinstance(cached, ZdmEnv):
        return cached
    if isinstance(cached, ZdmError):
        raise cached
    ctx = config.stash[RUN_KEY]
    try:
        if ctx.attached:
            env = attach_running(Path(ctx.run_dir), config.stash[SETTINGS_KEY])
        else:
            env = start_or_attach(
                Path(ctx.run_dir),
                config.stash[SETTINGS_KEY],
                plan=ctx.plan,
                owner_pid=ctx.owner_pid,
                progress=_emitter(config),
            )
    except ZdmError as exc:
        config.stash[ENV_KEY] = exc
        raise
    config.stash[ENV_KEY] = env
    redact.register(*(c.password for c in env.credentials.values()))
    baseline = ctx.baseline_path
    if not baseline.exists():
        with disruption.hold(Path(ctx.run_dir) / "baseline.lock", exclusive=True):
            if not baseline.exists():
                stability.save(stability.take_baseline(env), baseline)
    return env


def _uses_env(item: pytest.Item) -> bool:
    return "zdm_env" in getattr(item, "fixturenames", ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Hold the run's disruption lock around a check: exclusive for destructive ones, shared otherwise."""
    if not _uses_env(item):
        return (yield)
    ctx = item.config.stash[RUN_KEY]
    destructive = item.get_closest_marker("zdm_destructive") is not None
    with disruption.hold(Path(ctx.run_dir) / "disruption.lock", exclusive=destructive):
        _catch_up_with_disruptions(item.config, ctx.baseline_path)
        result = yield
        if destructive:
            _wait_sessions_back(item.config)
            env = item.config.stash.get(ENV_KEY, None)
            if isinstance(env, ZdmEnv):
                stability.save(stability.take_baseline(env), ctx.baseline_path)
                item.config.stash[SEEN_BASELINE_KEY] = ctx.baseline_path.stat().st_mtime_ns
        return result


def _catch_up_with_disruptions(config: pytest.Config, baseline: Path) -> None:
    """If another process ran a destructive check since this one last looked, let its sessions reconnect."""
    try:
        stamp = baseline.stat().st_mtime_ns
    except FileNotFoundError:
        return
    seen = config.stash.get(SEEN_BASELINE_KEY, None)
    config.stash[SEEN_BASELINE_KEY] = stamp
    if seen is not None and seen != stamp:
        _wait_sessions_back(config)


def _wait_sessions_back(config: pytest.Config, timeout: float = 120.0) -> None:
    """After a destructive check, wait until the run's shared sessions answer again.

    They reconnect by themselves every second; waiting here keeps the next check from starting against a
    half-recovered environment.
    """
    deadline = time.monotonic() + timeout
    for session in config.stash.get(SESSIONS_KEY, []):
        while time.monotonic() < deadline:
            try:
                session.execute("SELECT release_version FROM system.local", timeout=5)
                break
            except Exception:  # the driver raises many types while reconnecting
                time.sleep(0.5)


def destructive_refusal(target: str, settings: Settings) -> str | None:
    """Why a destructive check may not run on ``target`` (None when it may).

    Only targets whose environment exists for the run alone (``local``) are disposable; on the others
    (``kind``, ``kube``: someone's deployment) stopping nodes or restarting the proxy needs the opt-in.
    """
    if target_class(target).disposable or settings.zdm_allow_destructive:
        return None
    return (
        f"destructive check: target {target!r} is not disposable; run it with "
        "--zdm-allow-destructive if stopping nodes and restarting the proxy there is acceptable"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip destructive checks where not allowed, and stable-proxy checks when the proxy is not stable."""
    destructive = item.get_closest_marker("zdm_destructive") is not None
    stable = item.get_closest_marker("zdm_stable_proxy") is not None
    if not (destructive or stable):
        return
    settings = item.config.stash[SETTINGS_KEY]
    try:
        env = environment(item.config)
    except ZdmError:
        return  # the zdm_env fixture reports the start-up failure as the check's error
    if destructive:
        refusal = destructive_refusal(env.target, settings)
        if refusal:
            pytest.skip(refusal)
    if stable:
        baseline = stability.load(item.config.stash[RUN_KEY].baseline_path)
        if baseline is not None:
            reasons = stability.evidence(env, baseline)
            if reasons:
                pytest.skip("proxy unstable: " + "; ".join(reasons))


class UnsupportedControlSkip:
    """A check that asks the target for a control it cannot carry out is skipped, with that as the reason.

    E.g. reading the proxy's log on a ``static`` target, or stopping a node there with
    ``--zdm-allow-destructive``: the check cannot run there, which says nothing about the migration.
    Registered as its own plugin object so both setup (fixtures) and the call are covered.
    """

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        """Fixtures that need an unsupported control."""
        del item
        try:
            return (yield)
        except UnsupportedControl as exc:
            pytest.skip(f"{exc}: the check cannot run on this target")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        """The check itself."""
        del item
        try:
            return (yield)
        except UnsupportedControl as exc:
            pytest.skip(f"{exc}: the check cannot run on this target")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say what was verified, what environment the run used, and whether it is still running."""
    ctx = config.stash.get(RUN_KEY, None)
    if ctx is None or not ctx.controller:
        return
    run_dir = Path(ctx.run_dir)
    env_file = run_dir / "env.json"
    summary = config.stash.get(SUMMARY_KEY, None)
    if summary is not None and (env_file.exists() or (run_dir / "failed.txt").exists()):
        summary.write(terminalreporter)
    if not env_file.exists():
        if (run_dir / "failed.txt").exists():
            terminalreporter.section("zdm environment")
            first = (run_dir / "failed.txt").read_text().splitlines()[0]
            terminalreporter.write_line(f"did not start: {first} (logs in {run_dir})")
        return
    info = EnvironmentInfo.from_json(json.loads(env_file.read_text()))
    settings = config.stash[SETTINGS_KEY]
    terminalreporter.section("zdm environment")
    for line in info.describe():
        terminalreporter.write_line(line)
    if not target_class(info.target).owns_environment:
        terminalreporter.write_line(
            f"reached at fixed endpoints: nothing was started or stopped; run dir {run_dir}"
        )
    elif ctx.attached:
        terminalreporter.write_line(f"attached (--zdm-attach): left running; logs in {run_dir}")
    elif settings.zdm_keep:
        terminalreporter.write_line(
            f"left running (--zdm-keep); logs in {run_dir}; stop it with: zdm-verify down {run_dir}"
        )
    else:
        terminalreporter.write_line(f"stopped at the end of the run; logs kept in {run_dir}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Controller only: stop the environment exactly once (unless --zdm-keep)."""
    ctx = config.stash.get(RUN_KEY, None)
    settings = config.stash.get(SETTINGS_KEY, None)
    if ctx is None or settings is None or not ctx.controller or settings.zdm_keep or ctx.attached:
        return
    stop_environment(Path(ctx.run_dir))


def _prune_old_runs(base: Path) -> None:
    """Keep the newest run directories; older ones (only those this framework made) are removed."""
    if not base.is_dir():
        return
    runs = sorted(p for p in base.iterdir() if (p / "request.json").exists() and (p / "stopped").exists())
    for old in runs[:-_KEEP_RUN_DIRS]:
        shutil.rmtree(old, ignore_errors=True)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zdm_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def zdm_artifacts(pytestconfig: pytest.Config) -> Path:
    """Directory for evidence files of this run (mismatch reports...): ``reports/<run id>/``."""
    path = Path(str(pytestconfig.rootpath)) / "reports" / pytestconfig.stash[RUN_KEY].run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def zdm_env(pytestconfig: pytest.Config) -> ZdmEnv:
    """The started environment (endpoints, credentials, versions, controls), shared by all workers."""
    try:
        return environment(pytestconfig)
    except ZdmError as exc:
        pytest.fail(f"zdm environment unavailable: {exc}", pytrace=False)


def _session(config: pytest.Config, env: ZdmEnv, cluster: str) -> Iterator[Any]:
    client = env.connect(cluster)
    sessions = config.stash.setdefault(SESSIONS_KEY, [])
    sessions.append(client.session)
    try:
        yield client.session
    finally:
        sessions.remove(client.session)
        client.close()


@pytest.fixture(scope="session")
def origin_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session straight to the origin cluster."""
    yield from _session(pytestconfig, zdm_env, "origin")


@pytest.fixture(scope="session")
def target_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session straight to the target cluster."""
    yield from _session(pytestconfig, zdm_env, "target")


@pytest.fixture(scope="session")
def proxy_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session through zdm-proxy (what the application uses)."""
    yield from _session(pytestconfig, zdm_env, "proxy")


@pytest.fixture(scope="session")
def zdm_keyspace(
    pytestconfig: pytest.Config, proxy_session: Any, origin_session: Any, target_session: Any
) -> Iterator[str]:
    """A keyspace unique to this run (and worker), created through the proxy, dropped at the end."""
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    name = keyspaces.run_keyspace_name(pytestconfig.stash[RUN_KEY].run_id, worker)
    keyspaces.create(proxy_session, name)
    keyspaces.wait_exists({"origin": origin_session, "target": target_session}, name)
    yield name
    # The last check may have just restarted the proxy or a node: give the session time to reconnect.
    deadline = time.monotonic() + 60
    while True:
        try:
            keyspaces.drop(proxy_session, name)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
