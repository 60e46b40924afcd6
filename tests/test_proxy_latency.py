"""Per-cluster latency from the deltas of the proxy's Prometheus histograms.

Known inputs are observed into prometheus_client histograms with the proxy's default buckets and exposed
as real Prometheus text, which is parsed the way the proxy's ``/metrics`` is. The integration test hangs
the target node during a workload through a real zdm-proxy: the target's estimate must show it, origin's
must not.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from pytest_zdm.proxy.health import busy_machine_allowance, down_within
from pytest_zdm.proxy.latency import (
    BucketLatency,
    histogram_latency,
    proxy_latencies,
    quantile,
    slower_cluster,
)
from pytest_zdm.proxy.metrics import parse, scrape
from pytest_zdm.workload import run_workload

# zdm-proxy's default ZDM_METRICS_*_LATENCY_BUCKETS_MS, in seconds
BUCKETS = (0.001, 0.004, 0.007, 0.01, 0.025, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 15)


class FakeProxyMetrics:
    """The proxy's request-duration histograms, filled with chosen latencies, exposed as Prometheus text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.histograms = {
            side: Histogram(
                f"zdm_{side}_request_duration_seconds",
                "latency",
                ["node", "type"] if side != "proxy" else ["type"],
                buckets=BUCKETS,
                registry=self.registry,
            )
            for side in ("proxy", "origin", "target")
        }

    def observe(self, side: str, kind: str, seconds: list[float], node: str = "127.0.0.1:9042") -> None:
        labels = {"type": kind} if side == "proxy" else {"node": node, "type": kind}
        child = self.histograms[side].labels(**labels)
        for s in seconds:
            child.observe(s)

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def uniform(n: int, top: float) -> list[float]:
    """n latencies evenly spread over (0, top) seconds (bucket midpoints: none on a bucket bound)."""
    return [top * (i + 0.5) / n for i in range(n)]


def test_percentiles_and_mean_of_known_inputs():
    metrics = FakeProxyMetrics()
    metrics.observe("origin", "writes", [0.5] * 7)  # before the interval: must not count
    before = parse(metrics.text())
    metrics.observe("origin", "writes", uniform(1000, 0.010))  # 1,000 writes spread over 0..10 ms
    delta = parse(metrics.text()).delta(before)
    latency = histogram_latency(delta, "zdm_origin_request_duration_seconds", "origin writes", type="writes")
    assert latency is not None and latency.count == 1000
    assert latency.mean == pytest.approx(5.0, rel=1e-6)  # sum / count: exact
    # inside the 4-7 ms and 7-10 ms buckets, linear interpolation recovers a uniform distribution
    assert latency.percentiles == pytest.approx({50.0: 5.0, 90.0: 9.0, 99.0: 9.9}, rel=1e-6)
    assert not latency.overflow
    assert str(latency) == "origin writes: n=1000 mean=5.00ms p50=5.0ms p90=9.0ms p99=9.9ms"


def test_nodes_of_a_cluster_are_summed_and_clusters_kept_apart():
    metrics = FakeProxyMetrics()
    before = parse(metrics.text())
    metrics.observe("target", "writes", [0.002] * 50, node="127.0.0.1:1")
    metrics.observe("target", "writes", [0.002] * 40 + [0.2] * 10, node="127.0.0.2:1")
    metrics.observe("origin", "writes", [0.002] * 100)
    metrics.observe("proxy", "writes", [0.003] * 100)
    found = proxy_latencies(parse(metrics.text()).delta(before))
    assert list(found) == ["proxy writes", "origin writes", "target writes"]  # no reads: not reported
    target = found["target writes"]
    assert target.count == 100 and target.mean == pytest.approx((90 * 2 + 10 * 200) / 100)
    # rank 90 is the last of the 1-4 ms bucket; rank 99 lies in the 150-250 ms bucket (10 there)
    assert target.percentiles[90.0] == pytest.approx(4.0)
    assert target.percentiles[99.0] == pytest.approx(150 + 100 * 9 / 10)
    assert found["origin writes"].percentiles[99.0] < 4.0


def test_a_rank_beyond_the_last_bucket_is_a_lower_bound():
    metrics = FakeProxyMetrics()
    before = parse(metrics.text())
    metrics.observe("target", "writes", [0.001] * 95 + [20.0] * 5)  # 5 requests slower than 15 s
    latency = proxy_latencies(parse(metrics.text()).delta(before))["target writes"]
    assert latency.percentiles[99.0] == 15_000 and latency.overflow == {99.0}
    assert "p99=>15000.0ms" in str(latency)


