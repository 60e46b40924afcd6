"""Application-like load through the proxy, an acknowledged-write ledger, and the check of its promise.

The proxy promises that a write it acknowledged was applied on origin AND target. The generator records
every write it sends (key, value, client timestamp, outcome) in a ledger; the checker then reads each key
straight from both clusters: acknowledged writes must be on both with their value, failed or timed-out
writes are classified as present on both, one or neither (indeterminate, as the protocol allows).
"""

from pytest_zdm.workload.checker import LedgerReport, check_ledger
from pytest_zdm.workload.generator import WorkloadResult, run_workload
from pytest_zdm.workload.latency import LatencyStats
from pytest_zdm.workload.ledger import Ledger, LedgerEntry

__all__ = [
    "LatencyStats",
    "Ledger",
    "LedgerEntry",
    "LedgerReport",
    "WorkloadResult",
    "check_ledger",
    "run_workload",
]
