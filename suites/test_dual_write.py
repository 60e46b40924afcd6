"""Dual write: every kind of statement written through the proxy is on origin AND target, identically.

Each check writes through the proxy (with a client-side timestamp, as applications should during a
migration), then reads straight from each cluster and compares values and, where a timestamp was set,
WRITETIME. Known divergence sources are checked and explained, not hidden: writes without a client
timestamp, ``now()`` without ``ZDM_REPLACE_CQL_FUNCTIONS``, ``uuid()``, and LWT results (the primary's).
Reads are proven to come from the primary by writing different data straight to each cluster.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from pytest_zdm import lint
from pytest_zdm.assertions import Clusters, apply_schema, wait_until
from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.proxy.metrics import scrape

pytestmark = [pytest.mark.zdm_required_for(1, 2, 3, 4, 5), pytest.mark.zdm_stable_proxy]
TS = 1_750_000_000_000_000  # a fixed client timestamp (microseconds) so WRITETIME is known exactly
KINDS = (
    "SELECT pk, ck, v, n, s, tags, scores, attrs, home, work, WRITETIME(v) AS wt_v, TTL(v) AS ttl_v "
    "FROM {kinds} WHERE pk = %s AND ck = %s"
)


@pytest.fixture(scope="module")
def ks(zdm_keyspace: Keyspace, proxy_session: Any, clusters: Clusters) -> Keyspace:
    """The suite's schema, created through the proxy (so on both clusters)."""
    tables = ["kinds", "counters", "lwt", "generated", "routing"]
    apply_schema(proxy_session, clusters, "dual_write.cql", zdm_keyspace, tables)
    return zdm_keyspace


@pytest.fixture
def pk() -> int:
    """A partition key no other check uses."""
    return uuid.uuid4().int % 2**31


def _kinds(ks: Keyspace) -> str:
    """The select of one row of the ``kinds`` table, with the write time and TTL of ``v``."""
    return KINDS.format(kinds=ks.qualified("kinds"))


def _row(clusters: Clusters, ks: Keyspace, pk: int, ck: int) -> dict[str, Any]:
    return clusters.one(_kinds(ks), (pk, ck))


def test_insert_simple_statement(ks, pk, proxy_session, clusters):
    """A simple INSERT ... USING TIMESTAMP lands on both clusters with the same value and WRITETIME."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v, n) "
        f"VALUES (%s, 1, 'simple', 7) USING TIMESTAMP {TS}",
        (pk,),
    )
    clusters.assert_row(
        _kinds(ks),
        (pk, 1),
        {"v": "simple", "n": 7, "wt_v": TS},
        "simple INSERT",
    )


def test_insert_prepared_statement(ks, pk, proxy_session, clusters):
    """A prepared INSERT (PREPARE goes to both; the proxy maps statement ids) lands on both clusters."""
    insert = proxy_session.prepare(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v, n) VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
    )
    for ck in range(3):
        proxy_session.execute(insert, (pk, ck, f"prepared-{ck}", ck * 10, TS + ck))
    for ck in range(3):
        clusters.assert_row(
            _kinds(ks),
            (pk, ck),
            {"v": f"prepared-{ck}", "n": ck * 10, "wt_v": TS + ck},
            "prepared INSERT",
        )


def test_update_cell(ks, pk, proxy_session, clusters):
    """An UPDATE of one cell replaces it on both clusters, with the newer WRITETIME."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (%s, 1, 'before') USING TIMESTAMP {TS}",
        (pk,),
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} USING TIMESTAMP {TS + 5} SET v = 'after' WHERE pk = %s AND ck = 1",
        (pk,),
    )
    clusters.assert_row(_kinds(ks), (pk, 1), {"v": "after", "wt_v": TS + 5}, "UPDATE of a cell")


