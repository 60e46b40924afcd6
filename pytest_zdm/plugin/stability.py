"""Is the proxy stable enough for a check to mean something? Evidence, not a guess.

Before a check marked ``zdm_stable_proxy`` runs, the plugin compares the proxy now with a baseline taken
when the session began (and retaken after each destructive check, whose disruption is deliberate):
readiness must be 200 with both clusters UP, the proxy must not have restarted or died, and no connection
to either cluster may have failed in between. Any of these skips the check with the evidence as reason.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.model import Control
from pytest_zdm.proxy.health import readiness
from pytest_zdm.proxy.metrics import MetricsSnapshot, scrape

FAILED_CONNECTIONS = "zdm_proxy_failed_connections_total"


@dataclass(frozen=True)
class Baseline:
    """What the proxy looked like when the session (or the last deliberate disruption) ended."""

    taken_at: float
    proxy_starts: int | None
    metrics: MetricsSnapshot | None


def _status(env: Any) -> dict[str, Any] | None:
    if not env.supports(Control.PROXY_STATUS):
        return None
    return dict(env.proxy_status())


def save(baseline: Baseline, path: Path) -> None:
    """Share a baseline with the other processes of the run (written while the disruption lock is held)."""
    samples = [
        [n, sorted(ls), v] for (n, ls), v in (baseline.metrics.samples.items() if baseline.metrics else ())
    ]
    data = {"taken_at": baseline.taken_at, "proxy_starts": baseline.proxy_starts, "samples": samples}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load(path: Path) -> Baseline | None:
    """The run's shared baseline, if one was saved."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    samples = {(n, frozenset((k, v) for k, v in ls)): float(v) for n, ls, v in data["samples"]}
    return Baseline(data["taken_at"], data["proxy_starts"], MetricsSnapshot(samples) if samples else None)


def take_baseline(env: Any) -> Baseline:
    """Snapshot restarts and failure counters now."""
    status = _status(env)
    try:
        metrics: MetricsSnapshot | None = scrape(env.info.proxy_http)
    except ZdmError:
        metrics = None
    return Baseline(time.time(), status["starts"] if status else None, metrics)


def evidence(env: Any, baseline: Baseline) -> list[str]:
    """Reasons the proxy is not stable now (empty when it is)."""
    reasons: list[str] = []
    status_code, body = readiness(env.info.proxy_http)
    if status_code != 200 or not isinstance(body, dict):
        parts = []
        if isinstance(body, dict):
            for side in ("OriginStatus", "TargetStatus"):
                part = body.get(side) or {}
                parts.append(
                    f"{side[:-6].lower()} {part.get('Status', '?')} (failures "
                    f"{part.get('CurrentFailureCount', '?')}/{part.get('FailureCountThreshold', '?')})"
                )
        shown = ", ".join(parts) if parts else "no answer"
        reasons.append(f"proxy readiness is {status_code or 'unreachable'}: {shown}")
    status = _status(env)
    if status is not None:
        if not status.get("running"):
            # Targets that run the proxy elsewhere say why: "reason" (static: restarted, unreachable) or
            # "problems" (kube pods: CrashLoopBackOff...).
            detail = "; ".join(status.get("problems") or ()) or f"exit code {status.get('exit_code')}"
            reasons.append(status.get("reason") or f"zdm-proxy process is not running ({detail})")
        if baseline.proxy_starts is not None and status["starts"] > baseline.proxy_starts:
            restarts = status["starts"] - baseline.proxy_starts
            since = time.strftime("%H:%M:%S", time.localtime(baseline.taken_at))
            history = "; ".join(status.get("history") or ())
            reasons.append(
                f"zdm-proxy restarted {restarts} time(s) since {since}" + (f" ({history})" if history else "")
            )
    if baseline.metrics is not None:
        try:
            delta = scrape(env.info.proxy_http).delta(baseline.metrics)
        except ZdmError as exc:
            reasons.append(str(exc))
        else:
            failed = {k: v for k, v in delta.nonzero(FAILED_CONNECTIONS).items() if v > 0}
            if failed and not reasons:  # after a restart, counters restart too: only meaningful otherwise
                shown = ", ".join(f"{k.split('{', 1)[1].rstrip('}')}: {int(v)}" for k, v in failed.items())
                reasons.append(f"proxy connections to the clusters failed since the baseline ({shown})")
    return reasons
