"""Where the framework writes, and the only things it ever drops.

Two cases. On clusters it may create keyspaces in (the labs, most self-managed clusters), it creates one
keyspace per run and worker, named ``zdm_verify_*``, with NetworkTopologyStrategy over each cluster's own
datacenters, and drops it at the end. On clusters where it may not (Astra creates keyspaces only through its
own API; a team may grant the framework one keyspace and nothing more), it works in an existing keyspace the
team names (``zdm_keyspace``): it creates no keyspace there, and creates and drops only its own tables and
types, named ``zdm_verify_<run>_<name>``. Every statement the framework builds passes one of the guards
here, so no name outside these is ever written to or dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.runtime.wait import wait_until

#: Every keyspace, table or type the framework creates starts with this.
PREFIX = "zdm_verify_"
_VALID = re.compile(r"[a-z][a-z0-9_]{0,47}")
SIMPLE_RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
#: Existing keyspaces a team named for this process (``zdm_keyspace``): only prefixed names inside them.
_TEAM_KEYSPACES: set[str] = set()


class Keyspace(str):
    """The keyspace a run writes in (its name, as a string) and how its tables there are named.

    In the framework's own keyspace a table keeps its name; in a team's keyspace it gets the run's prefix,
    so ``ks.table("orders")`` is ``zdm_verify_3f2a9c_gw0_orders`` there and ``orders`` in a
    ``zdm_verify_*`` keyspace. Suites write ``ks.qualified("orders")`` and never see the difference.
    """

    prefix: str

    def __new__(cls, name: str, prefix: str = "") -> Keyspace:
        """``name`` checked by the keyspace guard; ``prefix`` for tables (empty in a framework keyspace)."""
        instance = super().__new__(cls, own(name))
        instance.prefix = prefix
        return instance

    @property
    def owned(self) -> bool:
        """Whether the framework created this keyspace (and drops it) or works inside a team's."""
        return self.startswith(PREFIX)

    def table(self, name: str) -> str:
        """The name the framework gives its table (or type) ``name`` in this keyspace."""
        return own_table(self, f"{self.prefix}{name}")

    def qualified(self, name: str) -> str:
        """``keyspace.table`` for the framework's table ``name``."""
        return f"{self}.{self.table(name)}"


def run_keyspace_name(run_id: str, worker: str) -> str:
    """A keyspace unique to this run and worker, within CQL's 48-character limit."""
    tag = re.sub(r"[^a-z0-9]", "", run_id.lower())[-12:]
    name = f"{PREFIX}{tag}_{re.sub(r'[^a-z0-9]', '', worker.lower())}"[:48]
    return name


def run_table_prefix(run_id: str, worker: str) -> str:
    """The prefix of the run's tables in a team's keyspace (``zdm_verify_<run>_<worker>_``)."""
    return run_keyspace_name(run_id, worker) + "_"


def allow_team_keyspace(name: str) -> str:
    """Let the framework work in the team's existing keyspace ``name`` (its own prefixed tables only)."""
    if not _VALID.fullmatch(name):
        raise ZdmError(f"zdm_keyspace: expected a keyspace name (letters, digits, _), got {name!r}")
    _TEAM_KEYSPACES.add(name)
    return name


def own(name: str) -> str:
    """Return ``name`` if the framework may write in this keyspace; raise otherwise."""
    if (name.startswith(PREFIX) and _VALID.fullmatch(name)) or name in _TEAM_KEYSPACES:
        return name
    raise ZdmError(
        f"keyspace {name!r} is not a pytest-zdm keyspace (expected a name starting {PREFIX!r}, or the "
        "existing keyspace named by zdm_keyspace)"
    )


def own_table(keyspace: str, table: str) -> str:
    """Return ``table`` if the framework may create, write or drop it in ``keyspace``; raise otherwise.

    In a team's keyspace only the framework's own prefixed names: anything else there is the team's.
    """
    own(keyspace)
    if not _VALID.fullmatch(table):
        raise ZdmError(f"table name {table!r} in {keyspace} is not a plain CQL name")
    if not keyspace.startswith(PREFIX) and not table.startswith(PREFIX):
        raise ZdmError(
            f"table {keyspace}.{table} is not a pytest-zdm table (in the existing keyspace {keyspace} the "
            f"framework touches only names starting {PREFIX!r})"
        )
    return table


