"""Performance: what the proxy costs in latency and errors under an application-like load, against budgets.

A fixed-rate workload (client timestamps, fresh keys, 20% reads) runs through the proxy and, at the same
moments, straight to origin AND target in parallel (each write done when both clusters acknowledged it),
the two streams interleaved request by request (:func:`pytest_zdm.workload.paired.run_paired`). The second
stream is the fair reference for a proxy that waits for both clusters, and both meet the same machine: a
busy CI runner slows both alike instead of deciding the verdict. Latency is measured from each request's
intended start (coordinated omission corrected) into HDR histograms, after 100 unmeasured writes per stream
that warm the new tables up (:meth:`~pytest_zdm.workload.paired.PairedWorkload.warm_up`; what they met is
attached). Two budgets are judged:

- the proxy's own p99 overhead: through the proxy minus writing to both clusters directly;
- the migration's p99 cost to the application: through the proxy minus origin alone (what the application
  had before), which includes waiting for the target: a slow or stalling target shows here, named.

The measured figures, the proxy's metric deltas, the proxy's own latency per cluster (estimated from its
histograms) and a latency-by-percentile plot (PNG) are attached to each check's result. A budget check that
is over is measured once more before it fails (one stalled window is not a verdict; a proxy or a target
that adds latency does so in both); a measurement with too few writes is not a verdict either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.proxy.latency import BucketLatency, proxy_latencies, slower_cluster
from pytest_zdm.proxy.metrics import MetricsSnapshot, describe_delta, scrape
from pytest_zdm.workload import check_ledger
from pytest_zdm.workload.ledger import ACKNOWLEDGED
from pytest_zdm.workload.paired import PairedResult, PairedWorkload, WarmUp
from pytest_zdm.workload.plot import latency_by_percentile_png

pytestmark = [pytest.mark.zdm_required_for(3, 4, 5), pytest.mark.zdm_stable_proxy]
#: Fewer writes than this and a p99 is a handful of samples: not a verdict (zdm_perf_operations).
MIN_WRITES_FOR_P99 = 1000


@dataclass
class Measured:
    """Both streams, the proxy's metric deltas during them, where the plot is, and what the warm-up met."""

    paired: PairedResult
    metrics: MetricsSnapshot
    proxy_latency: dict[str, BucketLatency]
    plot: str
    warm_up: WarmUp

    @property
    def proxied(self) -> Any:
        """The stream through the proxy."""
        return self.paired.proxied

    @property
    def direct(self) -> Any:
        """The reference stream: each write to both clusters straight."""
        return self.paired.direct

    @property
    def overhead(self) -> float:
        """The proxy's own cost: p99 write latency through the proxy minus writing to both directly, ms."""
        return self.paired.proxy_overhead_ms

    @property
    def migration_cost(self) -> float:
        """What the application pays: p99 through the proxy minus straight to origin alone, ms."""
        return self.paired.migration_cost_ms

    def writes_measured(self) -> int:
        """The fewer writes of the two streams (a p99 needs enough of both)."""
        return min(self.proxied.writes.count, self.direct.both.count)

    def per_cluster(self) -> str:
        """The proxy's latency per cluster during the run (estimated from its histograms)."""
        return "; ".join(str(v) for v in self.proxy_latency.values()) or "no request counted"

    def slower(self) -> str:
        """``slower cluster: target (...)`` when one cluster is clearly slower (directly, or to the proxy)."""
        o, t = self.direct.origin.p99, self.direct.target.p99
        seen = {"origin": o, "target": t}
        cluster = None
        if max(o, t) >= 2 * min(o, t) and abs(t - o) >= 100:  # what the clients saw of each cluster
            cluster = "target" if t > o else "origin"
        cluster = cluster or slower_cluster(self.proxy_latency)
        if cluster is None:
            return ""
        other = "origin" if cluster == "target" else "target"
        return (
            f"slower cluster: {cluster} (write p99 straight to it {seen[cluster]:.0f} ms, "
            f"{other} {seen[other]:.0f} ms)"
        )

    def figures(self) -> str:
        """Every p99 the verdicts use, for messages."""
        return (
            f"through the proxy: {self.proxied.writes}; to both clusters directly: {self.direct.both}; "
            f"origin alone: {self.direct.origin}; target alone: {self.direct.target}; "
            f"the client's own stalls: {self.paired.client_stalls}"
        )


