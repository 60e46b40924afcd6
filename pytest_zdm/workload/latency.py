"""Client latency as HDR histograms (HdrHistogram, microsecond resolution), and the percentiles reported."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

MAX_MICROS = 120_000_000  # two minutes: anything slower is a hang, clamped so it is still counted
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class LatencyRecorder:
    """A thread-safe histogram of latencies in microseconds."""

    def __init__(self) -> None:
        self.histogram = HdrHistogram(1, MAX_MICROS, 3)
        self._lock = threading.Lock()

    def record_seconds(self, seconds: float) -> None:
        """Record one latency."""
        micros = min(MAX_MICROS, max(1, round(seconds * 1_000_000)))
        with self._lock:
            self.histogram.record_value(micros)

    def stats(self) -> LatencyStats:
        """Percentiles of what was recorded."""
        with self._lock:
            return LatencyStats.of(self.histogram)


@dataclass(frozen=True)
class LatencyStats:
    """Percentiles in milliseconds (p50, p90, p99, p99.9, max) and the sample count."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    @classmethod
    def of(cls, histogram: HdrHistogram) -> LatencyStats:
        """Read the percentiles of a histogram recorded in microseconds."""
        p50, p90, p99, p999 = (histogram.get_value_at_percentile(p) / 1000 for p in PERCENTILES)
        return cls(histogram.get_total_count(), p50, p90, p99, p999, histogram.get_max_value() / 1000)

    def __str__(self) -> str:
        return (
            f"n={self.count} p50={self.p50:.2f}ms p90={self.p90:.2f}ms p99={self.p99:.2f}ms "
            f"p99.9={self.p999:.2f}ms max={self.max:.2f}ms"
        )
