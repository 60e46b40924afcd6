"""The consistency engine against two real Cassandra clusters, one seeded divergence at a time."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_zdm.consistency import compare
from pytest_zdm.consistency.engine import RateLimiter
from pytest_zdm.errors import ZdmError
from pytest_zdm.targets.local.clusters import two_clusters

pytestmark = pytest.mark.integration
KS = "zdm_verify_consistency"


@pytest.fixture(scope="module")
def sessions(zdm_settings, tmp_path_factory):
    with two_clusters(zdm_settings, tmp_path_factory.mktemp("consistency")) as clients:
        origin, target = clients["origin"].session, clients["target"].session
        for s in (origin, target):
            s.execute(
                f"CREATE KEYSPACE {KS} "
                "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            s.execute(f"CREATE TYPE {KS}.addr (city text, zip int)")
        yield origin, target


_n = iter(range(1000))


@pytest.fixture
def table(sessions, request):
    """A fresh table, created identically on both clusters, with 200 identical rows in 20 partitions."""
    origin, target = sessions
    name = f"t{next(_n)}"
    for s in (origin, target):
        s.execute(
            f"CREATE TABLE {KS}.{name} (p int, c int, v text, n bigint, s text STATIC, tags set<text>, "
            f"home frozen<addr>, PRIMARY KEY (p, c))"
        )
        insert = s.prepare(
            f"INSERT INTO {KS}.{name} (p, c, v, n, tags, home) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP 1000"
        )
        for p in range(20):
            s.execute(f"INSERT INTO {KS}.{name} (p, s) VALUES (%s, 'static-{p}') USING TIMESTAMP 1000", (p,))
            for c in range(10):
                s.execute(insert, (p, c, f"v{p}-{c}", p * c, {"a", "b"}, (f"city{p}", p)))
    return name


def test_identical_tables_are_consistent(sessions, table):
    report = compare(*sessions, KS, table, splits=16, writetime=True, ttl=True)
    assert report.consistent, report.summary()
    assert report.rows_compared == 200 and report.splits_scanned == 16 == report.splits_total


def test_row_missing_on_target(sessions, table):
    origin, _ = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (5, 99, 'origin only')")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert [d.key for d in report.missing_on_target] == [{"p": 5, "c": 99}], report.summary()
    assert not report.missing_on_origin and not report.mismatched


def test_row_missing_on_origin_is_seen(sessions, table):
    """A per-row lookup of origin's rows (CDM DiffData) cannot see this one."""
    _, target = sessions
    target.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (500, 1, 'target only')")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert [d.key for d in report.missing_on_origin] == [{"p": 500, "c": 1}], report.summary()


def test_one_column_differs(sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET v = 'changed' WHERE p = 3 AND c = 4")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert len(report.mismatched) == 1, report.summary()
    diff = report.mismatched[0]
    assert diff.key == {"p": 3, "c": 4} and diff.columns == {"v": ("v3-4", "changed")}


def test_a_collection_element_differs(sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} SET tags = tags + {{'extra'}} WHERE p = 7 AND c = 0")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert [(d.key, set(d.columns)) for d in report.mismatched] == [({"p": 7, "c": 0}, {"tags"})]


def test_a_write_time_only_difference_needs_writetime(sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 2000 SET v = 'v2-2' WHERE p = 2 AND c = 2")
    assert compare(*sessions, KS, table, splits=8, settle_seconds=0.1).consistent
    report = compare(*sessions, KS, table, splits=8, writetime=True, settle_seconds=0.1)
    assert [d.columns for d in report.mismatched] == [{"writetime:v": (1000, 2000)}], report.summary()


def test_a_ttl_only_difference_needs_ttl(sessions, table):
    origin, target = sessions
    origin.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 3000 AND TTL 1000 SET n = 1 WHERE p = 1 AND c = 1")
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 3000 AND TTL 5000 SET n = 1 WHERE p = 1 AND c = 1")
    assert compare(*sessions, KS, table, splits=8, writetime=True, settle_seconds=0.1).consistent
    report = compare(*sessions, KS, table, splits=8, ttl=True, settle_seconds=0.1)
    assert [set(d.columns) for d in report.mismatched] == [{"ttl:n"}], report.summary()


def test_a_static_column_difference_is_reported_once(sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET s = 'other' WHERE p = 9")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert [(d.key, d.columns) for d in report.mismatched] == [
        ({"p": 9, "c": 0}, {"s": ("static-9", "other")})
    ]


def test_null_cell_versus_missing_row(sessions, table):
    origin, target = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c) VALUES (11, 50)")  # row with only its key: null cells
    target.execute(f"INSERT INTO {KS}.{table} (p, c) VALUES (11, 50)")
    target.execute(f"DELETE v FROM {KS}.{table} USING TIMESTAMP 1001 WHERE p = 11 AND c = 5")  # null vs value
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1)
    assert not report.missing_on_target and not report.missing_on_origin
    assert [(d.key, d.columns) for d in report.mismatched] == [({"p": 11, "c": 5}, {"v": ("v11-5", None)})]


