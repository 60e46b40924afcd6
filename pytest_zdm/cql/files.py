"""CQL schema files shipped with the suites (:mod:`pytest_zdm.fixtures`), applied to a framework keyspace."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from pytest_zdm.cql import keyspaces
from pytest_zdm.errors import ZdmError

if TYPE_CHECKING:  # importlib.resources.abc is Python 3.11+; annotations only
    from importlib.resources.abc import Traversable


def statements(path: Traversable, keyspace: str) -> list[str]:
    """The statements of a ``.cql`` file for ``keyspace`` (``--`` comments dropped).

    ``{keyspace}`` is the keyspace, ``{prefix}`` the prefix of the run's tables and types in it (see
    :class:`~pytest_zdm.cql.keyspaces.Keyspace`); every name created passes the table guard.
    """
    prefix = getattr(keyspace, "prefix", "")
    lines = [ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--")]
    text = "\n".join(lines).replace("{keyspace}", keyspaces.own(keyspace)).replace("{prefix}", prefix)
    for name in re.findall(rf"CREATE (?:TABLE|TYPE) IF NOT EXISTS {re.escape(keyspace)}\.(\w+)", text):
        keyspaces.own_table(keyspace, name)
    return [s.strip() for s in text.split(";") if s.strip()]


def apply(session: Any, path: Traversable, keyspace: str) -> None:
    """Run every statement of ``path`` (through the proxy, so the schema exists on both clusters)."""
    for statement in statements(path, keyspace):
        session.execute(statement)


def fixture(name: str) -> Traversable:
    """The CQL file ``name`` shipped with the suites (package :mod:`pytest_zdm.fixtures`)."""
    path = files("pytest_zdm.fixtures").joinpath(name)
    if not path.is_file():
        raise ZdmError(f"CQL fixture {name} is not among the installed pytest_zdm.fixtures")
    return path
