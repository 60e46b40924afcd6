"""How each setting's raw text (command line, environment, ini) becomes a value, or a one-line error.

Every parser takes the setting's name and the raw text and raises :class:`SettingError` naming the setting
and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from pytest_zdm.errors import SettingError
from pytest_zdm.phases import parse_phase

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def boolean(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingError(f"{name}: expected true or false, got {raw!r}")


def seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingError(f"{name}: expected a positive number of seconds, got {raw!r}")
    return value


def heap(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if not value[:-1].isdigit() or value[-1] not in "MG":
        raise SettingError(f"{name}: expected a JVM heap size such as 256M or 1G, got {raw!r}")
    megabytes = int(value[:-1]) * (1024 if value[-1] == "G" else 1)
    if megabytes < 128:
        raise SettingError(f"{name}: expected at least 128M (Cassandra 5.0 does not boot below), got {raw!r}")
    return value


def filesystem_path(name: str, raw: str) -> Path:
    if not raw.strip():
        raise SettingError(f"{name}: expected a path, got an empty value")
    return Path(os.path.expandvars(raw.strip())).expanduser()


def existing_file(name: str, raw: str) -> Path:
    path = filesystem_path(name, raw)
    if not path.is_file():
        raise SettingError(f"{name}: expected the path of an existing file, got {raw!r}")
    return path


def existing_dir(name: str, raw: str) -> Path:
    path = filesystem_path(name, raw)
    if not path.is_dir():
        raise SettingError(f"{name}: expected the path of an existing directory, got {raw!r}")
    return path


def proxy_source(name: str, raw: str) -> Path:
    path = filesystem_path(name, raw)
    if path.is_dir() or (path.is_file() and path.name.endswith((".tar.gz", ".tgz"))):
        return path
    raise SettingError(f"{name}: expected a zdm-proxy checkout directory or a .tar.gz of one, got {raw!r}")


def sha256(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise SettingError(f"{name}: expected a sha256 digest (64 hex digits), got {raw!r}")
    return value


def test_paths(name: str, raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not paths:
        raise SettingError(f"{name}: expected comma-separated test files or directories, got {raw!r}")
    for path in paths:
        if not Path(path.split("::")[0]).expanduser().exists():
            raise SettingError(f"{name}: expected existing test files or directories, got {path!r}")
    return paths


def proxy_phase(name: str, raw: str) -> int:
    """The phase whose configuration the proxy runs with: 1 to 4 by number or name (5 has no proxy)."""
    number = parse_phase(name, raw)
    if number == 5:
        raise SettingError(f"{name}: phase 5 (connect-to-target) has no proxy; expected 1 to 4, got {raw!r}")
    return number


def keyspace_name(name: str, raw: str) -> str:
    """A CQL keyspace name as Cassandra accepts it unquoted (letters, digits, underscores, at most 48)."""
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", value):
        raise SettingError(f"{name}: expected a keyspace name (letters, digits, _; at most 48), got {raw!r}")
    return value.lower()


def env_pairs(name: str, raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingError(f"{name}: expected comma-separated NAME=VALUE pairs, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def rate(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(
            f"{name}: expected a number of rows per second (0 for no limit), got {raw!r}"
        ) from None
    if value < 0:
        raise SettingError(f"{name}: expected a number of rows per second (0 for no limit), got {raw!r}")
    return value


def count(name: str, raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingError(f"{name}: expected a positive whole number, got {raw!r}")
    return int(raw)


def share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise SettingError(f"{name}: expected a share between 0 and 1, got {raw!r}")
    return value


def tables(name: str, raw: str) -> tuple[str, ...]:
    tables = tuple(t.strip() for t in raw.split(",") if t.strip())
    for table in tables:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", table):
            raise SettingError(f"{name}: expected comma-separated keyspace.table names, got {table!r}")
    return tables


def choice(choices: Iterable[str], *, upper: bool = False) -> Callable[[str, str], str]:
    allowed = tuple(choices)

    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip()
        if value not in allowed:
            raise SettingError(f"{name}: expected one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def image(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", value):
        raise SettingError(f"{name}: expected a container image reference such as cassandra:5.0, got {raw!r}")
    return value


def text(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingError(f"{name}: expected a non-empty value")
    return raw.strip()


def any_text(name: str, raw: str) -> str:
    """A value taken as given (an empty password is a real value for clusters without authentication)."""
    del name
    return raw


def port(name: str, raw: str) -> int:
    value = raw.strip()
    if not value.isdigit() or not 0 < int(value) <= 65535:
        raise SettingError(f"{name}: expected a TCP port number 1..65535, got {raw!r}")
    return int(value)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def k8s_name(name: str, raw: str) -> str:
    value = raw.strip()
    if not _DNS_LABEL.fullmatch(value):
        raise SettingError(
            f"{name}: expected a Kubernetes name (lower-case letters, digits and '-', at most 63), "
            f"got {raw!r}"
        )
    return value


def selector(name: str, raw: str) -> str:
    """An equality-based label selector, ``key=value[,key=value]``, the form Services use."""
    parts = [part.strip() for part in raw.split(",")]
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key.strip()) or not _LABEL_VALUE.fullmatch(value.strip()):
            raise SettingError(f"{name}: expected a label selector such as app=zdm-proxy, got {raw!r}")
    return ",".join(f"{k.strip()}={v.strip()}" for k, _, v in (part.partition("=") for part in parts))
