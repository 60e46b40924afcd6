"""The Murmur3 token ring cut into contiguous ranges, and the part of it a scan covers."""

from __future__ import annotations

import random
from dataclasses import dataclass

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1


@dataclass(frozen=True)
class TokenRange:
    """Tokens in ``(start, end]``; the first range of the ring also includes ``MIN_TOKEN`` itself."""

    start: int
    end: int

    @property
    def includes_min(self) -> bool:
        """Whether the range starts at the very beginning of the ring (``token >= MIN_TOKEN``)."""
        return self.start == MIN_TOKEN


def split_ring(splits: int, start: int = MIN_TOKEN, end: int = MAX_TOKEN) -> list[TokenRange]:
    """``splits`` contiguous ranges covering ``[start, end]`` exactly once."""
    if splits < 1:
        raise ValueError(f"splits: expected at least 1, got {splits}")
    width = (end - start) // splits
    bounds = [start + i * width for i in range(splits)] + [end]
    return [TokenRange(bounds[i], bounds[i + 1]) for i in range(splits)]


def sample(ranges: list[TokenRange], fraction: float, seed: int = 0) -> list[TokenRange]:
    """A reproducible random subset of the ranges (at least one), for partial scans of huge tables."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a number in (0, 1], got {fraction}")
    if fraction == 1:
        return list(ranges)
    count = max(1, round(len(ranges) * fraction))
    return sorted(random.Random(seed).sample(ranges, count), key=lambda r: r.start)
