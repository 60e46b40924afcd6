"""The latency picture for reviewers: latency by percentile, through the proxy and straight to origin."""

from __future__ import annotations

from pathlib import Path

from hdrh.histogram import HdrHistogram

PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)


def latency_by_percentile_png(series: dict[str, HdrHistogram], path: Path, title: str) -> Path:
    """Plot each histogram's latency (ms) against percentile on a tail-stretching axis; write a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    xs = [1 / (1 - p / 100) if p < 100 else 1e5 for p in PERCENTILES]  # 1/(1-p): p99 -> 100, p99.9 -> 1000
    for label, histogram in series.items():
        ys = [histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES]
        ax.plot(xs, ys, marker="o", label=f"{label} (n={histogram.get_total_count()})")
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