def test_delete_row(ks, pk, proxy_session, clusters):
    """DELETE of a row removes it from both clusters."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (%s, 1, 'doomed') USING TIMESTAMP {TS}",
        (pk,),
    )
    proxy_session.execute(
        f"DELETE FROM {ks.qualified('kinds')} USING TIMESTAMP {TS + 1} WHERE pk = %s AND ck = 1", (pk,)
    )
    clusters.assert_absent(_kinds(ks), (pk, 1), "DELETE of a row")


def test_delete_clustering_range(ks, pk, proxy_session, clusters):
    """A range DELETE over clustering keys removes exactly that range on both clusters."""
    for ck in range(6):
        proxy_session.execute(
            f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (%s, %s, 'r') USING TIMESTAMP {TS}",
            (pk, ck),
        )
    proxy_session.execute(
        f"DELETE FROM {ks.qualified('kinds')} USING TIMESTAMP {TS + 1} WHERE pk = %s AND ck >= 2 AND ck < 5",
        (pk,),
    )
    rows = clusters.assert_same(
        f"SELECT ck FROM {ks.qualified('kinds')} WHERE pk = %s", (pk,), "range DELETE"
    )
    assert sorted(r["ck"] for r in rows) == [0, 1, 5], f"range DELETE left {rows} on both clusters"


def test_delete_cell(ks, pk, proxy_session, clusters):
    """DELETE of one column nulls it on both clusters and keeps the others."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v, n) VALUES (%s, 1, 'kept', 3) USING TIMESTAMP {TS}",
        (pk,),
    )
    proxy_session.execute(
        f"DELETE n FROM {ks.qualified('kinds')} USING TIMESTAMP {TS + 1} WHERE pk = %s AND ck = 1", (pk,)
    )
    clusters.assert_row(_kinds(ks), (pk, 1), {"v": "kept", "n": None}, "DELETE of a cell")


def test_delete_collection_elements(ks, pk, proxy_session, clusters):
    """Removing a map entry, a set element and a list element gives the same collections on both."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, tags, scores, attrs) "
        f"VALUES (%s, 1, {{'a','b','c'}}, [1,2,3], "
        f"{{'x': 1, 'y': 2}}) USING TIMESTAMP {TS}",
        (pk,),
    )
    proxy_session.execute(
        f"DELETE attrs['x'], scores[0] FROM {ks.qualified('kinds')} "
        f"USING TIMESTAMP {TS + 1} WHERE pk = %s AND ck = 1",
        (pk,),
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} "
        f"USING TIMESTAMP {TS + 2} SET tags = tags - {{'b'}} WHERE pk = %s AND ck = 1",
        (pk,),
    )
    clusters.assert_row(
        _kinds(ks),
        (pk, 1),
        {"tags": {"a", "c"}, "scores": [2, 3], "attrs": {"y": 2}},
        "collection DELETE",
    )


@pytest.mark.parametrize("batch_type", [BatchType.LOGGED, BatchType.UNLOGGED], ids=["logged", "unlogged"])
def test_batch(ks, pk, proxy_session, clusters, batch_type):
    """A batch (logged or unlogged) of inserts, an update and a delete is applied whole on both clusters."""
    insert = proxy_session.prepare(f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=batch_type)
    for ck in range(4):
        batch.add(insert, (pk, ck, f"batched-{ck}"))
    batch.add(
        SimpleStatement(f"UPDATE {ks.qualified('kinds')} SET v = 'batched-updated' WHERE pk = %s AND ck = 0"),
        (pk,),
    )
    batch.add(SimpleStatement(f"DELETE FROM {ks.qualified('kinds')} WHERE pk = %s AND ck = 3"), (pk,))
    proxy_session.execute(batch)
    rows = clusters.assert_same(
        f"SELECT ck, v, WRITETIME(v) AS wt FROM {ks.qualified('kinds')} WHERE pk = %s", (pk,), "batch"
    )
    assert [(r["ck"], r["v"]) for r in rows] == [
        (0, "batched-updated"),
        (1, "batched-1"),
        (2, "batched-2"),
    ], rows


def test_batch_using_timestamp(ks, pk, proxy_session, clusters):
    """``BEGIN BATCH USING TIMESTAMP`` gives every statement that WRITETIME on both clusters."""
    proxy_session.execute(
        f"BEGIN BATCH USING TIMESTAMP {TS} "
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES ({pk}, 1, 'b1'); "
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES ({pk}, 2, 'b2'); APPLY BATCH"
    )
    for ck in (1, 2):
        clusters.assert_row(
            _kinds(ks),
            (pk, ck),
            {"v": f"b{ck}", "wt_v": TS},
            "batch USING TIMESTAMP",
        )


def test_ttl(ks, pk, proxy_session, clusters):
    """A write with TTL expires at the same time on both clusters (TTLs agree within 2 s)."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) "
        f"VALUES (%s, 1, 'expiring') USING TTL 3600 AND TIMESTAMP {TS}",
        (pk,),
    )
    rows = _row(clusters, ks, pk, 1)
    assert rows["origin"] and rows["target"], f"TTL write missing: {rows}"
    ttls = {c: r["ttl_v"] for c, r in rows.items()}
    assert all(ttl is not None and 3590 <= ttl <= 3600 for ttl in ttls.values()), (
        f"TTL(v) per cluster: {ttls}"
    )
    assert abs(ttls["origin"] - ttls["target"]) <= 2, f"TTLs differ between clusters: {ttls}"
    assert rows["origin"]["wt_v"] == rows["target"]["wt_v"] == TS


