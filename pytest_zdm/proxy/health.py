"""The proxy's own health endpoints (``/health/readiness``), the same for every target."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def readiness(base_url: str, timeout: float = 2.0) -> tuple[int, dict[str, Any] | None]:
    """GET ``/health/readiness``: (HTTP status, parsed JSON body or None). Status 0 when unreachable."""
    try:
        with urllib.request.urlopen(f"{base_url}/health/readiness", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"null")
        except ValueError:
            return err.code, None
    except (OSError, ValueError):
        return 0, None


def both_clusters_up(base_url: str) -> bool:
    """True when readiness is 200 and reports origin, target and overall status UP."""
    status, body = readiness(base_url)
    if status != 200 or not isinstance(body, dict):
        return False
    return all(
        isinstance(part, dict) and part.get("Status") == "UP"
        for part in (body, body.get("OriginStatus"), body.get("TargetStatus"))
    )
