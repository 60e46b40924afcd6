"""The markers and what they do.

Destructive checks run alone and only where allowed; stable-proxy checks are skipped with the evidence
when the proxy is not stable; a check that needs a control the target lacks is skipped with that reason.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm.environment import ZdmEnv
from pytest_zdm.errors import UnsupportedControl, ZdmError
from pytest_zdm.gate.verdict import needs_of, older_than
from pytest_zdm.model import Capability
from pytest_zdm.plugin import disruption, stability
from pytest_zdm.plugin.run import ENV_KEY, RUN_KEY, SEEN_BASELINE_KEY, SESSIONS_KEY, SETTINGS_KEY, environment
from pytest_zdm.runtime.wait import poll
from pytest_zdm.settings import Settings
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import REHEARSAL_HINT

MARKERS = {
    "zdm_stable_proxy": "zdm_stable_proxy: the check needs a stable proxy; it is skipped, with the evidence "
    "as reason, when readiness is not UP, the proxy restarted or connections failed since the session began",
    "zdm_destructive": "zdm_destructive: the check stops/pauses nodes or restarts the proxy; it runs alone "
    "(no other check runs meanwhile) and only on disposable targets or with --zdm-allow-destructive",
    "zdm_required_for": "zdm_required_for(*phases, when_proxy_phase=()): the check must pass before entering "
    "these ZDM phases (1 deploy proxy, 2 migrate data, 3 async dual reads, 4 reads on target, 5 clients on "
    "target); with when_proxy_phase, only while the proxy runs with one of those phases' configuration",
    "zdm_needs": "zdm_needs(*capabilities): what the check needs of the target beyond CQL (proxy_settings, "
    "proxy_log, proxy_status, node_control, proxy_control); where the target lacks one, the check is not "
    "verifiable there and is skipped with the capability and how to provide it",
    "zdm_requires_cassandra": "zdm_requires_cassandra(line): the check uses what exists only from this "
    "Cassandra line on (e.g. '5.0' for vector columns); where a cluster runs an older release it is skipped "
    "as not applicable, and the gate does not require it there",
}


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers; skip checks that need a control the target lacks."""
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(UnsupportedControlSkip(), "zdm-unsupported-control-skip")


