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
