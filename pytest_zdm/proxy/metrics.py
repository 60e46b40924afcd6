"""The proxy's Prometheus metrics: scrape, look up by name and labels, and take deltas.

Parsed with prometheus_client's text parser (the format has escaping, histograms and ``_total`` suffix rules
that a regular expression gets wrong). Names include the proxy's prefix (``zdm`` unless
``ZDM_METRICS_PREFIX`` says otherwise).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from pytest_zdm.errors import ZdmError

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class MetricsSnapshot:
    """Every sample of one scrape: (sample name, labels) -> value."""

    samples: Mapping[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def delta(self, earlier: MetricsSnapshot) -> MetricsSnapshot:
        """Samples minus those of ``earlier`` (for counters: what happened in between)."""
        keys = set(self.samples) | set(earlier.samples)
        return MetricsSnapshot({k: self.samples.get(k, 0.0) - earlier.samples.get(k, 0.0) for k in keys})

    def nonzero(self, prefix: str = "") -> dict[str, float]:
        """Readable ``name{labels}`` -> value for non-zero samples (for reports and failure messages)."""
        out = {}
        for (name, labels), value in sorted(
            self.samples.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))
        ):
            if value and name.startswith(prefix):
                shown = ",".join(f"{k}={v}" for k, v in sorted(labels))
                out[f"{name}{{{shown}}}" if shown else name] = value
        return out


def parse(text: str) -> MetricsSnapshot:
    """Parse Prometheus text exposition format."""
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return MetricsSnapshot(samples)


def scrape(base_url: str, timeout: float = 5.0) -> MetricsSnapshot:
    """GET ``/metrics`` from the proxy's metrics endpoint."""
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as resp:
            return parse(resp.read().decode("utf-8", "replace"))
    except OSError as exc:
        raise ZdmError(f"proxy metrics at {base_url}/metrics unreachable: {exc}") from None


_FAILURE_MARKERS = ("_failed_", "failed_")


def describe_delta(delta: MetricsSnapshot) -> list[str]:
    """What the proxy counted between two scrapes, one readable line per changed metric.

    Histograms are summed up by their ``_count`` (requests) and ``_sum`` (mean latency); their buckets are
    left out. Failure counters are always accounted for: listed when they moved, else one line saying the
    proxy counted no failure, so a healthy window's evidence still says something. A counter that went
    down means the proxy restarted in between; that is said instead of showing a meaningless negative.
    """
    samples = {(n, ls): v for (n, ls), v in delta.samples.items() if not n.endswith(("_bucket", "_created"))}
    lines: list[str] = []
    failures: list[str] = []
    went_down = False
    for (name, labels), value in sorted(samples.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
        if not value or name.endswith("_sum"):
            continue
        shown = ",".join(f"{k}={v}" for k, v in sorted(labels))
        key = f"{name}{{{shown}}}" if shown else name
        if name.endswith("_count"):
            if value < 0:
                went_down = True
                continue
            total = samples.get((name.removesuffix("_count") + "_sum", labels), 0.0)
            mean = f", mean {total / value * 1000:.2f} ms" if total > 0 else ""
            lines.append(f"{key}: {value:g} requests{mean}")
        elif any(marker in name for marker in _FAILURE_MARKERS):
            failures.append(f"{key}: {value:+g}")
            went_down = went_down or value < 0
        else:
            lines.append(f"{key}: {value:+g}")
    if went_down:
        lines.append("counters went down: the proxy restarted during this window (counts start again at 0)")
    if failures:
        lines += ["failures counted by the proxy:", *failures]
    elif lines:
        lines.append("failures counted by the proxy: none (zdm_proxy_failed_*, zdm_*_requests_failed_total)")
    return lines