def network_topology(datacenters: Iterable[str], replication_factor: int) -> str:
    """NetworkTopologyStrategy with ``replication_factor`` in each datacenter."""
    per_dc = ", ".join(f"'{dc}': {replication_factor}" for dc in sorted(set(datacenters)))
    return "{'class': 'NetworkTopologyStrategy', " + per_dc + "}"


def datacenters(session: Any) -> set[str]:
    """The datacenters of the cluster a session is connected to (its node and the peers it knows)."""
    found = {row.data_center for row in session.execute("SELECT data_center FROM system.local")}
    found |= {row.data_center for row in session.execute("SELECT data_center FROM system.peers")}
    return {dc for dc in found if dc}


def create(session: Any, name: str, replication: str = SIMPLE_RF1) -> None:
    """Create one of the framework's keyspaces on the cluster of ``session``."""
    if not name.startswith(PREFIX):
        raise ZdmError(
            f"keyspace {name!r} is not a pytest-zdm keyspace: the framework creates only keyspaces starting "
            f"{PREFIX!r}"
        )
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {own(name)} WITH replication = {replication}")


def require_distinct(sessions: Mapping[str, Any]) -> None:
    """Origin and target must be two clusters: a one-line error naming the clash otherwise.

    A target endpoint that points at the origin (a copied zdm.toml line) would make every comparison read
    the origin twice and the framework's keyspace exist on one cluster only; this says so before any check.
    """
    seen: dict[str, str] = {}
    for label, session in sessions.items():
        row = session.execute("SELECT host_id, cluster_name FROM system.local").one()
        if row is None:
            continue
        key = str(row.host_id)
        if key in seen:
            raise ZdmError(
                f"{seen[key]} and {label} endpoints reach the same Cassandra node (host_id {key}, cluster "
                f"{row.cluster_name!r}): expected the target endpoint to reach the target cluster"
            )
        seen[key] = label


def create_on_each(sessions: Mapping[str, Any], name: str, replication_factor: int) -> None:
    """Create the keyspace on each cluster with NetworkTopologyStrategy over that cluster's datacenters.

    Straight to each cluster, not through the proxy: origin and target may name their datacenters
    differently, and Cassandra refuses a datacenter it does not have.
    """
    for session in sessions.values():
        create(session, name, network_topology(datacenters(session), replication_factor))


def exists(session: Any, name: str) -> bool:
    """Whether ``name`` is in the schema the session sees."""
    rows = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (str(name),)
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


def require_existing(sessions: Mapping[str, Any], name: str) -> None:
    """The team's keyspace must exist on every cluster; a one-line error naming the setting otherwise."""
    missing = [label for label, session in sessions.items() if not exists(session, name)]
    if missing:
        raise ZdmError(
            f"zdm_keyspace: keyspace {name!r} does not exist on {', '.join(missing)}; expected an existing "
            "keyspace the framework may create tables in (Astra: create it in the Astra console)"
        )


def drop(session: Any, name: str) -> None:
    """Drop one of the framework's own keyspaces; refuses any other name (a team's keyspace included)."""
    if not name.startswith(PREFIX):
        raise ZdmError(
            f"keyspace {name!r} is not a pytest-zdm keyspace: the framework drops only keyspaces starting "
            f"{PREFIX!r}, never the existing keyspace it works in"
        )
    session.execute(f"DROP KEYSPACE IF EXISTS {own(name)}")


def drop_own_tables(session: Any, keyspace: Keyspace) -> list[str]:
    """Drop the run's tables, then its types, in a team's keyspace (never anything else); their names.

    Types last: a table that uses a type must go before it.
    """
    prefix = keyspace.prefix
    if not prefix.startswith(PREFIX):
        raise ZdmError(f"keyspace {keyspace}: no run prefix to drop tables by")
    dropped = []
    for kind in ("table", "type"):
        query = f"SELECT {kind}_name AS name FROM system_schema.{kind}s WHERE keyspace_name = %s"
        rows = session.execute(query, (str(keyspace),))
        for name in sorted(row.name for row in rows if row.name.startswith(prefix)):
            session.execute(f"DROP {kind.upper()} IF EXISTS {keyspace}.{own_table(keyspace, name)}")
            dropped.append(name)
    return dropped
