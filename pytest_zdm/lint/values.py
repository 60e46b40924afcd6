"""Checks of single setting values; each returns (severity, problem) pairs."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable
from typing import Final

from pytest_zdm.lint.catalog import _BLOCKABLE_VERSIONS, _BUCKETS, _LOG_LEVELS, _WORKERS, SettingSpec, _shown
from pytest_zdm.lint.goparse import _go_parse_ip, go_parse_bool, go_parse_float, go_parse_int

_Problem = tuple[str, str]


def _did_you_mean(value: str, choices: Iterable[str], *, upper: bool = True) -> str:
    probe = value.strip().upper() if upper else value
    pool = {choice.upper() if upper else choice: choice for choice in choices}
    close = difflib.get_close_matches(probe, list(pool), n=1, cutoff=0.6)
    return f"; did you mean {pool[close[0]]}?" if close else ""


_NOUNS: Final = {"int": "integer", "bool": "boolean", "float": "number"}


def _empty_problem(spec: SettingSpec) -> _Problem:
    default = f" (remove it to get the default {spec.default!r})" if spec.default else ""
    return (
        "error",
        "is set but empty; a set value does not fall back to the default, and an empty value is not a "
        f"valid {_NOUNS.get(spec.kind, 'value')} here, so the proxy refuses to start{default}",
    )


def _check_bool(spec: SettingSpec, value: str) -> list[_Problem]:
    if go_parse_bool(value) is not None:
        return []
    hint = " (yes/no/on/off are not accepted)" if value.strip().lower() in ("yes", "no", "on", "off") else ""
    return [
        (
            "error",
            f"{_shown(spec.name, value)} is not a boolean; the proxy (Go strconv.ParseBool) accepts "
            f"true/false, True/False, TRUE/FALSE, t/f, T/F or 1/0{hint}",
        )
    ]


def _check_int(spec: SettingSpec, value: str) -> list[_Problem]:
    number = go_parse_int(value)
    shown = _shown(spec.name, value)
    if number is None:
        if value != value.strip() and go_parse_int(value.strip()) is not None:
            return [
                ("error", f"{shown} has surrounding whitespace, which the proxy's integer parser rejects")
            ]
        if re.fullmatch(r"[+-]?0[0-9_]+", value):
            return [
                (
                    "error",
                    f"{shown} is not an integer for the proxy: a leading 0 makes Go read it as octal, "
                    "where 8 and 9 are not digits (drop the leading 0)",
                )
            ]
        return [("error", f"{shown} is not an integer (Go strconv.ParseInt, base prefixes 0x/0o/0b allowed)")]
    problems: list[_Problem] = []
    if re.fullmatch(r"[+-]?0[0-7_]+", value) and number != 0:
        problems.append(
            (
                "warning",
                f"{shown} has a leading 0, so the proxy reads it as octal: it means {number} "
                f"(write {number} if that is intended, else drop the leading 0)",
            )
        )
    if spec.name in _WORKERS and number <= 0 and number != -1:
        problems.append(
            (
                "warning",
                f"{number} is not a worker count; the proxy logs a warning and uses its default instead "
                "(use -1 for the default or a positive number)",
            )
        )
    if spec.name == "ZDM_PROXY_TOPOLOGY_NUM_TOKENS" and not 0 < number <= 256:
        problems.append(("error", f"{number} is out of range; expected 1..256 (the proxy refuses to start)"))
    if spec.name in ("ZDM_PROXY_LISTEN_PORT", "ZDM_METRICS_PORT") and not 0 < number <= 65535:
        problems.append(("error", f"{number} is not a TCP port; expected 1..65535"))
    return problems


def _check_float(spec: SettingSpec, value: str) -> list[_Problem]:
    if go_parse_float(value) is not None:
        return []
    return [("error", f"{_shown(spec.name, value)} is not a number (Go strconv.ParseFloat)")]


def _enum_ok(spec: SettingSpec, value: str) -> bool:
    if spec.field == "LogLevel":
        return value.strip().upper() in _LOG_LEVELS
    if spec.field == "ControlConnMaxProtocolVersion":
        if value.lower() in ("dsev1", "dsev2"):
            return True
        return value.isascii() and value.isdigit() and 2 <= int(value) <= 5
    return value.upper() in spec.allowed


def _check_enum(spec: SettingSpec, value: str) -> list[_Problem]:
    if _enum_ok(spec, value):
        return []
    expected = ", ".join(spec.allowed[:-1]) + f" or {spec.allowed[-1]}"
    hint = ""
    if value != value.strip() and _enum_ok(spec, value.strip()):
        hint = "; the proxy does not trim the surrounding whitespace"
    elif spec.field == "ControlConnMaxProtocolVersion" and value.strip().lower() in {
        v.lower() for v in _BLOCKABLE_VERSIONS
    }:
        hint = "; spellings like v4 or Dse_V2 are only accepted by ZDM_BLOCKED_PROTOCOL_VERSIONS"
    else:
        hint = _did_you_mean(value, spec.allowed)
    return [
        (
            "error",
            f"{_shown(spec.name, value)} is not a valid value; expected {expected} (case-insensitive{hint})",
        )
    ]


def _are_not(items: list[str], noun: str) -> str:
    if len(items) == 1:
        return f"{items[0]!r} is not {noun}"
    plural = noun.split(" ", 1)[1] + "es" if noun.endswith("address") else noun.split(" ", 1)[1] + "s"
    return f"{', '.join(map(repr, items[:-1]))} and {items[-1]!r} are not {plural}"


def _items(value: str) -> list[str]:
    return value.replace(" ", "").split(",")


def _bucket_values(value: str) -> list[float | None]:
    return [go_parse_float(item.strip()) for item in value.split(",")]


def _check_list(spec: SettingSpec, value: str, *, metrics_enabled: bool | None) -> list[_Problem]:
    if spec.name == "ZDM_BLOCKED_PROTOCOL_VERSIONS":
        known = {version.lower() for version in _BLOCKABLE_VERSIONS}
        bad = [
            item.strip() for item in value.split(",") if item.strip() and item.strip().lower() not in known
        ]
        if not bad:
            return []
        return [
            (
                "error",
                f"{_are_not(bad, 'a protocol version')}; expected a comma-separated list of "
                f"{', '.join(_BLOCKABLE_VERSIONS)} (case-insensitive)",
            )
        ]
    if spec.name in _BUCKETS:
        return _check_buckets(value, metrics_enabled=metrics_enabled)
    if spec.name == "ZDM_PROXY_TOPOLOGY_ADDRESSES":
        if value == "":
            return []
        bad = [item for item in _items(value) if not _go_parse_ip(item)]
        if not bad:
            return []
        return [
            (
                "error",
                f"{_are_not(bad, 'an IP address')}; the proxy needs comma-separated IP "
                "addresses here, not host names (it refuses to start)",
            )
        ]
    # Contact points: any non-empty value passes Validate(); empty entries are passed on as hosts.
    if value != "" and "" in _items(value):
        return [("warning", "contains an empty entry (stray comma); the proxy keeps it as a contact point")]
    return []


def _check_buckets(value: str, *, metrics_enabled: bool | None) -> list[_Problem]:
    items = [item.strip() for item in value.split(",")]
    parsed = _bucket_values(value)
    bad = [item for item, number in zip(items, parsed, strict=True) if number is None]
    if bad:
        what = "contains an empty item (stray comma)" if bad == [""] else _are_not(bad, "a number")
        return [
            (
                "error",
                f"{what}; expected comma-separated milliseconds such as '1, 4, 7, 10' "
                "(the proxy refuses to start)",
            )
        ]
    numbers = [number for number in parsed if number is not None]
    for low, high in itertools.pairwise(numbers):
        if not low < high:
            severity = "warning" if metrics_enabled is False else "error"
            return [
                (
                    severity,
                    f"buckets must be strictly increasing, but {low:g} is followed by {high:g}; with metrics "
                    "enabled the proxy panics when it creates the latency histogram (Prometheus rule)",
                )
            ]
    return []


# ---------------------------------------------------------------------------------------------------------
# lint_settings
