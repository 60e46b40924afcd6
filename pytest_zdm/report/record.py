"""The run record: what the sign-off page is built from, written beside the Allure results.

The controller writes ``zdm-run.json`` into the results directory at the end of the run (the gate's verdict
and required checks, versions, routing, times, the executor, the environment, every check's outcome), so
``zdm-verify report`` needs nothing but that directory, wherever CI hands it over. Allure ignores the file.
Records of earlier runs are kept in the history (:mod:`.history`) under the key of their target and phase.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_zdm import redact
from pytest_zdm.errors import ZdmError

FILE = "zdm-run.json"
FORMAT = 1


def write(directory: Path, record: Mapping[str, Any]) -> Path:
    """Write the record (secrets masked) into the results directory."""
    path = directory / FILE
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(redact.text(json.dumps({"format": FORMAT, **record}, indent=2)) + "\n")
    return path


def read(directory: Path) -> dict[str, Any]:
    """The record of the run whose results are in ``directory``; one line when it is missing or unreadable."""
    path = directory / FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ZdmError(
            f"report: expected {path}, written by pytest-zdm at the end of a run with "
            f"--alluredir={directory}; the run was stopped before its end, or did not use --alluredir"
        ) from None
    except (OSError, ValueError) as exc:
        raise ZdmError(f"report: {path} is not a readable run record: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ZdmError(f"report: {path} has format {data.get('format') if isinstance(data, dict) else '?'}, "
                       f"expected {FORMAT} (written by another pytest-zdm version)")  # fmt: skip
    return data


def history_key(record: Mapping[str, Any]) -> str:
    """Runs compared in the trend: the same target entering the same phase (``local-phase1``)."""
    gate = record.get("gate") or {}
    entering = (gate.get("phase_change") or {}).get("entering")
    target = str(record.get("context", {}).get("target") or "unknown")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in target)
    return f"{safe}-phase{entering}" if entering else f"{safe}-ungated"
