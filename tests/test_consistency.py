"""The consistency engine against two real Cassandra clusters, one seeded divergence at a time.

Every divergence test runs with both engines: ``python`` (one process) and ``spark`` (a Spark job on
``local[2]`` with the Spark Cassandra Connector). With ``spark``, the same data is compared by the python
engine as well and the two reports must be the same (differences, counts, re-check outcome), except where
a test changes the data while it compares (live writes, repair).
"""

from __future__ import annotations

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


@pytest.fixture(scope="module", params=["python", "spark"])
def engine(request):
    return request.param


def _essence(report):
    """What two engines must agree on; TTLs tick down between the two scans, so only which TTL differs."""
    differences = sorted(
        (d.kind, repr(d.key), repr({c: None if c.startswith("ttl:") else v for c, v in d.columns.items()}))
        for d in report.differences
    )
    return {
        "differences": differences,
        "rows_compared": report.rows_compared,
        "found_before_recheck": report.found_before_recheck,
        "resolved_by_recheck": report.resolved_by_recheck,
        "repaired": report.repaired,
        "not_repaired": sorted(report.not_repaired),
    }


@pytest.fixture
def check(sessions, engine, request):
    """``check(table, **options)``: compare with the module's engine; with spark, also the same report."""

    def run(table, *, same=True, **options):
        if engine == "python":
            return compare(*sessions, KS, table, **options)
        spark = request.getfixturevalue("spark").session
        report = compare(*sessions, KS, table, engine="spark", spark=spark, **options)
        assert report.options["engine"] == "spark" and report.splits_total == report.splits_scanned > 0
        if same:
            reference = compare(*sessions, KS, table, **options)
            assert _essence(report) == _essence(reference), (report.summary(), reference.summary())
        return report

    return run


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


def test_identical_tables_are_consistent(check, engine, table):
    report = check(table, splits=16, writetime=True, ttl=True)
    assert report.consistent, report.summary()
    assert report.rows_compared == 200
    if engine == "python":
        assert report.splits_scanned == 16 == report.splits_total


def test_row_missing_on_target(check, sessions, table):
    origin, _ = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (5, 99, 'origin only')")
    report = check(table, splits=8, settle_seconds=0.1)
    assert [d.key for d in report.missing_on_target] == [{"p": 5, "c": 99}], report.summary()
    assert not report.missing_on_origin and not report.mismatched


def test_row_missing_on_origin_is_seen(check, sessions, table):
    """A per-row lookup of origin's rows (CDM DiffData) cannot see this one."""
    _, target = sessions
    target.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (500, 1, 'target only')")
    report = check(table, splits=8, settle_seconds=0.1)
    assert [d.key for d in report.missing_on_origin] == [{"p": 500, "c": 1}], report.summary()


