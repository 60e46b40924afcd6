"""End to end: the dual-write phase as a workflow, from schema to verdict.

Schema created through the proxy exists identically on both clusters; an application-like workload
(orders created, updated, cancelled, read) runs through the proxy and every request is acknowledged; the
proxy's metrics show no failed write or read; and the data on origin and target are the same, for the
workload's table (the consistency suite compares your own tables).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.util import uuid_from_time

from pytest_zdm.assertions import Clusters, apply_schema
from pytest_zdm.consistency import compare
from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.proxy.metrics import MetricsSnapshot, scrape

pytestmark = [pytest.mark.zdm_required_for(2, 3, 4, 5), pytest.mark.zdm_stable_proxy]
CUSTOMERS = 50
ORDERS_PER_CUSTOMER = 20


@dataclass
class Workload:
    """What the workload did and what the proxy counted meanwhile."""

    keyspace: Keyspace
    writes: int
    reads: int
    failures: list[str]
    metrics: MetricsSnapshot


@pytest.fixture(scope="module")
def workload(zdm_env: Any, zdm_keyspace: Keyspace, proxy_session: Any, clusters: Clusters) -> Workload:
    """Run the application-like workload once through the proxy (client-side timestamps on every write)."""
    apply_schema(proxy_session, clusters, "end_to_end.cql", zdm_keyspace, ["orders"])
    ks = zdm_keyspace
    rng = random.Random(20261129)
    before = scrape(zdm_env.info.proxy_http)
    create = proxy_session.prepare(
        f"INSERT INTO {ks.qualified('orders')} (customer_id, order_id, status, amount_cents, items) "
        "VALUES (?, ?, 'NEW', ?, ?)"
    )
    orders = [
        (
            c,
            uuid_from_time(1_750_000_000 + c * 1000 + i),
            rng.randint(100, 99_999),
            {f"sku-{rng.randint(1, 9)}": 1},
        )
        for c in range(CUSTOMERS)
        for i in range(ORDERS_PER_CUSTOMER)
    ]
    failures: list[str] = []

    def run(statement: Any, args: list[Any]) -> int:
        results = execute_concurrent_with_args(
            proxy_session, statement, args, concurrency=32, raise_on_first_error=False
        )
        failures.extend(f"{type(r).__name__}: {r}" for ok, r in results if not ok)
        return len(args)

    writes = run(create, orders)
    pay = proxy_session.prepare(
        f"UPDATE {ks.qualified('orders')} "
        "SET status = 'PAID', items[?] = ? WHERE customer_id = ? AND order_id = ?"
    )
    writes += run(pay, [("gift-wrap", 1, c, o) for c, o, _, _ in orders[::3]])
    cancel = proxy_session.prepare(
        f"DELETE FROM {ks.qualified('orders')} WHERE customer_id = ? AND order_id = ?"
    )
    writes += run(cancel, [(c, o) for c, o, _, _ in orders[1::7]])
    read = proxy_session.prepare(f"SELECT * FROM {ks.qualified('orders')} WHERE customer_id = ?")
    reads = run(read, [(c,) for c in range(CUSTOMERS)])
    return Workload(ks, writes, reads, failures, scrape(zdm_env.info.proxy_http).delta(before))


def test_schema_is_identical_on_both_clusters(workload, clusters):
    """The table created through the proxy has the same columns and types on origin and target."""
    query = (
        "SELECT column_name, type, kind FROM system_schema.columns "
        "WHERE keyspace_name = %s AND table_name = %s"
    )
    keyspace = workload.keyspace
    rows = clusters.assert_same(query, (str(keyspace), keyspace.table("orders")), "orders schema")
    assert len(rows) == 5, f"orders has {len(rows)} columns on both clusters, expected 5"


def test_every_request_of_the_workload_was_acknowledged(workload):
    """Every write and read of the workload succeeded at the client (acknowledged by the proxy)."""
    assert not workload.failures, (
        f"{len(workload.failures)} of {workload.writes + workload.reads} requests failed: "
        f"{workload.failures[:3]}"
    )


def test_proxy_metrics_show_no_failed_requests(workload):
    """The proxy counted the workload's writes and no failed write (on either cluster) or failed read."""
    failed_writes = workload.metrics.value("zdm_proxy_failed_writes_total")
    failed_reads = workload.metrics.value("zdm_proxy_failed_reads_total")
    counted = workload.metrics.value("zdm_proxy_request_duration_seconds_count", type="writes")
    assert failed_writes == 0 and failed_reads == 0, (
        f"proxy counted {failed_writes:.0f} failed writes, {failed_reads:.0f} failed reads: "
        f"{workload.metrics.nonzero('zdm_proxy_failed')}"
    )
    assert counted >= workload.writes, (
        f"proxy counted {counted:.0f} writes, the workload sent {workload.writes}"
    )


def test_workload_data_is_identical_on_both_clusters(workload, clusters):
    """A token-range scan of the workload's table finds the same rows, values and WRITETIME on each."""
    keyspace = workload.keyspace
    report = compare(
        clusters.origin, clusters.target, keyspace, keyspace.table("orders"), splits=8, writetime=True
    )
    expected = CUSTOMERS * ORDERS_PER_CUSTOMER - len(range(1, CUSTOMERS * ORDERS_PER_CUSTOMER, 7))
    shown = "; ".join(str(d) for d in report.differences[:5])
    assert report.consistent, f"{report.summary()}. First differences: {shown}"
    assert report.rows_compared == expected, (
        f"{report.rows_compared} orders compared, the workload leaves {expected}"
    )
