"""Workload generator, acknowledged-write ledger and its checker, latency percentiles."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
from cassandra.cluster import NoHostAvailable
from hdrh.histogram import HdrHistogram

from pytest_zdm.targets.local.clusters import two_clusters
from pytest_zdm.workload import LatencyStats, Ledger, LedgerEntry, check_ledger, run_workload
from pytest_zdm.workload.generator import Pace
from pytest_zdm.workload.ledger import ACKNOWLEDGED, FAILED, TIMED_OUT
from pytest_zdm.workload.paired import PairedWorkload, drive_interleaved

KS = "zdm_verify_workload"


def test_percentiles_of_known_inputs():
    histogram = HdrHistogram(1, 120_000_000, 3)
    for micros in range(1, 10_001):  # 1 us .. 10 ms, uniform
        histogram.record_value(micros)
    stats = LatencyStats.of(histogram)
    assert stats.count == 10_000
    assert stats.p50 == pytest.approx(5.0, rel=0.01) and stats.p90 == pytest.approx(9.0, rel=0.01)
    assert stats.p99 == pytest.approx(9.9, rel=0.01) and stats.p999 == pytest.approx(9.99, rel=0.01)
    assert stats.max == pytest.approx(10.0, rel=0.01)


def test_a_workload_needs_a_bound():
    with pytest.raises(ValueError, match="count or duration"):
        run_workload(object(), KS)


class FailingAtOnce:
    """A driver session whose every request fails before any I/O, as with no host available."""

    def execute(self, *_: object) -> None:
        pass

    def prepare(self, query: str) -> str:
        return query

    def execution_profile_clone_update(self, *_: object, **__: object) -> None:
        return None

    def execute_async(self, *_: object, **__: object) -> FailingAtOnce:
        return self

    def add_callbacks(self, callback, errback, callback_args=(), errback_args=()):
        errback(NoHostAvailable("seeded: no host", {}), *errback_args)  # at once, in the sender's thread


def test_requests_that_fail_at_once_are_in_the_ledger_and_the_run_ends():
    """Unthrottled, with every request failing inside the sender's call: each one recorded, no hang."""
    result = run_workload(FailingAtOnce(), KS, count=20_000, concurrency=64, read_ratio=0.0)
    assert len(result.ledger.entries) == result.ledger.count(FAILED) == 20_000
    assert "NoHostAvailable: ('seeded: no host'" in result.ledger.entries[0].error


class SlowToWarm(FailingAtOnce):
    """A session whose first ``cold`` inserts time out (as a node's first writes to a new table did in CI)."""

    def __init__(self, cold: int, pause: float = 0.0) -> None:
        self.cold, self.pause, self.inserts = cold, pause, 0

    def execute(self, statement: object, *_: object, **__: object) -> None:
        if "INSERT" not in str(statement):
            return
        self.inserts += 1
        time.sleep(self.pause)
        if self.inserts <= self.cold:
            raise TimeoutError("seeded: cold table")


def test_the_warm_up_counts_what_failed_per_path_and_is_bounded_in_time():
    proxy, origin, target = SlowToWarm(3), SlowToWarm(0), SlowToWarm(1)
    workload = PairedWorkload(proxy, origin, target, KS, proxy_table="p", direct_table="d", seed=1)
    warm = workload.warm_up(writes=10)
    assert (warm.writes, warm.failed) == (10, {"through the proxy": 3, "origin": 0, "target": 1})
    assert (proxy.inserts, origin.inserts, target.inserts) == (10, 10, 10)
    assert "failed: 3 through the proxy, 1 target" in str(warm)
    assert not workload.proxied.ledger.entries and not workload.direct.ledger.entries  # nothing recorded

    slow = PairedWorkload(SlowToWarm(0, pause=0.05), SlowToWarm(0), SlowToWarm(0), KS, proxy_table="p",
                          direct_table="d")  # fmt: skip
    began = time.monotonic()
    assert slow.warm_up(writes=1000, seconds=0.3).writes < 1000
    assert time.monotonic() - began < 2


