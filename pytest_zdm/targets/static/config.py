"""``zdm.toml``: the fixed endpoints of a migration that runs elsewhere (the ``static`` target).

The file names where origin, target and the proxy are, and which environment variables hold the secrets;
a secret written into the file itself is refused, so the file can be committed and shared. Every mistake is
one line naming the key and what was expected (``zdm_static_config (zdm.toml): origin.contact_points[1]:
expected "host:port" with a port from 1 to 65535, got '10.0.0.1:90420'``).

Why a hand-written check and not a schema library: a dozen keys, and the messages must say what the proxy
and the framework need (a port range, an environment variable name, the Astra login), which generic
validators' multi-line messages do not.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_zdm.errors import SettingError, ZdmError
from pytest_zdm.model import CqlEndpoint, Credentials
from pytest_zdm.targets.static.bundle import BundleInfo, check_bundle

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SETTING = "zdm_static_config"
CLUSTER_KEYS = (
    "contact_points",
    "local_dc",
    "username",
    "password_env",
    "secure_connect_bundle",
    "token_env",
)
PROXY_KEYS = ("contact_points", "metrics_url", "local_dc", "username", "password_env", "config", "log")
SECTIONS = {"origin": CLUSTER_KEYS, "target": CLUSTER_KEYS, "proxy": PROXY_KEYS}
#: Keys outside the tables.
TOP_KEYS = ("keyspace",)
#: Keys that would hold a secret in the file: refused, with the key that names an environment variable.
LITERAL_SECRETS = {"password": "password_env", "token": "token_env"}
#: Astra's login for an application token (the token is the password).
ASTRA_USERNAME = "token"
_SECTION_NEEDS = {
    "origin": "contact_points, local_dc, username and password_env (or secure_connect_bundle and token_env)",
    "target": "contact_points, local_dc, username and password_env (or secure_connect_bundle and token_env)",
    "proxy": "contact_points (its CQL endpoints) and metrics_url (http://host:14001)",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Endpoint:
    """One side of the migration as written in the file: where it is and whose login to use."""

    name: str
    contact_points: tuple[tuple[str, int], ...] = ()
    local_dc: str | None = None
    username: str | None = None
    secret_env: str | None = None
    #: The key that named ``secret_env`` (``origin.password_env``...), for error messages.
    secret_key: str | None = None
    bundle: BundleInfo | None = None

    def cql(self) -> CqlEndpoint:
        """The endpoint as the framework's driver sessions take it (no secret in it)."""
        if self.bundle is not None:
            return CqlEndpoint(
                self.bundle.metadata_host,
                self.bundle.metadata_port,
                self.local_dc,
                secure_connect_bundle=str(self.bundle.path),
            )
        (host, port), *more = self.contact_points
        return CqlEndpoint(host, port, self.local_dc, more=tuple(more))

    def credentials(self, source: str) -> Credentials:
        """The login, its secret read from the environment now; a one-line error when it is not set."""
        assert self.secret_env is not None and self.username is not None
        value = os.environ.get(self.secret_env)
        if not value:
            raise SettingError(
                f"{source}: {self.secret_key}: expected the environment variable {self.secret_env} to hold "
                f"the {'token' if self.bundle else 'password'}, but it is not set (or empty)"
            )
        return Credentials(self.username, value)


@dataclass(frozen=True)
class StaticConfig:
    """A loaded, checked ``zdm.toml``."""

    path: Path
    origin: Endpoint
    target: Endpoint
    proxy: Endpoint
    metrics_url: str
    #: The proxy's own configuration (YAML config, env file or Kubernetes manifest), when named.
    proxy_config: Path | None = None
    #: The proxy's log file, when named (the cluster names it connected to, its parsed configuration).
    proxy_log: Path | None = None
    #: An existing keyspace the framework works in (it creates none).
    keyspace: str | None = None

    @property
    def source(self) -> str:
        """How errors name the file: the setting and the path."""
        return f"{SETTING} ({self.path})"

    def endpoint(self, side: str) -> Endpoint:
        """``origin``, ``target`` or ``proxy``."""
        found: Endpoint = getattr(self, side)
        return found

    def credentials(self) -> dict[str, Credentials]:
        """Logins for origin, target and the proxy, secrets from the environment (checked all at once)."""
        return {side: self.endpoint(side).credentials(self.source) for side in ("origin", "target", "proxy")}

    def describe(self) -> dict[str, str]:
        """Where each side is, for the report header (no secrets)."""
        return {side: _shown(self.endpoint(side)) for side in ("origin", "target", "proxy")} | {
            "proxy_http": self.metrics_url
        }


