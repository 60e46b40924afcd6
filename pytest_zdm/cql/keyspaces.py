"""The framework's own keyspaces: the only place it ever writes, and the only thing it ever drops."""

from __future__ import annotations

import re
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.runtime.wait import wait_until

#: Every keyspace the framework creates starts with this; nothing else is ever written to or dropped.
PREFIX = "zdm_verify_"
_VALID = re.compile(r"[a-z][a-z0-9_]{0,47}")
SIMPLE_RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


def run_keyspace_name(run_id: str, worker: str) -> str:
    """A keyspace unique to this run and worker, within CQL's 48-character limit."""
    tag = re.sub(r"[^a-z0-9]", "", run_id.lower())[-12:]
    name = f"{PREFIX}{tag}_{re.sub(r'[^a-z0-9]', '', worker.lower())}"[:48]
    return name


def own(name: str) -> str:
    """Return ``name`` if it is one of the framework's keyspaces; raise otherwise."""
    if not name.startswith(PREFIX) or not _VALID.fullmatch(name):
        raise ZdmError(
            f"keyspace {name!r} is not a pytest-zdm keyspace (expected a name starting {PREFIX!r})"
        )
    return name


def create(session: Any, name: str, replication: str = SIMPLE_RF1) -> None:
    """Create one of the framework's keyspaces (through the proxy, so it exists on both clusters)."""
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {own(name)} WITH replication = {replication}")


def exists(session: Any, name: str) -> bool:
    """Whether ``name`` is in the schema the session sees."""
    rows = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
    )
    return rows.one() is not None


def wait_exists(sessions: dict[str, Any], name: str, timeout: float = 30.0) -> None:
    """Wait until every session (e.g. origin and target directly) sees the keyspace."""
    missing = list(sessions)

    def everywhere() -> bool:
        missing[:] = [label for label, session in sessions.items() if not exists(session, name)]
        return not missing

    wait_until(
        everywhere,
        timeout=timeout,
        what=f"keyspace {name} created through the proxy on every cluster",
        last=lambda: "missing on: " + ", ".join(missing),
    )


def drop(session: Any, name: str) -> None:
    """Drop one of the framework's keyspaces; refuses any other name."""
    session.execute(f"DROP KEYSPACE IF EXISTS {own(name)}")
