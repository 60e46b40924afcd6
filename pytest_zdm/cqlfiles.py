"""CQL schema files from the project's ``fixtures/`` directory, applied to a framework keyspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_zdm import keyspaces
from pytest_zdm.errors import ZdmError


def statements(path: Path, keyspace: str) -> list[str]:
    """The statements of a ``.cql`` file with ``{keyspace}`` filled in (``--`` comments dropped)."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.strip().startswith("--")]
    text = "\n".join(lines).replace("{keyspace}", keyspaces.own(keyspace))
    return [s.strip() for s in text.split(";") if s.strip()]


def apply(session: Any, path: Path, keyspace: str) -> None:
    """Run every statement of ``path`` (through the proxy, so the schema exists on both clusters)."""
    for statement in statements(path, keyspace):
        session.execute(statement)


#: The project's CQL fixtures (schemas the suites use), next to ``suites/``.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> Path:
    """Path of ``fixtures/<name>``; a clear error when the project layout is not there."""
    path = FIXTURES / name
    if not path.is_file():
        raise ZdmError(f"CQL fixture {name} not found in {FIXTURES} (run from a pytest-zdm checkout)")
    return path
