"""Prove origin and target hold the same data: a token-range scan of both clusters, merged per partition.

Usable without pytest::

    from pytest_zdm.consistency import compare
    report = compare(origin_session, target_session, "shop", "orders", splits=64, writetime=True)
    print(report.summary())

Unlike a per-row lookup of origin's rows on the target, the merge sees rows that exist only on the target,
compares WRITETIME and TTL on request, and re-reads every difference after a settle time so that writes in
flight during the scan are not reported as divergence.
"""

from pytest_zdm.consistency.engine import compare
from pytest_zdm.consistency.report import Difference, Report

__all__ = ["Difference", "Report", "compare"]
