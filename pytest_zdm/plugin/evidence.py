"""Evidence on every check's Allure result: what the proxy counted while it ran, log tails when it failed.

A reviewer opening a check needs to see that it exercised the proxy (requests by type, mean latency, the
failures the proxy counted, or that it counted none), not an empty ``{}``. The proxy's metrics are scraped
before and after each check that uses the environment; under pytest-xdist, checks running at the same time
in other workers share the proxy, and the attachment says so. Only with ``--alluredir``: without Allure
nothing is scraped.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_zdm.environment import ZdmEnv
from pytest_zdm.errors import ZdmError
from pytest_zdm.plugin.markers import uses_env
from pytest_zdm.plugin.run import ENV_KEY
from pytest_zdm.proxy.metrics import MetricsSnapshot, describe_delta, scrape
from pytest_zdm.report import allure as allure_results

METRICS_ATTACHMENT = "proxy metrics during this check"


def _env(item: pytest.Item) -> ZdmEnv | None:
    if not uses_env(item) or allure_results.alluredir(item.config) is None:
        return None
    env = item.config.stash.get(ENV_KEY, None)
    return env if isinstance(env, ZdmEnv) else None


def _scrape(env: ZdmEnv) -> MetricsSnapshot | str:
    try:
        return scrape(env.info.proxy_http, timeout=3.0)
    except ZdmError as exc:
        return str(exc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Scrape the proxy's metrics around the check's body and attach what changed."""
    env = _env(item)
    if env is None:
        return (yield)
    before = _scrape(env)
    try:
        return (yield)
    finally:
        after = _scrape(env)
        allure_results.attach_text("\n".join(metrics_evidence(env, item, before, after)), METRICS_ATTACHMENT)


def metrics_evidence(
    env: ZdmEnv, item: pytest.Item, before: MetricsSnapshot | str, after: MetricsSnapshot | str
) -> list[str]:
    """The attachment's lines: where and when it was measured, then what changed (or why nothing is known)."""
    workers = getattr(item.config, "workerinput", {}).get("workercount")
    shared = (
        f"; checks running at the same time in the other {int(workers) - 1} xdist worker(s) share the proxy"
        if workers and int(workers) > 1
        else ""
    )
    head = [f"{env.info.proxy_http}/metrics scraped before and after the check's body{shared}"]
    if isinstance(before, str) or isinstance(after, str):
        return [*head, f"not measured: {before if isinstance(before, str) else after}"]
    lines = describe_delta(after.delta(before))
    return [*head, *(lines or ["no proxy metric changed: the check sent nothing through the proxy"])]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failed check that used the environment, attach the proxy's and nodes' log tails for Allure."""
    report = yield
    if report.failed:
        env = _env(item)
        if env is not None:
            allure_results.attach_log_tails(env.info.logs)
    return report