def test_collections(ks, pk, proxy_session, clusters):
    """Appends, prepends, set additions and map puts give identical collections on both clusters."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, scores, tags, attrs) "
        f"VALUES (%s, 1, [5], {{'m'}}, {{'k': 1}})",
        (pk,),
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} "
        f"SET scores = scores + [6], tags = tags + {{'n'}} WHERE pk = %s AND ck = 1",
        (pk,),
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} SET scores = [4] + scores, attrs['j'] = 2 WHERE pk = %s AND ck = 1",
        (pk,),
    )
    clusters.assert_row(
        _kinds(ks),
        (pk, 1),
        {"scores": [4, 5, 6], "tags": {"m", "n"}, "attrs": {"j": 2, "k": 1}},
        "collection updates",
    )


def test_user_defined_types(ks, pk, proxy_session, clusters):
    """A frozen UDT written whole and a non-frozen UDT updated field by field agree on both clusters."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, home, work) VALUES (%s, 1, "
        "{street: 'Main 1', city: 'Paris', zip: 75001}, {street: 'Dock 2', city: 'Lyon', zip: 69001})",
        (pk,),
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} SET work.city = 'Nantes' WHERE pk = %s AND ck = 1", (pk,)
    )
    clusters.assert_row(
        _kinds(ks),
        (pk, 1),
        {
            "home": {"street": "Main 1", "city": "Paris", "zip": 75001},
            "work": {"street": "Dock 2", "city": "Nantes", "zip": 69001},
        },
        "UDT writes",
    )


@pytest.mark.zdm_requires_cassandra("5.0")
def test_vector_column(ks, pk, proxy_session, clusters):
    """A ``vector<float, 3>`` column (Cassandra 5.0 on) written through the proxy is identical on both.

    Vectors exist only from Cassandra 5.0: where a cluster runs 4.x the check is not applicable (skipped
    with that reason, not required by the gate), and an application cannot use them until the cut-over.
    """
    table = ks.qualified("embeddings")  # the framework's own name: a team keyspace's tables are the team's
    proxy_session.execute(f"CREATE TABLE IF NOT EXISTS {table} (k int PRIMARY KEY, e vector<float, 3>)")
    wait_until(
        lambda: all(
            s.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
                (ks, ks.table("embeddings")),
            ).one()
            for s in (clusters.origin, clusters.target)
        ),
        timeout=30,
        what=f"{table} on both clusters",
    )
    insert = proxy_session.prepare(f"INSERT INTO {table} (k, e) VALUES (?, ?) USING TIMESTAMP {TS}")
    proxy_session.execute(insert, (pk, [0.5, -1.25, 3.0]))
    clusters.assert_row(
        f"SELECT e, WRITETIME(e) AS wt FROM {table} WHERE k = %s",
        (pk,),
        {"e": [0.5, -1.25, 3.0], "wt": TS},
        "vector column",
    )