def test_table_with_only_a_partition_key_and_a_wide_partition(sessions):
    origin, target = sessions
    for s in (origin, target):
        s.execute(f"CREATE TABLE {KS}.keys_only (k int PRIMARY KEY)")
        s.execute(
            f"CREATE TABLE {KS}.wide (p int, c int, v int, PRIMARY KEY (p, c)) "
            "WITH CLUSTERING ORDER BY (c DESC)"
        )
        ins_k, ins_w = (
            s.prepare(f"INSERT INTO {KS}.keys_only (k) VALUES (?)"),
            s.prepare(f"INSERT INTO {KS}.wide (p, c, v) VALUES (0, ?, ?)"),
        )
        for i in range(300):
            s.execute(ins_k, (i,))
        for c in range(5000):
            s.execute(ins_w, (c, c))
    origin.execute(f"INSERT INTO {KS}.keys_only (k) VALUES (1000)")
    target.execute(f"UPDATE {KS}.wide SET v = -1 WHERE p = 0 AND c = 4321")
    keys = compare(*sessions, KS, "keys_only", splits=4, settle_seconds=0.1)
    assert keys.rows_compared == 301 and [d.key for d in keys.missing_on_target] == [{"k": 1000}]
    wide = compare(*sessions, KS, "wide", splits=4, page_size=500, settle_seconds=0.1)
    assert wide.rows_compared == 5000 and [d.key for d in wide.mismatched] == [{"p": 0, "c": 4321}]


def test_live_writes_are_not_reported_when_they_settle(sessions, table):
    """A write that reached origin and reaches target a moment later is resolved by the re-check."""
    origin, target = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (15, 77, 'in flight') USING TIMESTAMP 5000")
    late = threading.Timer(0.5, lambda: target.execute(
        f"INSERT INTO {KS}.{table} (p, c, v) VALUES (15, 77, 'in flight') USING TIMESTAMP 5000"))  # fmt: skip
    late.start()
    report = compare(*sessions, KS, table, splits=8, settle_seconds=2.0)
    late.join()
    assert report.consistent, report.summary()
    assert report.found_before_recheck == 1 and report.resolved_by_recheck == 1


def test_partial_scans_cover_what_they_say(sessions, table):
    sampled = compare(*sessions, KS, table, splits=16, fraction=0.25)
    assert sampled.splits_scanned == 4 and sampled.splits_total == 16 and 0 < sampled.rows_compared < 200
    first_half = compare(*sessions, KS, table, splits=4, token_range=(-(2**63), 0))
    second_half = compare(*sessions, KS, table, splits=4, token_range=(0, 2**63 - 1))
    assert (
        first_half.rows_compared + second_half.rows_compared >= 200
    )  # token 0 boundary row counted once each side


def test_repair_copies_origin_with_its_write_time_and_never_deletes(sessions, table):
    origin, target = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c, v, n) VALUES (4, 70, 'lost', 5) USING TIMESTAMP 7000")
    origin.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 2000 SET v = 'fresh' WHERE p = 4 AND c = 3")
    target.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (4, 71, 'target only')")
    report = compare(*sessions, KS, table, splits=8, settle_seconds=0.1, repair=True)
    assert report.repaired == 2 and any("never deletes" in r for r in report.not_repaired), (
        report.not_repaired
    )
    row = target.execute(f"SELECT v, WRITETIME(v) AS wt FROM {KS}.{table} WHERE p = 4 AND c = 70").one()
    assert (row.v, row.wt) == ("lost", 7000)
    after = compare(*sessions, KS, table, splits=8, writetime=True, settle_seconds=0.1)
    assert [d.key for d in after.differences] == [{"p": 4, "c": 71}], after.summary()


def test_report_json_lines_and_unknown_table(sessions, table, tmp_path):
    _, target = sessions
    target.execute(
        f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET home = {{city: 'x', zip: 1}} WHERE p = 2 AND c = 9"
    )
    report = compare(*sessions, KS, table, splits=4, settle_seconds=0.1)
    lines = report.write_json_lines(tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"kind": "mismatch"' in lines[0] and '"city"' not in lines[0], "hashed"
    assert '"home": {"origin": "<' in lines[0] and '"key": {"c": 9, "p": 2}' in lines[0]
    report.values = "full"
    lines = report.write_json_lines(tmp_path / "full.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"city": "x"' in lines[0]
    with pytest.raises(ZdmError, match="does not exist on origin"):
        compare(*sessions, KS, "no_such_table")


def test_rate_limiter_spaces_reads():
    limiter = RateLimiter(1000.0)
    start = time.monotonic()
    for _ in range(5):
        limiter.acquire(100)
    assert time.monotonic() - start >= 0.39  # 500 rows at 1000 rows/s: the first 100 are free
