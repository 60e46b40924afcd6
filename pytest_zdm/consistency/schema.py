"""What the comparison needs to know about a table, read from the driver's schema metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_zdm.errors import ZdmError

_NO_WRITETIME = ("list<", "set<", "map<", "counter")


@dataclass(frozen=True)
class TableShape:
    """Key columns in order, and the columns to compare."""

    keyspace: str
    table: str
    partition_key: tuple[str, ...]
    clustering: tuple[str, ...]
    static: tuple[str, ...]
    regular: tuple[str, ...]
    cql_types: dict[str, str]

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key columns (partition key, then clustering)."""
        return self.partition_key + self.clustering

    @property
    def values(self) -> tuple[str, ...]:
        """Every non-key column (static and regular)."""
        return self.static + self.regular

    def supports_cell_metadata(self, column: str) -> bool:
        """Whether WRITETIME/TTL can be selected for the column.

        Not for counters, nor for non-frozen collections or UDTs, whose cells each have their own.
        """
        cql_type = self.cql_types[column]
        if cql_type.startswith("frozen<"):
            return True
        return not cql_type.startswith(_NO_WRITETIME) and "." not in cql_type and not _is_udt(cql_type)

    @property
    def quoted(self) -> str:
        """``"keyspace"."table"`` for queries."""
        return f'"{self.keyspace}"."{self.table}"'


def _is_udt(cql_type: str) -> bool:
    builtin = {
        "ascii", "bigint", "blob", "boolean", "counter", "date", "decimal", "double", "duration", "float",
        "inet", "int", "smallint", "text", "time", "timestamp", "timeuuid", "tinyint", "uuid", "varchar",
        "varint",
    }  # fmt: skip
    return cql_type.split("<", 1)[0] not in builtin and not cql_type.startswith(("tuple<", "vector<"))


def table_shape(session: Any, keyspace: str, table: str, side: str = "the cluster") -> TableShape:
    """The table's shape as the session's cluster describes it; a one-line error if it does not exist."""
    metadata = session.cluster.metadata
    ks = metadata.keyspaces.get(keyspace)
    if ks is None or table not in ks.tables:
        session.cluster.refresh_schema_metadata()
        ks = metadata.keyspaces.get(keyspace)
    if ks is None or table not in ks.tables:
        raise ZdmError(f"table {keyspace}.{table} does not exist on {side}")
    meta = ks.tables[table]
    cols = meta.columns
    key = {c.name for c in meta.partition_key} | {c.name for c in meta.clustering_key}
    return TableShape(
        keyspace=keyspace,
        table=table,
        partition_key=tuple(c.name for c in meta.partition_key),
        clustering=tuple(c.name for c in meta.clustering_key),
        static=tuple(n for n, c in cols.items() if c.is_static and n not in key),
        regular=tuple(n for n, c in cols.items() if not c.is_static and n not in key),
        cql_types={n: c.cql_type for n, c in cols.items()},
    )
