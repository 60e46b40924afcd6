"""Primary-key values as Spark returns them, turned back into the values the Python driver binds.

The Spark engine finds differing rows in Spark, then reads them through the drivers by key, so a key must
survive the trip: the connector gives uuid and timeuuid as strings, varint as a decimal, blob as a
bytearray, and PySpark gives timestamps as naive local datetimes. Everything else binds as it comes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from pytest_zdm.consistency.schema import TableShape


def driver_value(cql_type: str, value: Any) -> Any:
    """One key value in the type the driver expects for ``cql_type``."""
    if value is None:
        return None
    base = cql_type.removeprefix("frozen<").removesuffix(">") if cql_type.startswith("frozen<") else cql_type
    if base in ("uuid", "timeuuid"):
        return uuid.UUID(str(value))
    if base == "varint":
        return int(value)
    if base == "blob":
        return bytes(value)
    if base == "timestamp" and isinstance(value, dt.datetime):
        # PySpark renders a timestamp as a naive datetime in this process's time zone.
        aware = value if value.tzinfo else value.astimezone()
        return aware.astimezone(dt.timezone.utc)
    return value


def driver_key(shape: TableShape, values: Sequence[Any], *, partition_only: bool = False) -> dict[str, Any]:
    """``{column: value}`` of a key Spark returned (the partition key alone when ``partition_only``)."""
    columns = shape.partition_key if partition_only else shape.key
    return {c: driver_value(shape.cql_types[c], v) for c, v in zip(columns, values, strict=True)}
