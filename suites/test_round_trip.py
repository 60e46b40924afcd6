"""Round trip: a row written through zdm-proxy is on the origin cluster and on the target cluster.

The first thing a team proves when dual writes are switched on (ZDM phase 1). The full dual-write,
connection, error-recovery and end-to-end suites build on the same fixtures.
"""

from __future__ import annotations

import uuid


def test_write_through_proxy_lands_on_origin_and_target(
    zdm_keyspace, proxy_session, origin_session, target_session
):
    """INSERT through the proxy with a client timestamp; read it straight from each cluster."""
    table = f"{zdm_keyspace}.round_trip"
    proxy_session.execute(f"CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY, value text)")
    key, value, ts = uuid.uuid4(), f"written-through-proxy-{uuid.uuid4().hex[:8]}", 1_700_000_000_000_000
    proxy_session.execute(
        f"INSERT INTO {table} (id, value) VALUES (%s, %s) USING TIMESTAMP {ts}", (key, value)
    )
    query = f"SELECT value, WRITETIME(value) AS wt FROM {table} WHERE id = %s"
    on_origin = origin_session.execute(query, (key,)).one()
    on_target = target_session.execute(query, (key,)).one()
    assert on_origin is not None, f"row {key} written through the proxy is missing on origin"
    assert on_target is not None, f"row {key} written through the proxy is missing on target"
    assert (on_origin.value, on_origin.wt) == (value, ts), f"origin holds {on_origin}, expected {(value, ts)}"
    assert (on_target.value, on_target.wt) == (value, ts), f"target holds {on_target}, expected {(value, ts)}"