def test_one_column_differs(check, sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET v = 'changed' WHERE p = 3 AND c = 4")
    report = check(table, splits=8, settle_seconds=0.1)
    assert len(report.mismatched) == 1, report.summary()
    diff = report.mismatched[0]
    assert diff.key == {"p": 3, "c": 4} and diff.columns == {"v": ("v3-4", "changed")}


def test_a_collection_element_differs(check, sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} SET tags = tags + {{'extra'}} WHERE p = 7 AND c = 0")
    report = check(table, splits=8, settle_seconds=0.1)
    assert [(d.key, set(d.columns)) for d in report.mismatched] == [({"p": 7, "c": 0}, {"tags"})]


def test_a_write_time_only_difference_needs_writetime(check, sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 2000 SET v = 'v2-2' WHERE p = 2 AND c = 2")
    assert check(table, splits=8, settle_seconds=0.1).consistent
    report = check(table, splits=8, writetime=True, settle_seconds=0.1)
    assert [d.columns for d in report.mismatched] == [{"writetime:v": (1000, 2000)}], report.summary()


def test_a_ttl_only_difference_needs_ttl(check, sessions, table):
    origin, target = sessions
    origin.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 3000 AND TTL 1000 SET n = 1 WHERE p = 1 AND c = 1")
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 3000 AND TTL 5000 SET n = 1 WHERE p = 1 AND c = 1")
    assert check(table, splits=8, writetime=True, settle_seconds=0.1).consistent
    report = check(table, splits=8, ttl=True, settle_seconds=0.1)
    assert [set(d.columns) for d in report.mismatched] == [{"ttl:n"}], report.summary()


def test_a_static_column_difference_is_reported_once(check, sessions, table):
    _, target = sessions
    target.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET s = 'other' WHERE p = 9")
    report = check(table, splits=8, settle_seconds=0.1)
    assert [(d.key, d.columns) for d in report.mismatched] == [
        ({"p": 9, "c": 0}, {"s": ("static-9", "other")})
    ]


def test_null_cell_versus_missing_row(check, sessions, table):
    origin, target = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c) VALUES (11, 50)")  # row with only its key: null cells
    target.execute(f"INSERT INTO {KS}.{table} (p, c) VALUES (11, 50)")
    target.execute(f"DELETE v FROM {KS}.{table} USING TIMESTAMP 1001 WHERE p = 11 AND c = 5")  # null vs value
    report = check(table, splits=8, settle_seconds=0.1)
    assert not report.missing_on_target and not report.missing_on_origin
    assert [(d.key, d.columns) for d in report.mismatched] == [({"p": 11, "c": 5}, {"v": ("v11-5", None)})]


def test_table_with_only_a_partition_key_and_a_wide_partition(check, sessions):
    origin, target = sessions
    keys_only, wide = f"keys_only{next(_n)}", f"wide{next(_n)}"
    for s in (origin, target):
        s.execute(f"CREATE TABLE {KS}.{keys_only} (k int PRIMARY KEY)")
        s.execute(
            f"CREATE TABLE {KS}.{wide} (p int, c int, v int, PRIMARY KEY (p, c)) "
            "WITH CLUSTERING ORDER BY (c DESC)"
        )
        ins_k, ins_w = (
            s.prepare(f"INSERT INTO {KS}.{keys_only} (k) VALUES (?)"),
            s.prepare(f"INSERT INTO {KS}.{wide} (p, c, v) VALUES (0, ?, ?)"),
        )
        for i in range(300):
            s.execute(ins_k, (i,))
        for c in range(5000):
            s.execute(ins_w, (c, c))
    origin.execute(f"INSERT INTO {KS}.{keys_only} (k) VALUES (1000)")
    target.execute(f"UPDATE {KS}.{wide} SET v = -1 WHERE p = 0 AND c = 4321")
    keys = check(keys_only, splits=4, settle_seconds=0.1)
    assert keys.rows_compared == 301 and [d.key for d in keys.missing_on_target] == [{"k": 1000}]
    wide = check(wide, splits=4, page_size=500, settle_seconds=0.1)
    assert wide.rows_compared == 5000 and [d.key for d in wide.mismatched] == [{"p": 0, "c": 4321}]


def test_live_writes_are_not_reported_when_they_settle(check, sessions, table):
    """A write that reached origin and reaches target a moment later is resolved by the re-check.

    The late write lands on target after the scan and before the re-check: when the engine says it is
    about to re-check (deterministic for both engines, however long the scan takes).
    """
    origin, target = sessions
    write = f"INSERT INTO {KS}.{table} (p, c, v) VALUES (15, 77, 'in flight') USING TIMESTAMP 5000"
    origin.execute(write)

    def late(message):
        if "re-checking" in message:
            target.execute(write)

    report = check(table, splits=8, settle_seconds=0.5, progress=late, same=False)
    assert report.consistent, report.summary()
    assert report.found_before_recheck == 1 and report.resolved_by_recheck == 1


def test_partial_scans_cover_what_they_say(check, engine, sessions, table):
    if engine == "spark":
        with pytest.raises(ZdmError, match="whole tables"):
            check(table, fraction=0.25)
        return
    sampled = check(table, splits=16, fraction=0.25)
    assert sampled.splits_scanned == 4 and sampled.splits_total == 16 and 0 < sampled.rows_compared < 200
    first_half = check(table, splits=4, token_range=(-(2**63), 0))
    second_half = check(table, splits=4, token_range=(0, 2**63 - 1))
    assert (
        first_half.rows_compared + second_half.rows_compared >= 200
    )  # token 0 boundary row counted once each side


def test_repair_copies_origin_with_its_write_time_and_never_deletes(check, sessions, table):
    origin, target = sessions
    origin.execute(f"INSERT INTO {KS}.{table} (p, c, v, n) VALUES (4, 70, 'lost', 5) USING TIMESTAMP 7000")
    origin.execute(f"UPDATE {KS}.{table} USING TIMESTAMP 2000 SET v = 'fresh' WHERE p = 4 AND c = 3")
    target.execute(f"INSERT INTO {KS}.{table} (p, c, v) VALUES (4, 71, 'target only')")
    report = check(table, splits=8, settle_seconds=0.1, repair=True, same=False)
    assert report.repaired == 2 and any("never deletes" in r for r in report.not_repaired), (
        report.not_repaired
    )
    row = target.execute(f"SELECT v, WRITETIME(v) AS wt FROM {KS}.{table} WHERE p = 4 AND c = 70").one()
    assert (row.v, row.wt) == ("lost", 7000)
    after = check(table, splits=8, writetime=True, settle_seconds=0.1)
    assert [d.key for d in after.differences] == [{"p": 4, "c": 71}], after.summary()


def test_report_json_lines_and_unknown_table(check, sessions, table, tmp_path):
    _, target = sessions
    target.execute(
        f"UPDATE {KS}.{table} USING TIMESTAMP 1001 SET home = {{city: 'x', zip: 1}} WHERE p = 2 AND c = 9"
    )
    report = check(table, splits=4, settle_seconds=0.1)
    lines = report.write_json_lines(tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"kind": "mismatch"' in lines[0] and '"city"' not in lines[0], "hashed"
    assert '"home": {"origin": "<' in lines[0] and '"key": {"c": 9, "p": 2}' in lines[0]
    report.values = "full"
    lines = report.write_json_lines(tmp_path / "full.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"city": "x"' in lines[0]
    with pytest.raises(ZdmError, match="does not exist"):
        check("no_such_table")


def _new_table(sessions, columns):
    name = f"t{next(_n)}"
    for s in sessions:
        s.execute(f"CREATE TABLE {KS}.{name} ({columns})")
    return name


def test_a_null_moved_to_another_column_differs(check, sessions):
    """(a=null, b=1) against (a=1, b=null): a digest that skipped nulls would see the same row."""
    origin, target = sessions
    name = _new_table(sessions, "k int PRIMARY KEY, a int, b int")
    for s in sessions:
        for k in range(50):
            s.execute(f"INSERT INTO {KS}.{name} (k, a, b) VALUES (%s, %s, %s) USING TIMESTAMP 9", (k, k, k))
    origin.execute(f"INSERT INTO {KS}.{name} (k, b) VALUES (100, 1) USING TIMESTAMP 1000")
    target.execute(f"INSERT INTO {KS}.{name} (k, a) VALUES (100, 1) USING TIMESTAMP 1000")
    report = check(name, settle_seconds=0.1)
    assert [(d.key, d.columns) for d in report.mismatched] == [
        ({"k": 100}, {"a": (None, 1), "b": (1, None)})
    ], report.summary()


def test_large_sets_and_maps_compare_by_content(check, sessions):
    """Sets and maps of many elements agree whatever order a reader returns them in; one value differs."""
    _, target = sessions
    columns = "k int PRIMARY KEY, tags set<text>, attrs map<text, int>, fl frozen<list<int>>"
    name = _new_table(sessions, columns)
    tags = {f"tag-{i:02d}" for i in range(30)}
    attrs = {f"attr-{i:02d}": i for i in range(30)}
    for s in sessions:
        insert = s.prepare(
            f"INSERT INTO {KS}.{name} (k, tags, attrs, fl) VALUES (?, ?, ?, ?) USING TIMESTAMP 1000"
        )
        for k in range(20):
            s.execute(insert, (k, tags, attrs, list(range(k))))
    assert check(name, writetime=True, settle_seconds=0.1).consistent
    target.execute(f"UPDATE {KS}.{name} SET attrs['attr-17'] = -17 WHERE k = 3")
    report = check(name, settle_seconds=0.1)
    assert [(d.key, set(d.columns)) for d in report.mismatched] == [({"k": 3}, {"attrs"})], report.summary()


def test_uuid_timestamp_and_blob_keys_survive_the_trip(check, sessions):
    """Keys Spark renders as other types (uuid as text, blob as bytearray) still find their rows."""
    import datetime as dt
    import uuid

    origin, target = sessions
    name = _new_table(sessions, "id uuid, at timestamp, b blob, v text, PRIMARY KEY (id, at, b)")
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678000)
    ids = [uuid.UUID(int=i * 7919) for i in range(1, 30)]
    for s in sessions:
        insert = s.prepare(f"INSERT INTO {KS}.{name} (id, at, b, v) VALUES (?, ?, ?, ?) USING TIMESTAMP 1000")
        for i in ids:
            s.execute(insert, (i, at, i.bytes[:4], str(i)))
    origin.execute(
        f"INSERT INTO {KS}.{name} (id, at, b, v) VALUES (%s, %s, %s, 'only')", (ids[3], at, b"\x00\xff")
    )
    target.execute(
        f"UPDATE {KS}.{name} USING TIMESTAMP 1001 SET v = 'changed' WHERE id = %s AND at = %s AND b = %s",
        (ids[5], at, ids[5].bytes[:4]),
    )
    report = check(name, settle_seconds=0.1)
    assert [d.key for d in report.missing_on_target] == [{"id": ids[3], "at": at, "b": b"\x00\xff"}]
    assert [d.key["id"] for d in report.mismatched] == [ids[5]], report.summary()


def test_the_spark_engine_keeps_the_password_out_of_what_people_read(engine, sessions, request, tmp_path):
    """A login's password reaches the connector, never the Spark conf left behind, its plans or its log."""
    if engine != "spark":
        pytest.skip("what the spark engine writes")
    spark = request.getfixturevalue("spark")
    from pytest_zdm.consistency.spark_engine import connector_options
    from pytest_zdm.cql import connect
    from pytest_zdm.model import CqlEndpoint, Credentials

    password = "Zdm-Spark-Probe-7f3a9c"
    clients = []
    for s in sessions:
        s.execute(f"CREATE ROLE IF NOT EXISTS zdm_spark_probe WITH PASSWORD = '{password}' AND LOGIN = true")
        s.execute(f"GRANT SELECT ON KEYSPACE {KS} TO zdm_spark_probe")
        point = s.cluster.contact_points[0]  # (host, port) where the lab's port is not 9042
        host, port = point if isinstance(point, tuple) else (point, s.cluster.port)
        login = Credentials("zdm_spark_probe", password)
        clients.append(connect(CqlEndpoint(host, port, "datacenter1"), login))
    try:
        probe = [c.session for c in clients]
        name = _new_table(sessions, "k int PRIMARY KEY, v int")
        sessions[0].execute(f"INSERT INTO {KS}.{name} (k, v) VALUES (1, 1)")
        assert connector_options(probe[0])["spark.cassandra.auth.password"] == password
        report = compare(*probe, KS, name, engine="spark", spark=spark.session, settle_seconds=0.1)
        assert [d.key for d in report.missing_on_target] == [{"k": 1}], report.summary()
        shown = [repr(report), report.summary(), report.write_json_lines(tmp_path / "r.jsonl").read_text()]
        shown.append(repr(spark.session.sparkContext.getConf().getAll()))
        shown.append(spark.session.conf._jconf.getAll().toString())
        shown.append(spark.log.read_text(errors="replace"))
        assert not [i for i, text in enumerate(shown) if password in text]
    finally:
        for c in clients:
            c.close()


def test_engine_names_are_checked(sessions, table):
    with pytest.raises(ZdmError, match="engine: expected python or spark"):
        compare(*sessions, KS, table, engine="hadoop")


def test_rate_limiter_spaces_reads():
    limiter = RateLimiter(1000.0)
    start = time.monotonic()
    for _ in range(5):
        limiter.acquire(100)
    assert time.monotonic() - start >= 0.39  # 500 rows at 1000 rows/s: the first 100 are free
