"""Consistency: origin and target hold the same data, proven by a token-range scan of both clusters.

Uses the consistency engine (``pytest_zdm.consistency``) that ``zdm_compare_engine`` selects (``python``,
one process, or ``spark``, a Spark job): rows only on the target are seen too, write times are compared
where asked, and differences are re-read after a settle time so writes in flight are not reported. The
mismatch report of each table (JSON lines) is kept in ``reports/<run>/`` and named on the check's result.
Your tables (``--zdm-compare-tables``) are only read.
"""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from pytest_zdm.assertions import Clusters
from pytest_zdm.errors import ZdmError

pytestmark = [pytest.mark.zdm_required_for(3, 4, 5), pytest.mark.zdm_stable_proxy]
ROWS = 5000


def _check(report: Any, artifacts: Any, evidence: Any) -> None:
    path = report.write_json_lines(artifacts / f"consistency-{report.keyspace}.{report.table}.jsonl")
    evidence("consistency", report.summary())
    evidence("mismatch_report", str(path))
    shown = report.first_differences(5)
    assert report.consistent, f"{report.summary()}. First differences: {shown} (all in {path})"


def test_rows_written_through_the_proxy_are_identical_on_both_clusters(
    zdm_keyspace, proxy_session, clusters: Clusters, zdm_artifacts, evidence, zdm_compare
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
    report = zdm_compare(clusters.origin, clusters.target, zdm_keyspace, name, splits=16, writetime=True)
    assert report.rows_compared == ROWS, report.summary()
    _check(report, zdm_artifacts, evidence)


def test_user_tables_are_identical_on_both_clusters(
    zdm_env, clusters: Clusters, zdm_artifacts, evidence, zdm_compare
):
    """Each table named in ``zdm_compare_tables`` holds the same rows on both clusters (read only).

    Every table is compared even when one cannot be (it does not exist on a cluster: one line for it).
    Mismatched values appear as ``zdm_mismatch_values`` says (hashed unless told). Tables with no row on
    either cluster prove nothing: when every table is empty the check is not verified (skipped). The
    engine is the one ``zdm_compare_engine`` names.
    """
    settings = zdm_env.settings
    if not settings.zdm_compare_tables:
        pytest.skip("zdm_compare_tables is empty: name your tables (--zdm-compare-tables=ks.table,...)")
    problems, empty = [], []
    for name in settings.zdm_compare_tables:
        keyspace, table = name.split(".", 1)
        try:
            report = zdm_compare(
                clusters.origin,
                clusters.target,
                keyspace,
                table,
                writetime=settings.zdm_compare_writetime,
                max_rows_per_second=settings.zdm_compare_rate or None,
            )
        except ZdmError as exc:
            problems.append(f"{name}: not compared: {exc}")
            continue
        report.values = settings.zdm_mismatch_values
        if report.rows_compared == 0:
            empty.append(name)
        try:
            _check(report, zdm_artifacts, evidence)
        except AssertionError as exc:
            problems.append(str(exc))
    if empty:
        evidence("empty_tables", ", ".join(empty))
    assert not problems, " | ".join(problems)
    if len(empty) == len(settings.zdm_compare_tables):
        pytest.skip(f"not verified: no row to compare in {', '.join(empty)} on either cluster")