def test_static_column(ks, pk, proxy_session, clusters):
    """A static column written once is seen by every row of the partition on both clusters."""
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v, s) "
        f"VALUES (%s, 1, 'r1', 'shared') USING TIMESTAMP {TS}",
        (pk,),
    )
    proxy_session.execute(
        f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (%s, 2, 'r2') USING TIMESTAMP {TS}", (pk,)
    )
    proxy_session.execute(
        f"UPDATE {ks.qualified('kinds')} USING TIMESTAMP {TS + 1} SET s = 'shared-2' WHERE pk = %s", (pk,)
    )
    rows = clusters.assert_same(
        f"SELECT ck, s FROM {ks.qualified('kinds')} WHERE pk = %s", (pk,), "static column"
    )
    assert [(r["ck"], r["s"]) for r in rows] == [(1, "shared-2"), (2, "shared-2")], rows


def test_counters(ks, pk, proxy_session, clusters):
    """Counter increments and decrements through the proxy give the same counts on both clusters."""
    update = proxy_session.prepare(
        f"UPDATE {ks.qualified('counters')} SET hits = hits + ?, misses = misses - ? WHERE k = ?"
    )
    for i in range(1, 6):
        proxy_session.execute(update, (i, 1, pk))
    clusters.assert_row(
        f"SELECT hits, misses FROM {ks.qualified('counters')} WHERE k = %s",
        (pk,),
        {"hits": 15, "misses": -5},
        "counters",
    )


def test_lightweight_transaction_applied_on_both(ks, pk, proxy_session, clusters):
    """An LWT on a new key is applied on both clusters; a second one on the same key on neither."""
    first = proxy_session.execute(
        f"INSERT INTO {ks.qualified('lwt')} (k, v) VALUES (%s, 'first') IF NOT EXISTS", (pk,)
    )
    second = proxy_session.execute(
        f"INSERT INTO {ks.qualified('lwt')} (k, v) VALUES (%s, 'second') IF NOT EXISTS", (pk,)
    )
    assert first.was_applied and not second.was_applied, "LWT outcomes through the proxy"
    clusters.assert_row(
        f"SELECT v FROM {ks.qualified('lwt')} WHERE k = %s", (pk,), {"v": "first"}, "LWT INSERT IF NOT EXISTS"
    )


def test_lightweight_transaction_result_is_the_primarys(
    ks, pk, proxy_session, clusters, parsed_configuration
):
    """Explained divergence: an LWT is evaluated on each cluster; the client sees only the primary's result.

    A row that exists on the target only (e.g. not yet migrated the other way round) makes the same
    ``IF NOT EXISTS`` apply on origin and not on target; the client is told "applied" (origin is primary)
    and the clusters now differ. Teams must reconcile such keys; this check proves the mechanism.
    """
    clusters.target.execute(f"INSERT INTO {ks.qualified('lwt')} (k, v) VALUES (%s, 'target-only')", (pk,))
    result = proxy_session.execute(
        f"INSERT INTO {ks.qualified('lwt')} (k, v) VALUES (%s, 'through-proxy') IF NOT EXISTS", (pk,)
    )
    primary = lint.parsed_configuration_to_settings(parsed_configuration).get("ZDM_PRIMARY_CLUSTER", "ORIGIN")
    rows = clusters.one(f"SELECT v FROM {ks.qualified('lwt')} WHERE k = %s", (pk,))
    assert rows["target"] == {"v": "target-only"}, f"target should keep its own row, holds {rows['target']}"
    assert rows["origin"] == {"v": "through-proxy"}, (
        f"origin should have applied the LWT, holds {rows['origin']}"
    )
    expected_applied = primary == "ORIGIN"
    assert result.was_applied is expected_applied, (
        f"client saw [applied]={result.was_applied}; the primary ({primary}) applied={expected_applied}"
    )


