"""Performance: what the proxy costs in latency and errors under an application-like load, against budgets.

The same fixed-rate workload (client timestamps, fresh keys, 20% reads) runs straight to origin (the
reference, measured in the same window) and then through the proxy; latency is measured from each request's
intended start (coordinated omission corrected) into HDR histograms. Budgets come from settings
(``zdm_budget_*``). The measured figures, the proxy's metric deltas, the proxy's own latency per cluster
(estimated from the deltas of its histograms: which cluster made a slow write slow) and a
latency-by-percentile plot (PNG) are attached to each check's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.proxy.latency import BucketLatency, proxy_latencies, slower_cluster
from pytest_zdm.proxy.metrics import MetricsSnapshot, describe_delta, scrape
from pytest_zdm.workload import WorkloadResult, check_ledger, run_workload
from pytest_zdm.workload.ledger import ACKNOWLEDGED
from pytest_zdm.workload.plot import latency_by_percentile_png

pytestmark = [pytest.mark.zdm_required_for(3, 4, 5), pytest.mark.zdm_stable_proxy]


@dataclass
class Measured:
    """Both runs, the proxy's metric deltas during the proxy run, and where the plot is."""

    direct: WorkloadResult
    proxied: WorkloadResult
    metrics: MetricsSnapshot
    proxy_latency: dict[str, BucketLatency]
    plot: str

    @property
    def overhead(self) -> float:
        """p99 write latency through the proxy minus straight to origin, in ms."""
        return self.proxied.writes.p99 - self.direct.writes.p99

    def per_cluster(self) -> str:
        """The proxy's latency per cluster during the proxied run (estimated from its histograms)."""
        return "; ".join(str(v) for v in self.proxy_latency.values()) or "no request counted"

    def slower(self) -> str:
        """``slower cluster: target (...)`` when the proxy's histograms show one cluster clearly slower."""
        cluster = slower_cluster(self.proxy_latency)
        if cluster is None:
            return ""
        p99 = {c: self.proxy_latency[f"{c} writes"].percentiles[99.0] for c in ("origin", "target")}
        other = "origin" if cluster == "target" else "target"
        return (
            f"slower cluster: {cluster} (write p99 seen by the proxy {p99[cluster]:.0f} ms, "
            f"{other} {p99[other]:.0f} ms)"
        )


def _measure(
    zdm_env: Any, keyspace: Keyspace, proxy: Any, origin: Any, artifacts: Any, attempt: int
) -> Measured:
    """The workload straight to origin, then at once through the proxy: same count, rate and seed.

    Back to back, so both runs meet the same machine: the direct run is the reference for this window.
    """
    settings = zdm_env.settings
    options = {
        "count": settings.zdm_perf_operations,
        "rate": settings.zdm_perf_rate,
        "concurrency": 64,
        "seed": 11 + attempt,
    }
    suffix = "" if attempt == 1 else f"_{attempt}"
    direct_table = keyspace.table(f"perf_direct{suffix}")
    proxy.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.{direct_table} (k bigint PRIMARY KEY, v text)")
    direct = run_workload(origin, keyspace, table=direct_table, **options)
    before = scrape(zdm_env.info.proxy_http)
    proxied = run_workload(proxy, keyspace, table=keyspace.table(f"perf_proxy{suffix}"), **options)
    delta = scrape(zdm_env.info.proxy_http).delta(before)
    per_cluster = proxy_latencies(delta)
    plot = latency_by_percentile_png(
        {"through the proxy": proxied.write_histogram, "straight to origin": direct.write_histogram},
        artifacts / f"latency-writes{suffix}.png",
        f"write latency at {settings.zdm_perf_rate:.0f} ops/s (from the intended start)",
        estimates={
            f"{label} seen by the proxy (bucket estimate)": latency.percentiles
            for label, latency in per_cluster.items()
            if label in ("origin writes", "target writes")
        },
    )
    return Measured(direct, proxied, delta, per_cluster, str(plot))


