"""zdm-proxy settings from its YAML config (``--config``), typed as ``gopkg.in/yaml.v3`` types them.

``yes`` is a boolean there, a quoted ``"9042"`` is not an integer.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Final

import yaml

from pytest_zdm.errors import ZdmError
from pytest_zdm.lint.catalog import _BY_YAML_KEY, UNKNOWN_VALUE, YAML_KEY_PREFIX, Finding, SettingSpec, _shown
from pytest_zdm.lint.goparse import _go_parse_uint, go_parse_float, go_parse_int
from pytest_zdm.lint.loaded import Loaded, _expected

_YAML_NULLS: Final = ("", "~", "null", "Null", "NULL")
_YAML_TRUE: Final = ("true", "True", "TRUE")
_YAML_FALSE: Final = ("false", "False", "FALSE")
# yaml.v3 accepts these YAML 1.1 spellings only when decoding into a typed bool (quoted or not).
_YAML_COMPAT_TRUE: Final = ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")
_YAML_COMPAT_FALSE: Final = ("n", "N", "no", "No", "NO", "off", "Off", "OFF")
_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_YAML_TIMESTAMP: Final = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([Tt ].*)?")


def _yaml_resolve(plain: str) -> tuple[str, Any]:
    """yaml.v3 resolve() for an unquoted, untagged scalar: (tag, value)."""
    if plain in _YAML_NULLS:
        return "null", None
    if plain in _YAML_TRUE or plain in _YAML_FALSE:
        return "bool", plain in _YAML_TRUE
    if plain in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"):
        return "float", math.inf
    if plain in ("-.inf", "-.Inf", "-.INF"):
        return "float", -math.inf
    if plain in (".nan", ".NaN", ".NAN"):
        return "float", math.nan
    if plain[0] == ".":
        number = go_parse_float(plain)
        return ("float", number) if number is not None else ("str", plain)
    if plain[0] not in "+-0123456789":
        return "str", plain
    if _YAML_TIMESTAMP.fullmatch(plain):
        return "timestamp", plain
    digits = plain.replace("_", "")
    integer = go_parse_int(digits)
    if integer is None and digits[:1] != "-":
        integer = _go_parse_uint(digits.removeprefix("+"), base0=True)
    if integer is not None:
        return "int", integer
    if _YAML_STYLE_FLOAT.fullmatch(digits) and (number := go_parse_float(digits)) is not None:
        return "float", number
    return "str", plain


def _yaml_decode(spec: SettingSpec, node: yaml.Node) -> tuple[str | None, str | None]:
    """(value as the env loader would give it, None for null) or a problem, as yaml.v3 decodes ``node``."""
    if not isinstance(node, yaml.ScalarNode):
        shape = "list" if isinstance(node, yaml.SequenceNode) else "mapping"
        return (
            None,
            f"is a YAML {shape}; the proxy expects a single value (lists are comma-separated strings)",
        )
    raw = str(node.value)
    quoted = node.style is not None  # quoted or block scalar: always a string for yaml.v3
    tag: str
    value: Any
    tag, value = ("str", raw) if quoted else _yaml_resolve(raw)
    if tag == "null":
        return None, None
    if spec.go_type == "string":
        return raw, None
    shown = _shown(spec.name, raw)
    if spec.go_type == "bool":
        if tag == "bool":
            return ("true" if value else "false"), None
        if tag == "str" and raw in _YAML_COMPAT_TRUE + _YAML_COMPAT_FALSE:
            return ("true" if raw in _YAML_COMPAT_TRUE else "false"), None
        fix = " (write it unquoted)" if quoted and raw in _YAML_TRUE + _YAML_FALSE else ""
        what = "a quoted string" if quoted else f"a YAML {tag}"
        return None, f"{shown} is {what}, which the proxy's YAML decoder cannot put in a boolean{fix}"
    if spec.go_type == "int":
        if tag == "int" and -(1 << 63) <= value < 1 << 63:
            return str(value), None
        if tag == "float" and not math.isnan(value) and not math.isinf(value) and value < 2**63:
            note = "" if float(value).is_integer() else f" (the proxy truncates it to {int(value)})"
            return str(int(value)), (None if not note else f"{shown} is not an integer{note}")
    if spec.go_type == "float64" and tag in ("int", "float"):
        return repr(float(value)), None
    fix = " (write it unquoted)" if quoted and _yaml_resolve(raw)[0] in ("int", "float") else ""
    what = "a quoted string" if quoted else f"a YAML {tag}"
    target = "an integer" if spec.go_type == "int" else "a number"
    return None, f"{shown} is {what}, which the proxy's YAML decoder cannot put in {target}{fix}"


def _yaml_key_is_plausible(key: str) -> bool:
    probe = key.lower().removeprefix("zdm_")
    return probe in _BY_YAML_KEY or bool(
        difflib.get_close_matches(probe, list(_BY_YAML_KEY), n=1, cutoff=0.8)
    )


def _load_yaml_config(path: Path, mapping: yaml.MappingNode) -> Loaded:
    keys = [str(key.value) for key, _ in mapping.value if isinstance(key, yaml.ScalarNode)]
    if not any(_yaml_key_is_plausible(key) for key in keys):
        raise ZdmError(f"{_expected(path)}; its keys ({', '.join(keys[:4]) or 'none'}) are none of those")
    settings: dict[str, str] = {}
    findings: list[Finding] = []
    lines: dict[str, int] = {}
    for key_node, value_node in mapping.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        spec = _BY_YAML_KEY.get(key)
        name = spec.name if spec else f"{YAML_KEY_PREFIX}{key}"
        if key in lines:
            findings.append(
                Finding(
                    name,
                    f"YAML key {key} appears twice (lines {lines[key]} and {line}); "
                    "the proxy refuses to start",
                    "error",
                )
            )
        lines[key] = line
        if spec is None:
            settings[name] = UNKNOWN_VALUE
            continue
        value, problem = _yaml_decode(spec, value_node)
        if problem is not None:
            severity = "warning" if value is not None else "error"
            consequence = "" if value is not None else "; the proxy refuses to start"
            findings.append(Finding(spec.name, f"{problem}{consequence} (YAML key {key})", severity))
        if value is not None:
            settings[spec.name] = value
        elif problem is not None:
            settings[spec.name] = UNKNOWN_VALUE  # set, but unusable: keep dependent checks quiet
    return Loaded(settings, "yaml-config", findings)
