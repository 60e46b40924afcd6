"""The proxy's own latency per cluster, from the deltas of its Prometheus histograms.

The client sees one latency through the proxy; when it is too high, the question is which cluster made it
so. zdm-proxy keeps histograms (in seconds) at its entry point (``zdm_proxy_request_duration_seconds``,
what a request cost inside the proxy, waiting for both clusters) and per cluster connector
(``zdm_origin_request_duration_seconds``, ``zdm_target_request_duration_seconds``, and ``zdm_async_...`` for
async dual reads), each per node. Over an interval (the delta of two scrapes) the percentiles are estimated
the way Prometheus' ``histogram_quantile`` does: find the bucket holding the rank, interpolate linearly in
it. The mean (sum / count) is exact. The estimates are only as fine as the buckets (by default 1, 4, 7, 10,
25, 40, 60, 80, 100, 150, 250, 500 ms, ... up to 15 s); a rank in the ``+Inf`` bucket is reported as the
largest finite bound with ``>`` in front: it is a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_zdm.proxy.metrics import MetricsSnapshot

PERCENTILES = (50.0, 90.0, 99.0)

# (label in reports, histogram name without prefix, type label): in the order reports show them
SERIES = (
    ("proxy writes", "proxy_request_duration_seconds", "writes"),
    ("origin writes", "origin_request_duration_seconds", "writes"),
    ("target writes", "target_request_duration_seconds", "writes"),
    ("proxy reads (origin)", "proxy_request_duration_seconds", "reads_origin"),
    ("proxy reads (target)", "proxy_request_duration_seconds", "reads_target"),
    ("origin reads", "origin_request_duration_seconds", "reads"),
    ("target reads", "target_request_duration_seconds", "reads"),
    ("async reads", "async_request_duration_seconds", "reads"),
)


def quantile(buckets: list[tuple[float, float]], q: float) -> tuple[float, bool]:
    """The ``q`` quantile (0..1) of cumulative ``(upper bound, count)`` buckets, and whether it overflowed.

    Linear interpolation inside the bucket that holds the rank (lower bound 0 for the first bucket), as
    Prometheus' ``histogram_quantile``. When the rank lies in the ``+Inf`` bucket the largest finite bound is
    returned with ``True``: the true value is above it. ``nan`` when the buckets counted nothing.
    """
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("histogram buckets must end with le=+Inf")
    total = ordered[-1][1]
    if total <= 0:
        return math.nan, False
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cumulative in ordered:
        if cumulative >= rank and cumulative > below:
            if math.isinf(upper):
                return lower, True
            return lower + (upper - lower) * (rank - below) / (cumulative - below), False
        lower, below = upper, cumulative
    return lower, True  # counts not monotonic (a reset between scrapes): report what is known


@dataclass(frozen=True)
class BucketLatency:
    """One histogram over an interval: request count, exact mean and estimated percentiles, in ms."""

    label: str
    count: int
    mean: float
    percentiles: dict[float, float]
    overflow: frozenset[float] = frozenset()

    def __str__(self) -> str:
        shown = " ".join(
            f"p{p:g}={'>' if p in self.overflow else ''}{v:.1f}ms" for p, v in self.percentiles.items()
        )
        return f"{self.label}: n={self.count} mean={self.mean:.2f}ms {shown}"


def histogram_latency(
    delta: MetricsSnapshot, name: str, label: str = "", **labels: str
) -> BucketLatency | None:
    """Latency of histogram ``name`` (full name, seconds) in ``delta``, summed over the other labels (nodes).

    None when it counted no request in the interval.
    """
    wanted = set(labels.items())
    bounds: dict[float, float] = {}
    for (sample, sample_labels), value in delta.samples.items():
        if sample != f"{name}_bucket" or not wanted <= sample_labels:
            continue
        le = float(dict(sample_labels)["le"])
        bounds[le] = bounds.get(le, 0.0) + value
    count = delta.value(f"{name}_count", **labels)
    if not bounds or count <= 0:
        return None
    buckets = list(bounds.items())
    estimates, overflow = {}, set()
    for p in PERCENTILES:
        seconds, over = quantile(buckets, p / 100)
        estimates[p] = seconds * 1000
        if over:
            overflow.add(p)
    mean = delta.value(f"{name}_sum", **labels) / count * 1000
    return BucketLatency(label or name, int(count), mean, estimates, frozenset(overflow))


def proxy_latencies(delta: MetricsSnapshot, prefix: str = "zdm") -> dict[str, BucketLatency]:
    """Every series of :data:`SERIES` that counted requests in ``delta``, by its report label."""
    found = {}
    for label, name, kind in SERIES:
        latency = histogram_latency(delta, f"{prefix}_{name}", label, type=kind)
        if latency is not None:
            found[label] = latency
    return found


def slower_cluster(
    latencies: dict[str, BucketLatency], *, ratio: float = 2.0, margin_ms: float = 250.0
) -> str | None:
    """``origin`` or ``target`` when its p99 write latency is clearly above the other's, else None.

    Writes are the comparable series: in dual-write phases each one goes to both clusters, so the two
    connectors saw the same requests. Clearly above: at least ``ratio`` times and ``margin_ms`` more (bucket
    estimates are coarse, and a loaded machine makes either cluster hiccup by tens of ms).
    """
    origin, target = latencies.get("origin writes"), latencies.get("target writes")
    if origin is None or target is None:
        return None
    o, t = origin.percentiles[99.0], target.percentiles[99.0]
    if t >= ratio * o and t - o >= margin_ms:
        return "target"
    if o >= ratio * t and o - t >= margin_ms:
        return "origin"
    return None
