"""Consistency: origin and target hold the same data, proven by a token-range scan of both clusters.

Uses the consistency engine (``pytest_zdm.consistency``): rows only on the target are seen too, write times
are compared where asked, and differences are re-read after a settle time so writes in flight are not
reported. The mismatch report of each table (JSON lines) is kept in ``reports/<run>/`` and named on the
check's result. Your tables (``--zdm-compare-tables``) are only read.
"""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from pytest_zdm.assertions import Clusters
from pytest_zdm.consistency import compare

pytestmark = [pytest.mark.zdm_required_for(3, 4, 5), pytest.mark.zdm_stable_proxy]
ROWS = 5000


def _check(report: Any, artifacts: Any, evidence: Any) -> None:
    path = report.write_json_lines(artifacts / f"consistency-{report.keyspace}.{report.table}.jsonl")
    evidence("consistency", report.summary())
    evidence("mismatch_report", str(path))
    shown = "; ".join(str(d) for d in report.differences[:5])
    assert report.consistent, f"{report.summary()}. First differences: {shown} (all in {path})"


def test_rows_written_through_the_proxy_are_identical_on_both_clusters(
    zdm_keyspace, proxy_session, clusters: Clusters, zdm_artifacts, evidence
):
    """5,000 rows written through the proxy are on both clusters, values and WRITETIME (engine scan)."""
    table = zdm_keyspace.qualified("consistency")
    proxy_session.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (p int, c int, v text, n bigint, PRIMARY KEY (p, c))"
    )
    insert = proxy_session.prepare(f"INSERT INTO {table} (p, c, v, n) VALUES (?, ?, ?, ?)")
    results = execute_concurrent_with_args(
        proxy_session, insert, [(i % 250, i, f"value-{i}", i * 7) for i in range(ROWS)], concurrency=64
    )
    assert all(ok for ok, _ in results), "writes through the proxy failed"
    name = zdm_keyspace.table("consistency")
    report = compare(clusters.origin, clusters.target, zdm_keyspace, name, splits=16, writetime=True)
    assert report.rows_compared == ROWS, report.summary()
    _check(report, zdm_artifacts, evidence)


def test_user_tables_are_identical_on_both_clusters(zdm_env, clusters: Clusters, zdm_artifacts, evidence):
    """Each table named in ``zdm_compare_tables`` holds the same rows on both clusters (read only)."""
    tables = zdm_env.settings.zdm_compare_tables
    if not tables:
        pytest.skip("zdm_compare_tables is empty: name your tables (--zdm-compare-tables=ks.table,...)")
    problems = []
    for name in tables:
        keyspace, table = name.split(".", 1)
        report = compare(
            clusters.origin,
            clusters.target,
            keyspace,
            table,
            writetime=zdm_env.settings.zdm_compare_writetime,
            max_rows_per_second=zdm_env.settings.zdm_compare_rate or None,
        )
        try:
            _check(report, zdm_artifacts, evidence)
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, " | ".join(problems)
