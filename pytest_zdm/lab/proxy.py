"""How the framework's own zdm-proxy is configured, whether run as a process or in a container.

The proxy takes its configuration from ``ZDM_*`` environment variables and silently ignores names it does
not know, so :class:`ProxyConfig` builds that environment from the real names only (see the proxy's
``proxy/pkg/config/config.go``); the ``local`` and ``docker`` targets hand it to the process or container.
What the proxy really understood is read back from the ``Parsed configuration`` line it logs at start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_zdm.errors import SettingError, ZdmError

CONFIG_LINE = r"Parsed configuration: (\{.*\})"
#: The line a proxy logs first at each start, with its version.
VERSION_LINE = r"Starting ZDM proxy version ([0-9][0-9A-Za-z.+-]*)"
#: Settings that say where a deployment is and how it logs in, not how the proxy behaves: a rehearsal on
#: the lab replaces them with its own, and two deployments are compared without them.
_DEPLOYMENT_SPECIFIC = re.compile(
    r"ZDM_(ORIGIN|TARGET)_(CONTACT_POINTS|PORT|SECURE_CONNECT_BUNDLE_PATH|LOCAL_DATACENTER|USERNAME|PASSWORD"
    r"|TLS_\w+_PATH)"
    r"|ZDM_PROXY_(LISTEN_ADDRESS|LISTEN_PORT|TOPOLOGY_INDEX|TOPOLOGY_ADDRESSES|TLS_\w+_PATH)"
    r"|ZDM_METRICS_(ADDRESS|PORT)|ZDM_LOG_LEVEL"
)


def deployment_specific(name: str) -> bool:
    """Whether a ``ZDM_*`` setting is about where and as whom, not how the proxy behaves."""
    return bool(_DEPLOYMENT_SPECIFIC.fullmatch(name))


def behaviour(settings: Mapping[str, str]) -> dict[str, str]:
    """A proxy's behaviour: every real setting that is not deployment-specific, defaults filled in.

    Two proxies with equal behaviour route, time out, replace functions and queue the same way: the lab's
    rehearsal of a deployment is comparable to it exactly when these are equal.
    """
    from pytest_zdm.lint.catalog import SETTINGS

    return {
        name: settings.get(name, spec.default or "").strip()
        for name, spec in SETTINGS.items()
        if not deployment_specific(name) and not spec.secret
    }


@dataclass(frozen=True)
class ProxyConfig:
    """What the local proxy is pointed at and how it routes."""

    origin_host: str
    origin_port: int
    target_host: str
    target_port: int
    listen_host: str
    listen_port: int
    metrics_port: int
    origin_credentials: tuple[str, str]
    target_credentials: tuple[str, str]
    primary_cluster: str = "ORIGIN"
    read_mode: str = "PRIMARY_ONLY"
    origin_dc: str = "datacenter1"
    target_dc: str = "datacenter1"
    extra: Mapping[str, str] = field(default_factory=dict)
    #: The team's own proxy settings (``zdm_proxy_config``): they replace the lab's choices; the lab keeps
    #: only its endpoints and secrets.
    team: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The ``ZDM_*`` variables (real names, see proxy/pkg/config/config.go), then the user's extras.

        With the team's configuration, the proxy runs exactly its settings apart from endpoints and secrets,
        so a rehearsal on the lab runs what production runs. Extras are passed as given, unknown names
        included: reproducing a deployment's configuration is their purpose, and the configuration lint is
        what reports names the proxy ignores.
        """
        wiring = self._wiring()
        if self.team:
            team = {k: v for k, v in self.team.items() if not deployment_specific(k)}
            chosen = {"ZDM_PRIMARY_CLUSTER": self.primary_cluster, "ZDM_READ_MODE": self.read_mode, **team}
            return {**chosen, **wiring, **self.extra}
        return {**self._lab_choices(), **wiring, **self.extra}

    def _lab_choices(self) -> dict[str, str]:
        """What the lab chooses where a team gives no configuration of its own."""
        return {
            "ZDM_PRIMARY_CLUSTER": self.primary_cluster,
            "ZDM_READ_MODE": self.read_mode,
            "ZDM_LOG_LEVEL": "INFO",
            # 3 s instead of the proxy's 10 s default: the pause check waits this long, and a disposable
            # loopback environment has no slow cluster to wait for.
            "ZDM_PROXY_REQUEST_TIMEOUT_MS": "3000",
        }

    def _wiring(self) -> dict[str, str]:
        """Where the lab's clusters and listeners are, and its logins: deployment-specific by nature."""
        return {
            "ZDM_ORIGIN_CONTACT_POINTS": self.origin_host,
            "ZDM_ORIGIN_PORT": str(self.origin_port),
            "ZDM_ORIGIN_USERNAME": self.origin_credentials[0],
            "ZDM_ORIGIN_PASSWORD": self.origin_credentials[1],
            "ZDM_ORIGIN_LOCAL_DATACENTER": self.origin_dc,
            "ZDM_TARGET_CONTACT_POINTS": self.target_host,
            "ZDM_TARGET_PORT": str(self.target_port),
            "ZDM_TARGET_USERNAME": self.target_credentials[0],
            "ZDM_TARGET_PASSWORD": self.target_credentials[1],
            "ZDM_TARGET_LOCAL_DATACENTER": self.target_dc,
            "ZDM_PROXY_LISTEN_ADDRESS": self.listen_host,
            "ZDM_PROXY_LISTEN_PORT": str(self.listen_port),
            "ZDM_METRICS_ENABLED": "true",
            "ZDM_METRICS_ADDRESS": self.listen_host,
            "ZDM_METRICS_PORT": str(self.metrics_port),
        }

    def public_environment(self) -> dict[str, str]:
        """:meth:`environment` with passwords masked, for logs, reports and the configuration lint."""
        return {k: ("***" if k.endswith("_PASSWORD") else v) for k, v in self.environment().items()}

    @property
    def http(self) -> str:
        """Base URL of the metrics / health endpoints."""
        return f"http://{self.listen_host}:{self.metrics_port}"


def parsed_configurations(path: Path) -> list[dict[str, Any]]:
    """Every ``Parsed configuration`` a proxy logged in ``path``, oldest first (one per start)."""
    found: list[dict[str, Any]] = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return found
    for match in re.finditer(CONFIG_LINE, text):
        raw = match.group(1).replace('\\"', '"')
        try:
            found.append(json.loads(raw))
        except ValueError:
            continue
    return found


def team_settings(settings: Any) -> dict[str, str]:
    """The team's proxy settings from ``zdm_proxy_config`` (empty without one)."""
    path = settings.zdm_proxy_config
    if path is None:
        return {}
    from pytest_zdm import lint

    try:
        found, _ = lint.load_settings(path)
    except ZdmError as exc:
        raise SettingError(f"zdm_proxy_config: expected a zdm-proxy configuration in {path}: {exc}") from None
    return found
