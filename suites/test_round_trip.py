"""Round trip: a row written through zdm-proxy is on the origin cluster and on the target cluster.

The first thing a team proves when dual writes are switched on (ZDM phase 1). The full dual-write,
connection, error-recovery and end-to-end suites build on the same fixtures.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pytest_zdm import cqlfiles

SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "round_trip.cql"


def test_write_through_proxy_lands_on_origin_and_target(
    zdm_keyspace, proxy_session, origin_session, target_session
):
    """INSERT through the proxy with a client timestamp; read value and WRITETIME from each cluster."""
    cqlfiles.apply(proxy_session, SCHEMA, zdm_keyspace)
    table = f"{zdm_keyspace}.round_trip"
    key, value, ts = uuid.uuid4(), f"written-through-proxy-{uuid.uuid4().hex[:8]}", 1_700_000_000_000_000
    insert = f"INSERT INTO {table} (id, value) VALUES (%s, %s) USING TIMESTAMP {ts}"
    proxy_session.execute(insert, (key, value))
    query = f"SELECT value, WRITETIME(value) AS wt FROM {table} WHERE id = %s"
    for cluster, session in (("origin", origin_session), ("target", target_session)):
        row = session.execute(query, (key,)).one()
        assert row is not None, f"row {key} written through the proxy is missing on {cluster}"
        assert (row.value, row.wt) == (value, ts), (
            f"{cluster} holds {(row.value, row.wt)}, expected {(value, ts)}"
        )