def test_client_timestamps_give_identical_writetimes(zdm_env, ks, pk, proxy_session, clusters, evidence):
    """Writes without ``USING TIMESTAMP`` get the same WRITETIME on both clusters thanks to client timestamps.

    Explained divergence: the driver sends a client-side timestamp by default and the proxy forwards the
    same frame to both clusters, so WRITETIMEs agree. An application that turns client timestamps off lets
    each cluster stamp the write with its own clock (millisecond resolution): WRITETIMEs then differ as soon
    as the two clusters see the write in different milliseconds, and last-write-wins can resolve a later
    conflict differently on each cluster. The share of server-stamped writes that diverged here is recorded.
    """
    for ck in range(20):
        proxy_session.execute(
            f"INSERT INTO {ks.qualified('kinds')} (pk, ck, v) VALUES (%s, %s, 'client-stamped')", (pk, ck)
        )
    for ck in range(20):
        rows = _row(clusters, ks, pk, ck)
        assert rows["origin"] and rows["target"], f"write {ck} missing on a cluster: {rows}"
        assert rows["origin"]["wt_v"] == rows["target"]["wt_v"], (
            f"WRITETIME differs although the driver sent a client timestamp: {rows}"
        )
    client = zdm_env.connect("proxy", keyspace=ks)
    try:
        client.session.use_client_timestamp = False
        for ck in range(100, 150):
            client.session.execute(
                f"INSERT INTO {ks.table('kinds')} (pk, ck, v) VALUES (%s, %s, 'server-stamped')", (pk, ck)
            )
    finally:
        client.close()
    differing = 0
    for ck in range(100, 150):
        rows = _row(clusters, ks, pk, ck)
        assert rows["origin"] and rows["target"], f"server-stamped write {ck} missing on a cluster: {rows}"
        differing += rows["origin"]["wt_v"] != rows["target"]["wt_v"]
    evidence("server_stamped_writetime_divergence", f"{differing} of 50 writes without client timestamp")


def test_now_function(ks, pk, proxy_session, clusters, parsed_configuration):
    """Explained divergence: ``now()`` is evaluated per cluster unless ZDM_REPLACE_CQL_FUNCTIONS=true."""
    replaced = bool(parsed_configuration.get("ReplaceCqlFunctions"))
    proxy_session.execute(f"INSERT INTO {ks.qualified('generated')} (k, t) VALUES (%s, now())", (pk,))
    rows = clusters.one(f"SELECT t FROM {ks.qualified('generated')} WHERE k = %s", (pk,))
    assert rows["origin"] and rows["target"], f"now() write missing on a cluster: {rows}"
    same = rows["origin"]["t"] == rows["target"]["t"]
    if replaced:
        assert same, f"ZDM_REPLACE_CQL_FUNCTIONS=true but now() differs: {rows}"
    else:
        assert not same, (
            f"now() gave the same timeuuid on both clusters without ZDM_REPLACE_CQL_FUNCTIONS: {rows}"
        )


def test_uuid_function_always_differs(ks, pk, proxy_session, clusters):
    """Explained divergence: ``uuid()`` is never replaced by the proxy; each cluster generates its own."""
    proxy_session.execute(f"INSERT INTO {ks.qualified('generated')} (k, u) VALUES (%s, uuid())", (pk,))
    rows = clusters.one(f"SELECT u FROM {ks.qualified('generated')} WHERE k = %s", (pk,))
    assert rows["origin"] and rows["target"], f"uuid() write missing on a cluster: {rows}"
    assert rows["origin"]["u"] != rows["target"]["u"], "uuid() gave the same value on both clusters"


