"""Readable assertions about what origin and target hold (in the spirit of cassandra-dtest's assertions).

Every failure message says which cluster, which key, which column, what it held and what was expected, so a
reviewer reading a report knows what diverged without rerunning anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_zdm.cql import files as cqlfiles
from pytest_zdm.runtime import wait as waiting


@dataclass
class Clusters:
    """Sessions straight to origin and straight to target, read side by side."""

    origin: Any
    target: Any

    def one(self, query: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        """The first row of ``query`` on each cluster (None where absent), as dicts."""
        return {
            name: _as_dict(session.execute(query, tuple(params)).one())
            for name, session in (("origin", self.origin), ("target", self.target))
        }

    def all(self, query: str, params: Sequence[Any] = ()) -> dict[str, list[dict[str, Any]]]:
        """All rows of ``query`` on each cluster, as dicts."""
        return {
            name: [_as_dict(r) or {} for r in session.execute(query, tuple(params))]
            for name, session in (("origin", self.origin), ("target", self.target))
        }

    def assert_row(self, query: str, params: Sequence[Any], expected: Mapping[str, Any], what: str) -> None:
        """Both clusters hold a row with exactly the ``expected`` column values."""
        rows = self.one(query, params)
        problems = []
        for cluster, row in rows.items():
            if row is None:
                problems.append(f"{cluster} has no row for {_key(params)}")
                continue
            for column, want in expected.items():
                if _norm(row.get(column)) != _norm(want):
                    problems.append(f"{cluster}.{column} = {row.get(column)!r}, expected {want!r}")
        assert not problems, f"{what}: " + "; ".join(problems)

    def assert_absent(self, query: str, params: Sequence[Any], what: str) -> None:
        """Neither cluster returns a row for ``query``."""
        rows = self.one(query, params)
        present = [f"{cluster} still has {row}" for cluster, row in rows.items() if row is not None]
        assert not present, f"{what}: " + "; ".join(present)

    def assert_same(self, query: str, params: Sequence[Any], what: str) -> list[dict[str, Any]]:
        """Both clusters return the same rows (compared as sets); returns origin's rows."""
        rows = self.all(query, params)
        only_origin = [r for r in rows["origin"] if r not in rows["target"]]
        only_target = [r for r in rows["target"] if r not in rows["origin"]]
        assert not only_origin and not only_target, (
            f"{what}: {len(only_origin)} row(s) only on origin {only_origin[:5]}, "
            f"{len(only_target)} row(s) only on target {only_target[:5]}"
        )
        return rows["origin"]


def _as_dict(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return dict(row._asdict()) if hasattr(row, "_asdict") else dict(row)


def _norm(value: Any) -> Any:
    """Driver collection types (SortedSet, OrderedMapSerializedKey) compared by content."""
    if hasattr(value, "_asdict"):  # UDTs come back as named tuples
        return {k: _norm(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)) or type(value).__name__ == "SortedSet":
        return frozenset(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _key(params: Sequence[Any]) -> str:
    return "key (" + ", ".join(repr(p) for p in params) + ")"


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; a timeout fails the check, quoting the last error."""
    return waiting.wait_until(
        check, timeout=timeout, what=what, interval=interval, retry_on=(Exception,), error=AssertionError
    )


def apply_schema(proxy: Any, clusters: Clusters, schema: str, keyspace: str, tables: Iterable[str]) -> None:
    """Create a suite's schema through the proxy and wait until both clusters have every table.

    ``tables`` are the schema's names; in a team's keyspace they carry the run's prefix.
    """
    cqlfiles.apply(proxy, cqlfiles.fixture(schema), keyspace)
    prefix = getattr(keyspace, "prefix", "")
    wanted = {f"{prefix}{name}" for name in tables}

    def present() -> bool:
        for session in (clusters.origin, clusters.target):
            rows = session.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (str(keyspace),)
            )
            if not wanted <= {r.table_name for r in rows}:
                return False
        return True

    wait_until(present, timeout=30, what=f"schema {schema} on both clusters")