def _measure(
    zdm_env: Any, keyspace: Keyspace, sessions: dict[str, Any], artifacts: Any, attempt: int
) -> Measured:
    """Both streams side by side (same count, rate and seed), the proxy's metrics around them."""
    settings = zdm_env.settings
    suffix = "" if attempt == 1 else f"_{attempt}"
    primary = "target" if settings.zdm_primary_cluster == "TARGET" else "origin"
    workload = PairedWorkload(
        sessions["proxy"],
        sessions["origin"],
        sessions["target"],
        keyspace,
        proxy_table=keyspace.table(f"perf_proxy{suffix}"),
        direct_table=keyspace.table(f"perf_direct{suffix}"),
        primary=primary,
        seed=11 + attempt,
        timeout=settings.zdm_request_timeout,
    )
    warm_up = workload.warm_up()  # before the metrics are read: the proxy's counts are the measurement's
    before = scrape(zdm_env.info.proxy_http)
    paired = workload.run(count=settings.zdm_perf_operations, rate=settings.zdm_perf_rate)
    delta = scrape(zdm_env.info.proxy_http).delta(before)
    per_cluster = proxy_latencies(delta)
    plot = latency_by_percentile_png(
        {
            "through the proxy": paired.proxied.write_histogram,
            "to origin and target directly": paired.direct.both_histogram,
        },
        artifacts / f"latency-writes{suffix}.png",
        f"write latency at {settings.zdm_perf_rate:.0f} ops/s each (from the intended start)",
        estimates={
            f"{label} seen by the proxy (bucket estimate)": latency.percentiles
            for label, latency in per_cluster.items()
            if label in ("origin writes", "target writes")
        },
    )
    return Measured(paired, delta, per_cluster, str(plot), warm_up)


@pytest.fixture(scope="module")
def sessions(proxy_session: Any, origin_session: Any, target_session: Any) -> dict[str, Any]:
    """The three sessions the measurement drives."""
    return {"proxy": proxy_session, "origin": origin_session, "target": target_session}


@pytest.fixture(scope="module")
def measured(zdm_env: Any, zdm_keyspace: Keyspace, sessions: dict[str, Any], zdm_artifacts: Any) -> Measured:
    """The first measurement, shared by the checks (a budget check may take a second one)."""
    return _measure(zdm_env, zdm_keyspace, sessions, zdm_artifacts, attempt=1)


@pytest.fixture(scope="module")
def measure_again(
    zdm_env: Any, zdm_keyspace: Keyspace, sessions: dict[str, Any], zdm_artifacts: Any
) -> Callable[[], Measured]:
    """A second measurement, taken at most once for the module, when a budget check is over."""
    taken: list[Measured] = []

    def again() -> Measured:
        if not taken:
            taken.append(_measure(zdm_env, zdm_keyspace, sessions, zdm_artifacts, attempt=2))
        return taken[0]

    return again


def _attach(evidence: Any, measured: Measured, suffix: str = "") -> None:
    evidence(f"latency_through_proxy{suffix}", str(measured.proxied.writes))
    evidence(f"latency_to_both_clusters_directly{suffix}", str(measured.direct.both))
    evidence(f"latency_origin_alone{suffix}", str(measured.direct.origin))
    evidence(f"latency_target_alone{suffix}", str(measured.direct.target))
    evidence(f"client_stalls{suffix}", str(measured.paired.client_stalls))
    evidence(f"warm_up{suffix}", str(measured.warm_up))
    evidence(f"proxy_latency_by_cluster{suffix}", measured.per_cluster())
    if measured.slower():
        evidence(f"slower_cluster{suffix}", measured.slower())
    evidence(f"latency_plot{suffix}", measured.plot)
    counted = describe_delta(measured.metrics) or ["the proxy counted nothing during the proxied run"]
    evidence(f"proxy_metrics_delta{suffix}", "\n".join(counted))