def test_quantile_edge_cases():
    assert math.isnan(quantile([(0.001, 0), (math.inf, 0)], 0.5)[0])
    assert quantile([(0.001, 10), (math.inf, 10)], 1.0) == (0.001, False)
    with pytest.raises(ValueError, match="le=\\+Inf"):
        quantile([(0.001, 10)], 0.5)


def test_slower_cluster_is_named_only_when_clearly_slower():
    metrics = FakeProxyMetrics()
    before = parse(metrics.text())
    metrics.observe("origin", "writes", [0.002] * 100)
    metrics.observe("target", "writes", [0.002] * 100)
    even = proxy_latencies(parse(metrics.text()).delta(before))
    assert slower_cluster(even) is None
    metrics.observe("target", "writes", [1.8] * 5)  # a hung target: 5 writes waited ~1.8 s
    hung = proxy_latencies(parse(metrics.text()).delta(before))
    assert slower_cluster(hung) == "target"


@pytest.mark.integration
@pytest.mark.zdm_destructive
@pytest.mark.usefixtures("proxy_available")
def test_a_hung_target_shows_in_the_targets_latency_only(zdm_env, zdm_keyspace, proxy_session):
    """Real proxy: a healthy run, then a run with the target frozen 1.5 s; only target's p99 moves."""
    options = {"count": 400, "rate": 200, "concurrency": 32, "read_ratio": 0.0, "seed": 5}

    def healthy_run(table: str) -> dict[str, BucketLatency]:
        before = scrape(zdm_env.info.proxy_http)
        run_workload(proxy_session, zdm_keyspace, table=table, **options)
        return proxy_latencies(scrape(zdm_env.info.proxy_http).delta(before))

    # A busy machine can stall one cluster's JVM for a moment: a healthy run that shows a slower cluster
    # is measured once more (as the performance suite repeats a measurement over budget) before judging.
    healthy = healthy_run("healthy")
    if slower_cluster(healthy) is not None:
        healthy = healthy_run("healthy_again")

    def hang() -> None:
        time.sleep(0.5)
        zdm_env.pause_node("target")
        time.sleep(1.5)
        zdm_env.resume_node("target")

    before = scrape(zdm_env.info.proxy_http)
    thread = threading.Thread(target=hang)
    thread.start()
    try:
        run_workload(proxy_session, zdm_keyspace, table="hung", **options)
    finally:
        thread.join()
    hung = proxy_latencies(scrape(zdm_env.info.proxy_http).delta(before))

    shown = f"healthy: {[str(v) for v in healthy.values()]}; hung: {[str(v) for v in hung.values()]}"
    assert healthy["target writes"].percentiles[99.0] < 500, shown
    assert hung["target writes"].percentiles[99.0] >= 1000, shown
    assert hung["origin writes"].percentiles[99.0] < 500, shown
    assert hung["proxy writes"].percentiles[99.0] >= 1000, shown  # the proxy waits for both
    assert slower_cluster(healthy) is None and slower_cluster(hung) == "target", shown


def test_readiness_down_bound_follows_the_proxys_heartbeat_settings():
    # Defaults (zdm-proxy's config.go): one heartbeat every 30 s, DOWN after 1 failure, which takes at most
    # the control connection's write (5 s) and read (10 s) timeouts.
    assert down_within({}, "target") == 45.0
    fast = {
        "ZDM_HEARTBEAT_INTERVAL_MS": "2000",
        "ZDM_HEARTBEAT_FAILURE_THRESHOLD": "3",
        "ZDM_HEARTBEAT_RETRY_INTERVAL_MAX_MS": "1000",
        "ZDM_ORIGIN_CONNECTION_TIMEOUT_MS": "4000",
    }
    assert down_within(fast, "origin") == 2 + 5 + 10 + 2 * (4 + 1)
    assert down_within(fast, "target") == 2 + 5 + 10 + 2 * (30 + 1)  # target keeps its default timeout
    assert down_within({"ZDM_HEARTBEAT_INTERVAL_MS": "nan"}, "origin") == 45.0  # nonsense: the default
    assert busy_machine_allowance(45.0) > 45.0
