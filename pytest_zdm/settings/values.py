"""How each setting's raw text (command line, environment, ini) becomes a value, or a one-line error.

Every parser takes the setting's name and the raw text and raises :class:`SettingError` naming the setting
and what was expected.
"""

from __future__ import annotations

import math
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


#: A number as people write it in settings, ASCII only: ``float()`` alone also takes ``nan``, ``inf``,
#: ``1_000`` and digits of other scripts (``float("٣")`` is 3.0), none of which a setting means.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"\+?[0-9]+")
#: Upper bounds: a value beyond them is a typo (a timeout of 30 years), not a choice.
MAX_SECONDS = 86_400.0
MAX_RATE = 1_000_000.0
MAX_MILLISECONDS = 3_600_000.0


def number(name: str, raw: str, expected: str) -> float:
    """A finite decimal number written with ASCII digits; else a :class:`SettingError` saying ``expected``."""
    text = raw.strip()
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value):
        raise SettingError(f"{name}: expected {expected}, got {raw!r}")
    return value


def seconds(name: str, raw: str) -> float:
    value = number(name, raw, "a number of seconds")
    if not 0 < value <= MAX_SECONDS:
        raise SettingError(
            f"{name}: expected a positive number of seconds (at most {MAX_SECONDS:.0f}), got {raw!r}"
        )
    return value


def milliseconds(name: str, raw: str) -> float:
    """A duration in milliseconds, 0 included (a budget of nothing is a choice)."""
    expected = f"a number of milliseconds from 0 to {MAX_MILLISECONDS:.0f}"
    value = number(name, raw, expected)
    if not 0 <= value <= MAX_MILLISECONDS:
        raise SettingError(f"{name}: expected {expected}, got {raw!r}")
    return value


def operations_rate(name: str, raw: str) -> float:
    """A fixed rate of operations per second: positive (a workload at no rate measures nothing)."""
    expected = f"a positive number of operations per second (at most {MAX_RATE:.0f})"
    value = number(name, raw, expected)
    if not 0 < value <= MAX_RATE:
        raise SettingError(f"{name}: expected {expected}, got {raw!r}")
    return value


def heap(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if not re.fullmatch(r"[0-9]{1,7}[MG]", value):
        raise SettingError(f"{name}: expected a JVM heap size such as 256M or 1G, got {raw!r}")
    megabytes = int(value[:-1]) * (1024 if value[-1] == "G" else 1)
    if megabytes < 128:
        raise SettingError(f"{name}: expected at least 128M (Cassandra 5.0 does not boot below), got {raw!r}")
    if megabytes > 64 * 1024:
        raise SettingError(f"{name}: expected at most 64G (a node of the lab, not a server), got {raw!r}")
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


def cassandra_version(releases: dict[str, str]) -> Callable[[str, str], str]:
    """A Cassandra release: a line (``4.1`` or ``4.1.x``: its pinned release) or an exact release of one."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower().removesuffix(".x")
        if value in releases:
            return releases[value]
        found = re.fullmatch(r"(\d+\.\d+)\.\d+(-[a-z0-9.]+)?", value)
        if found and found.group(1) in releases:
            return value
        pinned = ", ".join(f"{line} ({release})" for line, release in releases.items())
        raise SettingError(
            f"{name}: expected a Cassandra line {pinned} or an exact release of one of them such as "
            f"{next(reversed(releases.values()))}, got {raw!r}"
        )

    return parse


def java_by_line(lines: Iterable[str]) -> Callable[[str, str], dict[str, str]]:
    """``LINE=PATH`` pairs: the Java (an executable or a JAVA_HOME) each Cassandra line runs on."""
    known = tuple(lines)

    def parse(name: str, raw: str) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for line, value in env_pairs(name, raw).items():
            line = line.removesuffix(".x")
            if line not in known:
                raise SettingError(
                    f"{name}: expected Cassandra lines {', '.join(known)} as keys (e.g. 4.1=/opt/jdk-11), "
                    f"got {line!r}"
                )
            path = Path(os.path.expandvars(value)).expanduser()
            java = path / "bin" / "java" if path.is_dir() else path
            if not (java.is_file() and os.access(java, os.X_OK)):
                raise SettingError(
                    f"{name}: expected a java executable or a JAVA_HOME holding bin/java for {line}, "
                    f"got {value!r}"
                )
            chosen[line] = str(java)
        return chosen

    return parse


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
    expected = f"a number of rows per second from 0 (no limit) to {MAX_RATE:.0f}"
    value = number(name, raw, expected)
    if not 0 <= value <= MAX_RATE:
        raise SettingError(f"{name}: expected {expected}, got {raw!r}")
    return value


def whole_number(minimum: int, maximum: int) -> Callable[[str, str], int]:
    """A parser of whole numbers from ``minimum`` to ``maximum`` written with ASCII digits."""

    def parse(name: str, raw: str) -> int:
        text = raw.strip()
        value = int(text) if _WHOLE.fullmatch(text) and len(text) < 19 else None
        if value is None or not minimum <= value <= maximum:
            bound = "a positive whole number" if minimum == 1 else f"a whole number from {minimum}"
            raise SettingError(f"{name}: expected {bound} (at most {maximum}), got {raw!r}")
        return value

    return parse


#: How many of something: at least one, and no more than a workload ever sends.
count = whole_number(1, 10_000_000)


def share(name: str, raw: str) -> float:
    value = number(name, raw, "a share between 0 and 1")
    if not 0 <= value <= 1:
        raise SettingError(f"{name}: expected a share between 0 and 1, got {raw!r}")
    return value


#: Keyspaces of Cassandra, DSE and Astra themselves: per-cluster data (salted password hashes, peers,
#: schema) that is never migrated, so always "different", and not the team's to copy into reports.
_SYSTEM_KEYSPACE = re.compile(
    r"system|system_\w*|dse_\w*|solr_admin|opscenter|datastax_sla|data_endpoint_auth|cfs|cfs_archive"
)


def tables(name: str, raw: str) -> tuple[str, ...]:
    tables = tuple(t.strip() for t in raw.split(",") if t.strip())
    for table in tables:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", table):
            raise SettingError(f"{name}: expected comma-separated keyspace.table names, got {table!r}")
        keyspace = table.split(".", 1)[0]
        if _SYSTEM_KEYSPACE.fullmatch(keyspace.lower()):
            raise SettingError(
                f"{name}: {table} is in a system keyspace (each cluster's own data, e.g. salted password "
                f"hashes; never migrated); expected tables of your own keyspaces"
            )
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
    if not re.fullmatch(r"[0-9]{1,5}", value) or not 0 < int(value) <= 65535:
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
