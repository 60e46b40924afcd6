"""The ``static`` target: a migration that already runs elsewhere, at fixed endpoints named in ``zdm.toml``.

Nothing is started or stopped: the target checks that origin, target and the proxy accept the configured
logins and that the proxy's metrics/health endpoint answers, then hands the endpoints on. It is never
disposable (the clusters hold somebody's data) and cannot stop nodes or restart the proxy: destructive checks
are covered by a rehearsal on a disposable target (``zdm_rehearsal``). It always offers the proxy's status,
read from its metrics (restarts show as a new ``process_start_time_seconds``); with the proxy's configuration
and log named in ``zdm.toml`` (``[proxy] config``, ``log``) it offers them too, and every phase-1 check runs.

Secrets (passwords, the Astra token) are read from the environment variables the file names, in each
process that needs them, and are never written to the run directory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_zdm.cql import connect, release_version
from pytest_zdm.errors import ControlError, StartupError, ZdmError
from pytest_zdm.lab.proxy import VERSION_LINE
from pytest_zdm.model import Capability, Control, Credentials, EnvironmentInfo, Progress
from pytest_zdm.proxy.health import readiness
from pytest_zdm.proxy.metrics import scrape
from pytest_zdm.settings import Settings
from pytest_zdm.targets.base import Target
from pytest_zdm.targets.static.config import StaticConfig, load
from pytest_zdm.targets.static.proxy_status import ProxyStatusWatch

#: Seconds allowed for each endpoint to connect and answer one query: a deployment that is up answers at
#: once, and a wrong address must not hold the run for the driver's minutes of retries.
CONNECT_TIMEOUT = 10.0
SIDES = ("origin", "target", "proxy")


class StaticTarget(Target):
    """Fixed endpoints from ``zdm_static_config``; reached, never started or stopped."""

    name = "static"
    controls = frozenset({Control.PROXY_STATUS})
    disposable = False
    owns_environment = False
    provides = {
        Capability.PROXY_SETTINGS: "name the proxy's configuration in zdm.toml: [proxy] config = "
        '"zdm-proxy.yaml" (its YAML config, env file or Kubernetes manifest)',
        Capability.PROXY_LOG: "name the proxy's log file in zdm.toml: [proxy] log = "
        '"/var/log/zdm-proxy.log" (readable from where the checks run)',
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch: ProxyStatusWatch | None = None
        self.loaded: StaticConfig | None = None

    def offered(self) -> frozenset[Control]:
        """The proxy's status always; its configuration and log when zdm.toml names them."""
        config = self.loaded
        verbs = {Control.PROXY_STATUS}
        if config is not None and (config.proxy_config or config.proxy_log):
            verbs.add(Control.PROXY_CONFIG)
        if config is not None and config.proxy_log:
            verbs.add(Control.PROXY_LOGS)
        return frozenset(verbs)

    def capabilities(self) -> frozenset[Capability]:
        """What zdm.toml lets the checks see: settings with ``proxy.config``, the log with ``proxy.log``."""
        config = self.loaded
        offered = {Capability.PROXY_STATUS}
        if config is not None and config.proxy_config:
            offered.add(Capability.PROXY_SETTINGS)
        if config is not None and config.proxy_log:
            offered.add(Capability.PROXY_LOG)
        return frozenset(offered)

    @staticmethod
    def config(settings: Settings) -> StaticConfig:
        """The checked ``zdm.toml`` (a one-line :class:`SettingError` when it is not usable)."""
        return load(settings.zdm_static_config)

    @classmethod
    def credentials(cls, settings: Settings) -> Mapping[str, Credentials]:
        """Logins for origin, target and the proxy; secrets from the environment variables the file names."""
        return cls.config(settings).credentials()

    @classmethod
    def plan(cls, settings: Settings) -> Mapping[str, Any]:
        """Check the file and that its secrets are set, before anything runs; the endpoints for the header."""
        config = cls.config(settings)
        config.credentials()
        return config.describe()

    @classmethod
    def report_header(cls, settings: Settings, plan: Mapping[str, Any]) -> list[str]:
        """Where the endpoints are, and that destructive checks need an explicit opt-in here."""
        destructive = (
            "destructive checks allowed (--zdm-allow-destructive), but this target cannot stop nodes or "
            "restart the proxy: they are skipped"
            if settings.zdm_allow_destructive
            else "destructive checks skipped (not disposable)"
        )
        return [
            f"zdm: endpoints from {settings.zdm_static_config}: origin {plan.get('origin')}, target "
            f"{plan.get('target')}, proxy {plan.get('proxy')}, proxy health/metrics {plan.get('proxy_http')}",
            f"zdm: static target: nothing is started or stopped; {destructive}; CQL protocol "
            f"v{settings.zdm_protocol_version}",
        ]

    def start(self, plan: Mapping[str, Any], progress: Progress) -> EnvironmentInfo:
        """Log in to origin, target and the proxy and read the metrics endpoint; one line if one fails."""
        del plan
        begin = time.monotonic()
        config = self.loaded = self.config(self.settings)
        credentials = config.credentials()
        versions: dict[str, str] = {}
        for side in SIDES:
            endpoint = config.endpoint(side)
            progress(f"checking {side} at {endpoint.cql()} (login as {endpoint.username!r})")
            versions[side] = self._probe(config, side, credentials[side])
        # The proxy answers with origin's release_version; its own version is in its log, when named.
        logged = re.findall(VERSION_LINE, read_log(config.proxy_log)) if config.proxy_log else []
        versions["proxy"] = logged[-1] if logged else "version not exposed"
        self._check_metrics(config)
        self.watch = ProxyStatusWatch(config.metrics_url)
        self.watch.status()  # the first start time seen: later changes are restarts
        progress(f"static endpoints reachable after {time.monotonic() - begin:.1f}s")
        return EnvironmentInfo(
            target=self.name,
            origin=config.origin.cql(),
            target_cluster=config.target.cql(),
            proxy=config.proxy.cql(),
            proxy_http=config.metrics_url,
            usernames={side: credentials[side].username for side in SIDES},
            versions=versions,
            controls=tuple(sorted(c.value for c in self.offered())),
            capabilities=tuple(sorted(c.value for c in self.capabilities())),
            logs={"proxy": str(config.proxy_log)} if config.proxy_log else {},
            proxy_settings=self._public_settings(config),
            keyspace=self.settings.zdm_keyspace or config.keyspace,
        )

    def _probe(self, config: StaticConfig, side: str, credentials: Credentials) -> str:
        """The release version the endpoint reports; a one-line error naming the key when it cannot be had."""
        endpoint = config.endpoint(side)
        key = f"{side}.secure_connect_bundle" if endpoint.bundle else f"{side}.contact_points"
        what = "zdm-proxy" if side == "proxy" else "a Cassandra cluster"
        try:
            client = connect(
                endpoint.cql(),
                credentials,
                connect_timeout=CONNECT_TIMEOUT,
                request_timeout=CONNECT_TIMEOUT,
                protocol_version=int(self.settings.zdm_protocol_version),
            )
            try:
                return release_version(client)
            finally:
                client.close()
        except Exception as exc:  # the driver raises many types (NoHostAvailable, AuthenticationFailed...)
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
            raise StartupError(
                f"{config.source}: {key}: expected {what} at {endpoint.cql()} accepting the login of "
                f"{credentials.username!r} within {CONNECT_TIMEOUT:.0f}s, got {reason}"
            ) from None

    @staticmethod
    def _check_metrics(config: StaticConfig) -> None:
        url = config.metrics_url
        status, body = readiness(url, timeout=CONNECT_TIMEOUT)
        expected = (
            f"{config.source}: proxy.metrics_url: expected zdm-proxy's metrics/health endpoint at {url}"
        )
        if status == 0:
            raise StartupError(f"{expected}, got no answer within {CONNECT_TIMEOUT:.0f}s")
        if status not in (200, 503) or not isinstance(body, dict) or "Status" not in body:
            raise StartupError(
                f"{expected}, but {url}/health/readiness answered HTTP {status} without its status"
            )
        try:
            scrape(url, timeout=CONNECT_TIMEOUT)
        except ZdmError as exc:
            raise StartupError(f"{expected}, but its /metrics cannot be read: {exc}") from None

    def stop(self) -> None:
        """Nothing to stop: the deployment is not ours."""

    def control(self, verb: Control, arg: Any = None) -> Any:
        """The proxy's status, and its log and configuration when named; nothing changes the deployment."""
        del arg
        config = self.loaded
        if verb is Control.PROXY_STATUS and self.watch is not None:
            return self.watch.status()
        if config is not None and verb in self.offered():
            if verb is Control.PROXY_LOGS:
                assert config.proxy_log is not None
                return read_log(config.proxy_log)
            if verb is Control.PROXY_CONFIG:
                return self._proxy_config(config)
        raise ControlError(f"{verb.value}: not offered by the static target (see zdm.toml's [proxy] keys)")

    @staticmethod
    def _public_settings(config: StaticConfig) -> dict[str, str]:
        """The proxy's settings from its named configuration, secrets masked (for reports and rehearsals)."""
        if config.proxy_config is None:
            return {}
        from pytest_zdm import lint

        settings, _ = lint.load_settings(config.proxy_config)
        return {k: ("***" if lint.is_secret(k) else v) for k, v in settings.items()}

    def _proxy_config(self, config: StaticConfig) -> dict[str, Any]:
        from pytest_zdm import lint

        parsed = None
        if config.proxy_log is not None:
            try:
                parsed = lint.parsed_configuration_from_log(read_log(config.proxy_log))
            except ZdmError:
                parsed = None
        findings = [str(f) for f in lint.lint_file(config.proxy_config)] if config.proxy_config else None
        return {
            "environment": self._public_settings(config) if config.proxy_config else None,
            "parsed": parsed,
            "findings": findings,
        }


#: How much of a proxy log is read: its start-up lines (connections, configuration) and its latest ones.
_LOG_HEAD_BYTES = 256 * 1024
_LOG_TAIL_BYTES = 1024 * 1024


def read_log(path: Path) -> str:
    """The head and the tail of a (possibly large) proxy log, bounded in size."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        if size <= _LOG_HEAD_BYTES + _LOG_TAIL_BYTES:
            return handle.read().decode("utf-8", "replace")
        head = handle.read(_LOG_HEAD_BYTES).decode("utf-8", "replace")
        handle.seek(size - _LOG_TAIL_BYTES)
        tail = handle.read().decode("utf-8", "replace")
    return f"{head}\n[... {path} cut here ...]\n{tail}"
