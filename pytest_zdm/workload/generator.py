"""An application-like mix of writes and reads, asynchronous, bounded in flight, count and time.

Each write carries an explicit client timestamp (as applications should during a migration) and a key
never used before, so the ledger can later say exactly what each cluster must hold. At a fixed rate,
latency is measured from the intended start of each request, not from when it was sent, so a stall is not
hidden by the requests it delayed (coordinated omission).

What a stream sends is an :class:`Issuer`; :mod:`pytest_zdm.workload.paired` interleaves two of them
(through the proxy, and straight to both clusters) with one sender.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cassandra import OperationTimedOut, WriteTimeout
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.query import tuple_factory

from pytest_zdm.cql import keyspaces
from pytest_zdm.workload.latency import LatencyRecorder, LatencyStats
from pytest_zdm.workload.ledger import ACKNOWLEDGED, FAILED, TIMED_OUT, Ledger, LedgerEntry

SCHEMA = "CREATE TABLE IF NOT EXISTS {ks}.{table} (k bigint PRIMARY KEY, v text)"
MAX_OPERATIONS = 10_000_000
MAX_SECONDS = 3600.0
Done = Callable[[], None]


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


class Issuer(Protocol):
    """What one stream sends: a write of a fresh key, or a read of a key written before."""

    def write(self, key: int, value: str, ts: int, start: float, done: Done) -> None:
        """Send one write; call ``done`` once it ended (acknowledged or not)."""

    def read(self, start: float, done: Done) -> bool:
        """Send one read of an acknowledged key; False (nothing sent) when none is acknowledged yet."""


def prepare_table(session: Any, keyspace: str, table: str) -> tuple[Any, Any, Any]:
    """Create ``keyspace.table`` if missing (framework keyspaces only); its insert, select and row profile."""
    session.execute(SCHEMA.format(ks=keyspaces.own(keyspace), table=keyspaces.own_table(keyspace, table)))
    insert = session.prepare(f"INSERT INTO {keyspace}.{table} (k, v) VALUES (?, ?) USING TIMESTAMP ?")
    select = session.prepare(f"SELECT v FROM {keyspace}.{table} WHERE k = ?")
    # Read rows are dropped: plain tuples spare the driver building a named-tuple class per result set.
    plain_rows = session.execution_profile_clone_update(EXEC_PROFILE_DEFAULT, row_factory=tuple_factory)
    return insert, select, plain_rows


class SessionIssuer:
    """Writes and reads on one session (through the proxy, or straight to one cluster)."""

    def __init__(
        self, session: Any, keyspace: str, table: str, *, timeout: float, rng: random.Random
    ) -> None:
        self.session = session
        self.insert, self.select, self.plain_rows = prepare_table(session, keyspace, table)
        self.timeout = timeout
        self.rng = rng
        self.ledger = Ledger()
        self.writes = LatencyRecorder()
        self.reads = LatencyRecorder()
        self.reads_failed = 0
        self.written: list[int] = []
        self._lock = threading.Lock()

    def write(self, key: int, value: str, ts: int, start: float, done: Done) -> None:
        """Send the insert; the ledger records what the client was told."""
        future = self.session.execute_async(self.insert, (key, value, ts), timeout=self.timeout)

        def ok(_: Any) -> None:
            self.writes.record_seconds(time.monotonic() - start)
            self.ledger.record(LedgerEntry(key, value, ts, ACKNOWLEDGED))
            self.remember(key)
            done()

        def failed(exc: BaseException) -> None:
            self.ledger.record(LedgerEntry(key, value, ts, outcome_of(exc), error_text(exc)))
            done()

        future.add_callbacks(ok, failed)

    def remember(self, key: int) -> None:
        """A key acknowledged on every cluster: reads may now choose it."""
        with self._lock:
            self.written.append(key)

    def read(self, start: float, done: Done) -> bool:
        """Read one acknowledged key (its row is dropped: only latency and success count)."""
        with self._lock:
            if not self.written:
                return False
            key = self.rng.choice(self.written)
        future = self.session.execute_async(
            self.select, (key,), timeout=self.timeout, execution_profile=self.plain_rows
        )

        def ok(_: Any) -> None:
            self.reads.record_seconds(time.monotonic() - start)
            done()

        def failed(_: BaseException) -> None:
            with self._lock:
                self.reads_failed += 1
            done()

        future.add_callbacks(ok, failed)
        return True

    def result(self, seconds: float, rate: float | None) -> WorkloadResult:
        """What this stream measured."""
        return WorkloadResult(
            self.ledger,
            self.writes.histogram,
            self.writes.stats(),
            self.reads.stats(),
            self.reads_failed,
            seconds,
            rate,
        )


def outcome_of(exc: BaseException) -> str:
    """What the client was told, as the ledger records it."""
    return TIMED_OUT if isinstance(exc, (OperationTimedOut, WriteTimeout)) else FAILED


def error_text(exc: BaseException) -> str:
    """The error, short enough for a ledger entry."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@dataclass(frozen=True)
class Pace:
    """When a stream sends: ``count`` operations from ``began`` at ``rate`` per second (None: closed loop).

    ``deadline`` bounds the whole stream.
    """

    count: int
    rate: float | None
    began: float
    deadline: float


def drive(issuer: Issuer, pace: Pace, *, concurrency: int, read_ratio: float, rng: random.Random,
          key_base: int, timeout: float) -> None:  # fmt: skip
    """Send ``pace.count`` operations at their intended starts; return when all ended (bounded)."""
    in_flight = threading.BoundedSemaphore(concurrency)
    sent = 0
    while sent < pace.count and time.monotonic() < pace.deadline:
        intended = pace.began + sent / pace.rate if pace.rate else time.monotonic()
        delay = intended - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        in_flight.acquire()
        start = intended if pace.rate else time.monotonic()
        if not (rng.random() < read_ratio and issuer.read(start, in_flight.release)):
            value = f"v{sent}-{rng.getrandbits(32):08x}"
            issuer.write(key_base + sent, value, time.time_ns() // 1000, start, in_flight.release)
        sent += 1
    # Everything in flight ends by its own timeout; one bound for all of them, not one per request.
    drained = time.monotonic() + timeout + 5
    for _ in range(concurrency):
        if not in_flight.acquire(timeout=max(0.0, drained - time.monotonic())):
            break


def bounds(count: int | None, duration: float | None) -> tuple[int, float]:
    """The operation count and seconds a workload runs for (at least one is required; both are capped)."""
    if count is None and duration is None:
        raise ValueError("run_workload: expected count or duration (a workload always stops by itself)")
    return min(count or MAX_OPERATIONS, MAX_OPERATIONS), min(duration or MAX_SECONDS, MAX_SECONDS)


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
    count, duration = bounds(count, duration)
    rng = random.Random(seed)
    issuer = SessionIssuer(session, keyspace, table, timeout=timeout, rng=rng)
    began = time.monotonic()
    pace = Pace(count, rate or None, began, began + duration)
    drive(issuer, pace, concurrency=concurrency, read_ratio=read_ratio, rng=rng,
          key_base=rng.getrandbits(40) << 20, timeout=timeout)  # fmt: skip
    return issuer.result(time.monotonic() - began, rate)
