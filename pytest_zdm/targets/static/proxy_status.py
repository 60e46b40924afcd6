"""A proxy the framework did not start: is it up, and has it restarted? Read from its metrics endpoint.

zdm-proxy exports the Prometheus Go client's process metrics, among them ``process_start_time_seconds``.
A different value than last time means the process was restarted in between, which is what the stability
check (``zdm_stable_proxy``) needs to know. Restarts are counted when the status is asked for (at the
session's baseline and before each stable-proxy check), so two restarts between two looks count as one:
the count is a lower bound, and any restart is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.proxy.metrics import scrape

START_TIME = "process_start_time_seconds"


@dataclass
class ProxyStatusWatch:
    """Remembers the proxy's start times seen so far at ``url`` (its metrics/health endpoint)."""

    url: str
    timeout: float = 5.0
    start_times: list[float] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        """Like the local target's proxy status: ``running``, ``starts`` (seen so far), no pid (not ours)."""
        try:
            snapshot = scrape(self.url, timeout=self.timeout)
        except ZdmError as exc:
            return {
                "pid": None,
                "starts": len(self.start_times),
                "running": False,
                "exit_code": None,
                "reason": f"zdm-proxy does not answer on its metrics endpoint ({exc})",
            }
        started = snapshot.value(START_TIME)
        if started and (not self.start_times or started != self.start_times[-1]):
            self.start_times.append(started)
        return {
            "pid": None,
            "starts": len(self.start_times),
            "running": True,
            "exit_code": None,
            "started_at": started or None,
            "restarts_visible": bool(started),
        }