@pytest.fixture(scope="module")
def measured(
    zdm_env: Any, zdm_keyspace: Keyspace, proxy_session: Any, origin_session: Any, zdm_artifacts: Any
) -> Measured:
    """The first measurement, shared by the checks (the p99 check may take a second one)."""
    return _measure(zdm_env, zdm_keyspace, proxy_session, origin_session, zdm_artifacts, attempt=1)


def _attach(evidence: Any, measured: Measured) -> None:
    evidence("latency_through_proxy", str(measured.proxied.writes))
    evidence("latency_straight_to_origin", str(measured.direct.writes))
    evidence("proxy_latency_by_cluster", measured.per_cluster())
    if measured.slower():
        evidence("proxy_slower_cluster", measured.slower())
    evidence("latency_plot", measured.plot)
    counted = describe_delta(measured.metrics) or ["the proxy counted nothing during the proxied run"]
    evidence("proxy_metrics_delta", "\n".join(counted))


def test_p99_latency_overhead_of_the_proxy_is_within_budget(
    zdm_env, zdm_keyspace, proxy_session, origin_session, zdm_artifacts, measured, evidence
):
    """p99 write latency through the proxy exceeds the direct p99 by no more than the budget.

    A measurement over budget is repeated once before the check fails: a busy machine (another job on the
    CI runner) can stall one window, a proxy that adds latency does so in both. The smaller overhead of
    the two is judged, and both are attached.
    """
    _attach(evidence, measured)
    budget = zdm_env.settings.zdm_budget_p99_overhead_ms
    attempts = [measured]
    if measured.overhead > budget:
        again = _measure(zdm_env, zdm_keyspace, proxy_session, origin_session, zdm_artifacts, attempt=2)
        evidence("latency_through_proxy_repeat", str(again.proxied.writes))
        evidence("latency_straight_to_origin_repeat", str(again.direct.writes))
        evidence("latency_plot_repeat", again.plot)
        attempts.append(again)
    best = min(attempts, key=lambda m: m.overhead)
    slower = f"; {best.slower()}" if best.slower() else ""  # early: junit cuts long messages
    repeated = f" in both of {len(attempts)} measurements" if len(attempts) > 1 else ""
    assert best.overhead <= budget, (
        f"p99 overhead {best.overhead:.2f} ms > budget {budget:.2f} ms{repeated}{slower} "
        f"(through the proxy: {best.proxied.writes}; straight to origin: {best.direct.writes}; "
        f"the proxy's own latency: {best.per_cluster()}; plot {best.plot})"
    )


def test_error_rate_is_within_budget(zdm_env, measured, evidence):
    """The share of the workload's requests that failed or timed out at the client is within the budget."""
    _attach(evidence, measured)
    result = measured.proxied
    failed_writes = len(result.ledger.entries) - result.ledger.count(ACKNOWLEDGED)
    total = len(result.ledger.entries) + result.reads.count + result.reads_failed
    rate = (failed_writes + result.reads_failed) / total if total else 1.0
    budget = zdm_env.settings.zdm_budget_error_rate
    assert rate <= budget, (
        f"{failed_writes} writes and {result.reads_failed} reads of {total} failed: {rate:.4f} > {budget}"
    )


def test_proxy_counted_no_failed_or_timed_out_request(measured, evidence):
    """During the run the proxy counted no failed write or read and no cluster timing out."""
    _attach(evidence, measured)
    failed = {
        k: v
        for k, v in measured.metrics.nonzero().items()
        if v > 0 and (k.startswith("zdm_proxy_failed") or "requests_failed_total" in k)
    }
    assert not failed, f"proxy metrics during the workload: {failed}"


def test_every_acknowledged_write_is_on_both_clusters(zdm_keyspace, measured, origin_session, target_session):
    """The ledger of the proxied run: each acknowledged write is on origin AND target with its value."""
    report = check_ledger(
        measured.proxied.ledger,
        origin_session,
        target_session,
        zdm_keyspace,
        table=zdm_keyspace.table("perf_proxy"),
    )
    assert report.ok, report.summary() + ": " + "; ".join(report.lost[:5])