@pytest.mark.parametrize("missing_on", ["target", "origin"])
def test_write_rejected_by_one_cluster_is_not_rolled_back(
    zdm_env, ks, pk, proxy_session, clusters, missing_on, evidence
):
    """Explained divergence: a write one cluster rejects fails at the client but stays on the other cluster.

    Seeded with a table that exists on one cluster only (schema not created on both, a classic migration
    slip): the client gets the rejecting cluster's error, the proxy counts a failed write on it, and the
    other cluster keeps the row. The proxy never rolls back: such keys need reconciliation.
    """
    has = "origin" if missing_on == "target" else "target"
    table = ks.qualified(f"only_on_{has}")
    getattr(clusters, has).execute(f"CREATE TABLE IF NOT EXISTS {table} (k int PRIMARY KEY, v text)")
    before = scrape(zdm_env.info.proxy_http)
    with pytest.raises(Exception) as failure:
        proxy_session.execute(f"INSERT INTO {table} (k, v) VALUES (%s, 'half')", (pk,))
    row = getattr(clusters, has).execute(f"SELECT v FROM {table} WHERE k = %s", (pk,)).one()
    assert row is not None and row.v == "half", (
        f"{has} should keep the write {missing_on} rejected, holds {row}"
    )
    failed = (
        scrape(zdm_env.info.proxy_http)
        .delta(before)
        .value("zdm_proxy_failed_writes_total", failed_on=missing_on)
    )
    assert failed >= 1, f"proxy did not count a failed write on {missing_on}"
    evidence("partial_write", f"{table} k={pk} on {has} only ({type(failure.value).__name__})")


def test_reads_come_from_the_primary(zdm_env, ks, pk, proxy_session, clusters, request):
    """With different data written straight to each cluster, a read through the proxy returns the primary's.

    This is how the ZDM documentation says to check routing (system tables are answered by the proxy
    itself and prove nothing). The primary expected is the phase's (``--zdm-phase``), else the one the proxy
    is configured with (where the target can read the proxy's configuration).
    """
    clusters.origin.execute(f"INSERT INTO {ks.qualified('routing')} (k, v) VALUES (%s, 'from-origin')", (pk,))
    clusters.target.execute(f"INSERT INTO {ks.qualified('routing')} (k, v) VALUES (%s, 'from-target')", (pk,))
    phase = zdm_env.settings.zdm_phase
    if phase and lint.PHASES[phase]:
        expected = lint.PHASES[phase][0]
    else:
        parsed = request.getfixturevalue("parsed_configuration")
        expected = lint.parsed_configuration_to_settings(parsed).get("ZDM_PRIMARY_CLUSTER", "ORIGIN")
    row = proxy_session.execute(f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s", (pk,)).one()
    answered_by = {"from-origin": "ORIGIN", "from-target": "TARGET"}.get(row.v if row else None)
    assert answered_by == expected, (
        f"a read through the proxy was answered by {answered_by}, expected the primary {expected}"
        + (f" (phase {phase})" if phase else "")
    )


@pytest.mark.zdm_required_for(4, 5, when_proxy_phase=3)
def test_async_dual_reads_reach_the_secondary(zdm_env, ks, pk, proxy_session, parsed_configuration):
    """With DUAL_ASYNC_ON_SECONDARY every read is also sent to the secondary: its async metrics move."""
    if parsed_configuration.get("ReadMode") != "DUAL_ASYNC_ON_SECONDARY":
        pytest.skip(f"proxy read mode is {parsed_configuration.get('ReadMode')}: no async reads to observe")
    before = scrape(zdm_env.info.proxy_http)
    for _ in range(20):
        proxy_session.execute(f"SELECT v FROM {ks.qualified('routing')} WHERE k = %s", (pk,))

    def finished() -> Any:  # async reads are fire-and-forget: wait until the proxy has counted them
        delta = scrape(zdm_env.info.proxy_http).delta(before)
        done = delta.value("zdm_async_request_duration_seconds_count", type="reads")
        return delta if done + delta.value("zdm_async_requests_failed_total") >= 20 else None

    try:
        delta = wait_until(finished, timeout=5, what="20 async reads counted by the proxy", interval=0.1)
    except AssertionError:  # judged below, with what was counted
        delta = scrape(zdm_env.info.proxy_http).delta(before)
    sent = delta.value("zdm_async_request_duration_seconds_count", type="reads")
    failed = delta.value("zdm_async_requests_failed_total")
    assert sent >= 20, (
        f"20 reads through the proxy produced {sent:.0f} async reads: {delta.nonzero('zdm_async')}"
    )
    assert failed == 0, f"{failed:.0f} async reads failed on the secondary: {delta.nonzero('zdm_async')}"