def _shown(endpoint: Endpoint) -> str:
    if endpoint.bundle is not None:
        return str(endpoint.bundle)
    points = ",".join(_join(host, port) for host, port in endpoint.contact_points)
    return points + (f" (dc {endpoint.local_dc})" if endpoint.local_dc else "")


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Checker:
    """Reads one parsed file; every error names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = f"{SETTING} ({path})"

    def error(self, key: str, expected: str, got: Any = None, *, show: bool = True) -> SettingError:
        suffix = f", got {got!r}" if show else ""
        return SettingError(f"{self.source}: {key}: expected {expected}{suffix}")

    def string(self, table: Mapping[str, Any], section: str, key: str, *, required: bool) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                raise self.error(f"{section}.{key}", "a non-empty string", show=False)
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{section}.{key}", "a non-empty string", value)
        return value.strip()

    def env_name(self, table: Mapping[str, Any], section: str, key: str) -> str:
        value = self.string(table, section, key, required=True)
        assert value is not None
        if not _ENV_NAME.fullmatch(value):
            raise self.error(
                f"{section}.{key}", "the name of an environment variable (letters, digits, _)", value
            )
        return value

    def contact_points(self, table: Mapping[str, Any], section: str) -> tuple[tuple[str, int], ...]:
        key = f"{section}.contact_points"
        value = table["contact_points"]
        if isinstance(value, str):
            value = [value]  # one contact point written without the brackets
        if not isinstance(value, list) or not value:
            raise self.error(key, 'a non-empty list of "host:port" strings', value)
        points = []
        for index, item in enumerate(value):
            point = _host_port(item)
            if point is None:
                raise self.error(f"{key}[{index}]", '"host:port" with a port from 1 to 65535', item)
            points.append(point)
        return tuple(points)

    def metrics_url(self, table: Mapping[str, Any]) -> str:
        key = "proxy.metrics_url"
        value = self.string(table, "proxy", "metrics_url", required=True)
        assert value is not None
        expected = "the proxy's metrics/health endpoint as http://host:port (e.g. http://10.0.0.5:14001)"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise self.error(key, expected, value) from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise self.error(key, expected, value)
        if port is not None and not 0 < port < 65536:
            raise self.error(key, expected, value)
        if parts.query or parts.fragment or parts.username or parts.password:
            raise self.error(key, expected + " without user, query or fragment", value)
        return value.rstrip("/")

    def keys(self, table: Mapping[str, Any], section: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key in LITERAL_SECRETS:
                raise SettingError(
                    f"{self.source}: {section}.{key}: secrets are never read from the file; put it in an "
                    f"environment variable and name that variable with {section}.{LITERAL_SECRETS[key]}"
                )
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise self.error(
                    f"{section}.{key}", f"no such key; one of {', '.join(allowed)}{hint}", show=False
                )

    def cluster(self, table: Mapping[str, Any], section: str) -> Endpoint:
        self.keys(table, section, CLUSTER_KEYS)
        has_points, has_bundle = "contact_points" in table, "secure_connect_bundle" in table
        if has_points == has_bundle:
            raise self.error(
                section,
                "either contact_points (with local_dc, username, password_env) or secure_connect_bundle "
                "(with token_env)",
                "both" if has_points else "neither",
                show=True,
            )
        if has_bundle:
            for key in ("username", "password_env"):
                if key in table:
                    raise self.error(
                        f"{section}.{key}",
                        f"no {key} with secure_connect_bundle (Astra logs in as {ASTRA_USERNAME!r} with the "
                        "token named by token_env)",
                        show=False,
                    )
            raw = self.string(table, section, "secure_connect_bundle", required=True)
            assert raw is not None
            bundle_path = Path(os.path.expandvars(raw)).expanduser()
            if not bundle_path.is_absolute():
                bundle_path = self.path.parent / bundle_path
            bundle = check_bundle(bundle_path, f"{self.source}: {section}.secure_connect_bundle")
            return Endpoint(
                name=section,
                local_dc=self.string(table, section, "local_dc", required=False),
                username=ASTRA_USERNAME,
                secret_env=self.env_name(table, section, "token_env"),
                secret_key=f"{section}.token_env",
                bundle=bundle,
            )
        if "token_env" in table:
            raise self.error(f"{section}.token_env", "token_env only with secure_connect_bundle", show=False)
        return Endpoint(
            name=section,
            contact_points=self.contact_points(table, section),
            local_dc=self.string(table, section, "local_dc", required=True),
            username=self.string(table, section, "username", required=True),
            secret_env=self.env_name(table, section, "password_env"),
            secret_key=f"{section}.password_env",
        )

    def proxy_file(self, table: Mapping[str, Any], key: str) -> Path | None:
        """``proxy.config`` or ``proxy.log``: an existing file, relative to zdm.toml; a config must lint."""
        raw = self.string(table, "proxy", key, required=False)
        if raw is None:
            return None
        path = Path(os.path.expandvars(raw)).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        what = (
            "the proxy's configuration: its YAML config, env file or Kubernetes manifest"
            if key == "config"
            else "the proxy's log file, readable from where the checks run"
        )
        if not path.is_file():
            raise self.error(f"proxy.{key}", f"{what} (an existing file)", raw)
        if key == "config":
            from pytest_zdm import lint  # YAML parsing only when a configuration is named

            try:
                lint.load_settings(path)
            except ZdmError as exc:
                raise self.error("proxy.config", what, f"{raw}: {exc}") from None
        return path

    def proxy(self, table: Mapping[str, Any], target: Endpoint) -> tuple[Endpoint, str]:
        self.keys(table, "proxy", PROXY_KEYS)
        if "contact_points" not in table:
            raise self.error(
                "proxy.contact_points", 'a list of the proxy\'s "host:port" CQL endpoints', show=False
            )
        metrics_url = self.metrics_url(table)
        own_login = "username" in table or "password_env" in table
        if own_login and not ("username" in table and "password_env" in table):
            raise self.error(
                "proxy", "username and password_env together (or neither: the target's login)", show=False
            )
        # zdm-proxy hands the client's credentials to the target (the origin login is its own setting), so
        # by default the framework logs in to the proxy the way it logs in to the target.
        username = self.string(table, "proxy", "username", required=False) or target.username
        secret_env = self.env_name(table, "proxy", "password_env") if own_login else target.secret_env
        secret_key = "proxy.password_env" if own_login else target.secret_key
        endpoint = Endpoint(
            name="proxy",
            contact_points=self.contact_points(table, "proxy"),
            local_dc=self.string(table, "proxy", "local_dc", required=False),
            username=username,
            secret_env=secret_env,
            secret_key=secret_key,
        )
        return endpoint, metrics_url


def _host_port(item: Any) -> tuple[str, int] | None:
    """``host:port`` or ``[ipv6]:port`` -> (host, port); None when it is not one."""
    if not isinstance(item, str):
        return None
    host, sep, port = item.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None  # an IPv6 address needs brackets, or the port is ambiguous
    if (
        not sep
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
        or any(c in host for c in " /@")
    ):
        return None
    return host, int(port)


def load(path: Path) -> StaticConfig:
    """Read and check ``zdm.toml``; every problem is a :class:`SettingError` of one line."""
    if not path.is_file():
        raise SettingError(
            f"{SETTING}: expected the path of an existing zdm.toml (zdm_target is static), got {str(path)!r}"
        )
    checker = _Checker(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"{checker.source}: expected TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingError(f"{checker.source}: cannot be read: {exc}") from None
    keyspace = None
    if "keyspace" in data:
        raw = data.pop("keyspace")
        if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", raw):
            raise checker.error("keyspace", "the name of an existing keyspace (letters, digits, _)", raw)
        keyspace = raw.lower()
    for name in data:
        if name not in SECTIONS:
            near = difflib.get_close_matches(name, SECTIONS, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise checker.error(
                name, f"no such table or key; one of {', '.join((*SECTIONS, *TOP_KEYS))}{hint}", show=False
            )
    for name, wanted in _SECTION_NEEDS.items():
        if name not in data:
            raise checker.error(name, f"a [{name}] table with {wanted}", show=False)
        if not isinstance(data[name], dict):
            raise checker.error(name, f"a [{name}] table", data[name])
    origin = checker.cluster(data["origin"], "origin")
    target = checker.cluster(data["target"], "target")
    proxy, metrics_url = checker.proxy(data["proxy"], target)
    return StaticConfig(
        path=path,
        origin=origin,
        target=target,
        proxy=proxy,
        metrics_url=metrics_url,
        proxy_config=checker.proxy_file(data["proxy"], "config"),
        proxy_log=checker.proxy_file(data["proxy"], "log"),
        keyspace=keyspace,
    )
