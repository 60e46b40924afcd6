"""The proxy's own health endpoints (``/health/readiness``), the same for every target."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
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


#: zdm-proxy's control connection gives up a heartbeat after these (``ccWriteTimeout``, ``ccReadTimeout``
#: in proxy/pkg/zdmproxy/controlconn.go of the pinned commit): not settings, constants of the proxy.
_HEARTBEAT_WRITE_SECONDS = 5.0
_HEARTBEAT_READ_SECONDS = 10.0
_DEFAULTS_MS = {
    "ZDM_HEARTBEAT_INTERVAL_MS": 30_000,
    "ZDM_HEARTBEAT_RETRY_INTERVAL_MAX_MS": 30_000,
    "ZDM_ORIGIN_CONNECTION_TIMEOUT_MS": 30_000,
    "ZDM_TARGET_CONNECTION_TIMEOUT_MS": 30_000,
}


def down_within(settings: Mapping[str, str], cluster: str) -> float:
    """Seconds within which readiness reports ``cluster`` DOWN once its node is gone, by the proxy's rules.

    The proxy does not watch a cluster continuously: its control connection sends a heartbeat every
    ``ZDM_HEARTBEAT_INTERVAL_MS``; a heartbeat fails within the connection's write and read timeouts; the
    cluster is DOWN once ``ZDM_HEARTBEAT_FAILURE_THRESHOLD`` attempts in a row failed, each further attempt
    a reconnection (up to the cluster's connection timeout) after a back-off of at most
    ``ZDM_HEARTBEAT_RETRY_INTERVAL_MAX_MS``. A wait longer than this waits for nothing; a shorter one
    blames a healthy proxy. ``settings`` are ``ZDM_*`` names (missing ones take the proxy's defaults).
    """

    def number(name: str, default: float) -> float:
        try:
            value = float(settings.get(name, "") or default)
        except ValueError:
            value = default
        return value if value >= 0 and value == value else default  # NaN and negatives: the default

    interval = number("ZDM_HEARTBEAT_INTERVAL_MS", _DEFAULTS_MS["ZDM_HEARTBEAT_INTERVAL_MS"]) / 1000
    retry = (
        number("ZDM_HEARTBEAT_RETRY_INTERVAL_MAX_MS", _DEFAULTS_MS["ZDM_HEARTBEAT_RETRY_INTERVAL_MAX_MS"])
        / 1000
    )
    connect_name = f"ZDM_{cluster.upper()}_CONNECTION_TIMEOUT_MS"
    connect = number(connect_name, _DEFAULTS_MS.get(connect_name, 30_000)) / 1000
    threshold = max(1, int(number("ZDM_HEARTBEAT_FAILURE_THRESHOLD", 1)))
    first = interval + _HEARTBEAT_WRITE_SECONDS + _HEARTBEAT_READ_SECONDS
    return first + (threshold - 1) * (connect + retry)


def busy_machine_allowance(seconds: float) -> float:
    """A bound the proxy's settings imply, stretched for a busy machine (timers fire late under load)."""
    return seconds * 1.5 + 15.0