def _judge(
    measured: Measured,
    measure_again: Callable[[], Measured],
    evidence: Any,
    value: Callable[[Measured], float],
    budget: float,
    what: str,
) -> None:
    """``value`` within ``budget``, measured again once before failing; too few writes: not a verdict."""
    _attach(evidence, measured)
    attempts = [measured]
    if value(measured) > budget:
        again = measure_again()
        _attach(evidence, again, "_repeat")
        attempts.append(again)
    for attempt in attempts:
        if attempt.writes_measured() == 0:
            pytest.fail(f"{what}: measured nothing (0 writes completed): {attempt.figures()}", pytrace=False)
    best = min(attempts, key=value)
    if best.writes_measured() < MIN_WRITES_FOR_P99:
        pytest.skip(
            f"not verified: {what} from {best.writes_measured()} writes; a p99 needs at least "
            f"{MIN_WRITES_FOR_P99} (raise zdm_perf_operations)"
        )
    slower = f"; {best.slower()}" if best.slower() else ""  # early: junit cuts long messages
    repeated = f" in both of {len(attempts)} measurements" if len(attempts) > 1 else ""
    assert value(best) <= budget, (
        f"{what} {value(best):.2f} ms > budget {budget:.2f} ms{repeated}{slower} ({best.figures()}; "
        f"the proxy's own latency: {best.per_cluster()}; plot {best.plot})"
    )


def test_p99_latency_overhead_of_the_proxy_is_within_budget(zdm_env, measured, measure_again, evidence):
    """The proxy's own cost: p99 write latency through it exceeds writing to both clusters directly by no more
    than the budget (``zdm_budget_p99_overhead_ms``), both measured side by side."""
    budget = zdm_env.settings.zdm_budget_p99_overhead_ms
    _judge(measured, measure_again, evidence, lambda m: m.overhead, budget, "the proxy's p99 overhead")


def test_p99_write_latency_cost_of_the_migration_is_within_budget(zdm_env, measured, measure_again, evidence):
    """What the application pays during the migration: p99 write latency through the proxy exceeds origin
    alone by no more than the budget (``zdm_budget_p99_migration_ms``); a slow target shows here, named."""
    budget = zdm_env.settings.zdm_budget_p99_migration_ms
    _judge(measured, measure_again, evidence, lambda m: m.migration_cost, budget, "the migration's p99 cost")


def test_error_rate_is_within_budget(zdm_env, measured, evidence):
    """The share of the workload's requests that failed or timed out at the client is within the budget."""
    _attach(evidence, measured)
    result = measured.proxied
    failed_writes = len(result.ledger.entries) - result.ledger.count(ACKNOWLEDGED)
    total = len(result.ledger.entries) + result.reads.count + result.reads_failed
    if total == 0:
        pytest.fail("the workload sent no request through the proxy: nothing was measured", pytrace=False)
    rate = (failed_writes + result.reads_failed) / total
    budget = zdm_env.settings.zdm_budget_error_rate
    assert rate <= budget, (
        f"{failed_writes} writes and {result.reads_failed} reads of {total} failed: {rate:.4f} > {budget}"
    )


def test_proxy_counted_no_failed_or_timed_out_request(measured, evidence):
    """During the run the proxy counted no failed write or read and no cluster timing out."""
    _attach(evidence, measured)
    if measured.proxied.operations == 0:
        pytest.fail(
            "the workload completed no request through the proxy: nothing was measured", pytrace=False
        )
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
    if report.acknowledged == 0:
        pytest.fail(f"no write was acknowledged through the proxy: nothing to check ({report.summary()})",
                    pytrace=False)  # fmt: skip
    assert report.ok, report.summary() + ": " + "; ".join(report.lost[:5])
