"""The latency picture for reviewers: latency by percentile, through the proxy and straight to origin."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hdrh.histogram import HdrHistogram

PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)


def _x(percentile: float) -> float:
    """A tail-stretching position: 1/(1-p), so p99 -> 100 and p99.9 -> 1000 (p100 drawn at 1e5)."""
    return 1 / (1 - percentile / 100) if percentile < 100 else 1e5


def latency_by_percentile_png(
    series: dict[str, HdrHistogram],
    path: Path,
    title: str,
    estimates: Mapping[str, Mapping[float, float]] | None = None,
) -> Path:
    """Plot each histogram's latency (ms) against percentile on a tail-stretching axis; write a PNG.

    ``estimates``: a few percentiles (ms) of other series, e.g. estimated from the proxy's own histograms
    per cluster; drawn dashed, since they are only as fine as the proxy's buckets.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    xs = [_x(p) for p in PERCENTILES]
    for label, histogram in series.items():
        ys = [histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES]
        ax.plot(xs, ys, marker="o", label=f"{label} (n={histogram.get_total_count()})")
    for label, points in (estimates or {}).items():
        ps = sorted(points)
        ax.plot([_x(p) for p in ps], [points[p] for p in ps], linestyle="--", marker="x", label=label)
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"p{p:g}" for p in PERCENTILES], rotation=45, fontsize=8)
    ax.set_ylabel("latency (ms)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