@pytest.mark.integration
def test_ledger_checker_catches_a_lost_write_and_classifies_partial_ones(zdm_settings, tmp_path):
    """Real clusters: writes origin acknowledged are copied to target as a dual write would; then faults."""
    with two_clusters(zdm_settings, tmp_path) as clients:
        origin, target = clients["origin"].session, clients["target"].session
        for s in (origin, target):
            s.execute(
                f"CREATE KEYSPACE {KS} "
                "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
        result = run_workload(origin, KS, count=600, rate=2000, concurrency=32, read_ratio=0.25, seed=7)
        assert result.ledger.count(ACKNOWLEDGED) == result.writes.count > 400 and result.reads.count > 50
        target.execute(f"CREATE TABLE {KS}.ledger (k bigint PRIMARY KEY, v text)")
        copy = target.prepare(f"INSERT INTO {KS}.ledger (k, v) VALUES (?, ?) USING TIMESTAMP ?")
        for entry in result.ledger.entries:
            target.execute(copy, (entry.key, entry.value, entry.timestamp))
        assert check_ledger(result.ledger, origin, target, KS).ok

        lost = result.ledger.entries[10]
        target.execute(f"DELETE FROM {KS}.ledger WHERE k = %s", (lost.key,))  # seeded lost write on target
        report = check_ledger(result.ledger, origin, target, KS)
        assert not report.ok and len(report.lost) == 1 and f"key {lost.key} " in report.lost[0]
        assert "target holds None" in report.lost[0]

        ledger = Ledger()
        for i, (outcome, on_origin, on_target) in enumerate(
            [(FAILED, True, False), (TIMED_OUT, True, True), (FAILED, False, False), (TIMED_OUT, False, True)]
        ):
            entry = LedgerEntry(10_000 + i, f"partial-{i}", 5_000 + i, outcome, "seeded")
            ledger.record(entry)
            for present, session in ((on_origin, origin), (on_target, target)):
                if present:
                    session.execute(
                        f"INSERT INTO {KS}.ledger (k, v) VALUES (%s, %s) USING TIMESTAMP {entry.timestamp}",
                        (entry.key, entry.value),
                    )
        partial = check_ledger(ledger, origin, target, KS)
        assert partial.ok  # nothing was acknowledged
        assert {k: [e.key for e in v] for k, v in partial.indeterminate.items()} == {
            "origin only": [10_000], "both": [10_001], "neither": [10_002], "target only": [10_003]
        }  # fmt: skip
        assert result.ledger.write_json_lines(tmp_path / "ledger.jsonl").read_text().count("\n") == len(
            result.ledger.entries
        )


@pytest.mark.integration
@pytest.mark.usefixtures("proxy_available")
def test_acknowledged_writes_through_the_real_proxy_are_on_both_clusters(
    zdm_keyspace, proxy_session, origin_session, target_session
):
    result = run_workload(proxy_session, zdm_keyspace, count=1500, rate=1000, concurrency=32, seed=3)
    assert result.ledger.count(ACKNOWLEDGED) == result.writes.count and result.reads_failed == 0
    report = check_ledger(result.ledger, origin_session, target_session, zdm_keyspace)
    assert report.ok and report.acknowledged == result.writes.count, report.summary()
    fast = run_workload(proxy_session, zdm_keyspace, table="fast", count=3000, concurrency=64, seed=4)
    assert fast.operations == 3000 and fast.ledger.count(ACKNOWLEDGED) == fast.writes.count > 2000
    assert check_ledger(fast.ledger, origin_session, target_session, zdm_keyspace, table="fast").ok
    victim = result.ledger.entries[5]
    target_session.execute(f"DELETE FROM {zdm_keyspace}.ledger WHERE k = %s", (victim.key,))
    caught = check_ledger(result.ledger, origin_session, target_session, zdm_keyspace)
    assert [line.split(":")[0] for line in caught.lost] == [
        f"key {victim.key} acknowledged with {victim.value!r}@{victim.timestamp}"
    ]


class Recorder:
    """An issuer that records when each request was sent; ``hold`` keeps its requests in flight."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.sent: list[tuple[float, float]] = []  # (intended start, actual send)
        self.hold = hold

    def write(self, key, value, ts, start, done) -> None:
        self.sent.append((start, time.monotonic()))
        if self.hold is None:
            done()
        else:
            threading.Thread(target=lambda: (self.hold.wait(10), done()), daemon=True).start()

    def read(self, start, done) -> bool:
        return False


def test_interleaved_streams_alternate_and_a_stalled_one_never_delays_the_other():
    """The proxy's stream stalls (nothing answers for the whole run): the reference is still sent on time."""
    hold = threading.Event()
    stalled, reference = Recorder(hold), Recorder()
    began = time.monotonic() + 0.05
    try:
        pace = Pace(100, 200.0, began, began + 30)
        drive_interleaved([stalled, reference], pace, concurrency=150, read_ratio=0.0,
                          rng=random.Random(1), key_bases=[0, 10**6], timeout=0.5)  # fmt: skip
    finally:
        hold.set()
    assert len(stalled.sent) == len(reference.sent) == 100
    intended = [t for t, _ in reference.sent]
    assert intended[0] - began == pytest.approx(0.5 / 200)  # halfway between the stalled stream's requests
    assert all(b - a == pytest.approx(1 / 200) for a, b in itertools.pairwise(intended))
    lateness = sorted(sent - t for t, sent in reference.sent)
    # Had the stalled stream held the sender, it would have waited for the release in `finally`, which comes
    # only after the run: all 100 sent, and on schedule but for how late this process itself runs (a busy CI
    # runner delays a thread by tenths of a second), is the proof.
    assert lateness[len(lateness) // 2] < 2.0, lateness