def uses_env(item: pytest.Item) -> bool:
    """Whether the check uses the environment (directly or through a fixture)."""
    return "zdm_env" in getattr(item, "fixturenames", ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Hold the run's disruption lock around a check: exclusive for destructive ones, shared otherwise."""
    if not uses_env(item):
        return (yield)
    ctx = item.config.stash[RUN_KEY]
    destructive = item.get_closest_marker("zdm_destructive") is not None
    with disruption.hold(Path(ctx.run_dir) / "disruption.lock", exclusive=destructive):
        _catch_up_with_disruptions(item, ctx.baseline_path)
        result = yield
        if destructive:
            _wait_sessions_back(item)
            env = item.config.stash.get(ENV_KEY, None)
            if isinstance(env, ZdmEnv):
                try:
                    baseline = stability.take_baseline(env)
                except ZdmError as exc:  # the environment itself is gone (its supervisor killed, ...)
                    _warn(item, f"after a destructive check: {exc}")
                else:
                    stability.save(baseline, ctx.baseline_path)
                    item.config.stash[SEEN_BASELINE_KEY] = ctx.baseline_path.stat().st_mtime_ns
        return result


def _catch_up_with_disruptions(item: pytest.Item, baseline: Path) -> None:
    """If another process ran a destructive check since this one last looked, let its sessions reconnect."""
    config = item.config
    try:
        stamp = baseline.stat().st_mtime_ns
    except FileNotFoundError:
        return
    seen = config.stash.get(SEEN_BASELINE_KEY, None)
    config.stash[SEEN_BASELINE_KEY] = stamp
    if seen is not None and seen != stamp:
        _wait_sessions_back(item)


class EnvironmentNotBack(pytest.PytestWarning):
    """After a destructive check, the environment (or a shared session to it) did not answer again.

    The checks after it then fail with what the driver or the controls say; this names the check after
    which that began.
    """


def _wait_sessions_back(item: pytest.Item) -> None:
    """After a destructive check, wait until the run's shared sessions answer again.

    They reconnect by themselves every second; waiting here keeps the next check from starting against a
    half-recovered environment. One that does not answer in time is a warning recorded on the check just
    run (pytest's warnings summary, xdist workers' included): the checks after it that use the session
    then fail with the driver's "no host available", and the warning says where that came from.
    """
    timeout = item.config.stash[SETTINGS_KEY].zdm_startup_timeout
    deadline = time.monotonic() + timeout
    for name, session in list(item.config.stash.get(SESSIONS_KEY, {}).items()):
        if not poll_answers(session, timeout=deadline - time.monotonic()):
            _warn(
                item,
                f"the run's shared {name} session did not answer within {timeout:.0f}s after a destructive "
                f"check; checks after it that use the {name} session may fail for that",
            )


def _warn(item: pytest.Item, message: str) -> None:
    """An :class:`EnvironmentNotBack` warning located at ``item`` (not at this module's line)."""
    path, line, _ = item.location
    warnings.warn_explicit(EnvironmentNotBack(message), EnvironmentNotBack, path, (line or 0) + 1)


def poll_answers(session: Any, *, timeout: float) -> bool:
    """Whether ``session`` answers a query within ``timeout`` (it reconnects by itself meanwhile)."""

    def answers() -> bool:
        try:
            session.execute("SELECT release_version FROM system.local", timeout=5)
        except Exception:  # the driver raises many types while reconnecting
            return False
        return True

    return poll(answers, timeout=timeout, interval=0.5)


def destructive_refusal(target: str, settings: Settings) -> str | None:
    """Why a destructive check may not run on ``target`` (None when it may).

    Only targets whose environment exists for the run alone (``local``) are disposable; on the others
    (``kind``, ``kube``: someone's deployment) stopping nodes or restarting the proxy needs the opt-in.
    """
    if target_class(target).disposable or settings.zdm_allow_destructive:
        return None
    return (
        f"destructive check: target {target!r} is not disposable; run it with --zdm-allow-destructive if "
        f"stopping nodes and restarting the proxy there is acceptable, or {REHEARSAL_HINT}"
    )


def not_verifiable(target: str, missing: frozenset[Capability]) -> str:
    """Why a check cannot run on ``target``: each missing capability and how a user provides it."""
    cls = target_class(target)
    parts = [f"needs {c.value} ({c.description}): {cls.how_to_provide(c)}" for c in sorted(missing)]
    return f"not verifiable on target {target}: " + "; ".join(parts)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip the checks that cannot run here, with the reason.

    Destructive checks where not allowed, checks needing what the target lacks (with what they need),
    stable-proxy checks when the proxy is not stable, and checks that need a newer Cassandra than a
    cluster runs (not applicable: the gate does not require them).
    """
    destructive = item.get_closest_marker("zdm_destructive") is not None
    stable = item.get_closest_marker("zdm_stable_proxy") is not None
    needs = needs_of(item)
    requires = item.get_closest_marker("zdm_requires_cassandra")
    if not (destructive or stable or needs or requires):
        return
    settings = item.config.stash[SETTINGS_KEY]
    try:
        env = environment(item.config)
    except ZdmError:
        return  # the zdm_env fixture reports the start-up failure as the check's error
    if requires is not None:
        releases = {c: str(env.info.versions[c]) for c in ("origin", "target") if env.info.versions.get(c)}
        older = older_than(str(requires.args[0]), releases)
        if older:
            pytest.skip(f"not applicable: needs Cassandra {requires.args[0]} on both clusters; {older}")
    if destructive:
        refusal = destructive_refusal(env.target, settings)
        if refusal:
            pytest.skip(refusal)
    missing = needs - {Capability(c) for c in env.info.capabilities}
    if missing:
        pytest.skip(not_verifiable(env.target, frozenset(missing)))
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
