"""An application-like mix of writes and reads, asynchronous, bounded in flight, count and time.

Each write carries an explicit client timestamp (as applications should during a migration) and a key
never used before, so the ledger can later say exactly what each cluster must hold. At a fixed rate,
latency is measured from the intended start of each request, not from when it was sent, so a stall is not
hidden by the requests it delayed (coordinated omission).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from cassandra import OperationTimedOut, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.query import tuple_factory

from pytest_zdm.cql import keyspaces
from pytest_zdm.workload.latency import LatencyRecorder, LatencyStats
from pytest_zdm.workload.ledger import ACKNOWLEDGED, FAILED, TIMED_OUT, Ledger, LedgerEntry

SCHEMA = "CREATE TABLE IF NOT EXISTS {ks}.{table} (k bigint PRIMARY KEY, v text)"
MAX_OPERATIONS = 10_000_000
MAX_SECONDS = 3600.0


@dataclass
class WorkloadResult:
    """What was sent and how long it took."""

    ledger: Ledger
    write_histogram: Any
    writes: LatencyStats
    reads: LatencyStats
    reads_failed: int
    seconds: float
    intended_rate: float | None

    @property
    def operations(self) -> int:
        """Writes and reads completed."""
        return self.writes.count + self.reads.count + self.reads_failed

    @property
    def ops_per_second(self) -> float:
        """Achieved throughput."""
        return self.operations / self.seconds if self.seconds else 0.0


def run_workload(
    session: Any,
    keyspace: str,
    *,
    table: str = "ledger",
    count: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    concurrency: int = 64,
    read_ratio: float = 0.2,
    timeout: float = 10.0,
    seed: int | None = None,
) -> WorkloadResult:
    """Run until ``count`` operations or ``duration`` seconds (at least one is required; both are capped).

    ``rate``: operations per second (None: as fast as ``concurrency`` allows). Writes go to
    ``keyspace.table`` (created if missing; the keyspace must be one of the framework's).
    """
    if count is None and duration is None:
        raise ValueError("run_workload: expected count or duration (a workload always stops by itself)")
    count = min(count or MAX_OPERATIONS, MAX_OPERATIONS)
    duration = min(duration or MAX_SECONDS, MAX_SECONDS)
    session.execute(SCHEMA.format(ks=keyspaces.own(keyspace), table=keyspaces.own_table(keyspace, table)))
    insert = session.prepare(f"INSERT INTO {keyspace}.{table} (k, v) VALUES (?, ?) USING TIMESTAMP ?")
    select = session.prepare(f"SELECT v FROM {keyspace}.{table} WHERE k = ?")
    # Read rows are dropped: plain tuples spare the driver building a named-tuple class per result set.
    plain_rows = session.execution_profile_clone_update(EXEC_PROFILE_DEFAULT, row_factory=tuple_factory)
    rng = random.Random(seed)
    key_base = rng.getrandbits(40) << 20
    ledger, write_lat, read_lat = Ledger(), LatencyRecorder(), LatencyRecorder()
    in_flight = threading.BoundedSemaphore(concurrency)
    failed_reads = [0]
    written: list[int] = []
    began = time.monotonic()
    deadline = began + duration
    sent = 0
    while sent < count and time.monotonic() < deadline:
        intended = began + sent / rate if rate else time.monotonic()
        delay = intended - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        in_flight.acquire()
        start = intended if rate else time.monotonic()
        if written and rng.random() < read_ratio:
            future = session.execute_async(
                select, (rng.choice(written),), timeout=timeout, execution_profile=plain_rows
            )
            future.add_callbacks(_read_done, _read_failed, callback_args=(start, read_lat, in_flight),
                                 errback_args=(failed_reads, in_flight))  # fmt: skip
        else:
            key = key_base + sent
            value = f"v{sent}-{rng.getrandbits(32):08x}"
            ts = time.time_ns() // 1000
            future = session.execute_async(insert, (key, value, ts), timeout=timeout)
            future.add_callbacks(
                _write_done,
                _write_failed,
                callback_args=(
                    LedgerEntry(key, value, ts, ACKNOWLEDGED),
                    start,
                    write_lat,
                    ledger,
                    in_flight,
                    written,
                ),
                errback_args=(key, value, ts, ledger, in_flight),
            )
        sent += 1
    for _ in range(concurrency):  # wait for everything in flight (each request ends by its timeout)
        in_flight.acquire(timeout=timeout + 5)
    return WorkloadResult(
        ledger,
        write_lat.histogram,
        write_lat.stats(),
        read_lat.stats(),
        failed_reads[0],
        time.monotonic() - began,
        rate,
    )


def _write_done(_: Any, entry: LedgerEntry, start: float, lat: LatencyRecorder, ledger: Ledger,
                in_flight: threading.BoundedSemaphore, written: list[int]) -> None:  # fmt: skip
    lat.record_seconds(time.monotonic() - start)
    ledger.record(entry)
    written.append(entry.key)
    in_flight.release()


def _write_failed(exc: BaseException, key: int, value: str, ts: int, ledger: Ledger,
                  in_flight: threading.BoundedSemaphore) -> None:  # fmt: skip
    outcome = TIMED_OUT if isinstance(exc, (OperationTimedOut, WriteTimeout)) else FAILED
    ledger.record(LedgerEntry(key, value, ts, outcome, f"{type(exc).__name__}: {str(exc)[:200]}"))
    in_flight.release()


def _read_done(_: Any, start: float, lat: LatencyRecorder, in_flight: threading.BoundedSemaphore) -> None:
    lat.record_seconds(time.monotonic() - start)
    in_flight.release()


def _read_failed(_: BaseException, failed: list[int], in_flight: threading.BoundedSemaphore) -> None:
    failed[0] += 1
    in_flight.release()
