"""zdm-proxy settings from an env file (``KEY=VALUE`` lines, optional ``export``, quotes, comments)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pytest_zdm.errors import ZdmError
from pytest_zdm.lint.catalog import UNKNOWN_VALUE, Finding
from pytest_zdm.lint.loaded import Loaded, _expected
from pytest_zdm.lint.rules import _relevant_name

_ENV_LINE: Final = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?")


def _looks_like_env_file(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(lines) and all(_ENV_LINE.fullmatch(line) for line in lines)


def _env_value(raw: str) -> str | None:
    """Shell/dotenv-style value: quotes removed, inline `` # comment`` dropped; None if malformed."""
    raw = raw.strip()
    if raw[:1] == "'":
        end = raw.find("'", 1)
        return None if end < 0 else raw[1:end]
    if raw[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(raw):
            char = raw[i]
            if char == "\\" and i + 1 < len(raw) and raw[i + 1] in '"\\$`':
                out.append(raw[i + 1])
                i += 2
                continue
            if char == '"':
                return "".join(out)
            out.append(char)
            i += 1
        return None
    return re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()


def _load_env_file(path: Path, text: str) -> Loaded:
    settings: dict[str, str] = {}
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None or not _relevant_name(match.group(1)):
            continue
        name, raw = match.group(1), match.group(2)
        value = UNKNOWN_VALUE if raw is None else _env_value(raw)  # bare NAME: taken from the caller's env
        if value is None:
            raise ZdmError(f"{path}:{number}: unterminated quote in the value of {name}")
        if name in seen:
            findings.append(
                Finding(name, f"set twice (lines {seen[name]} and {number}); the last value wins", "warning")
            )
        seen[name] = number
        settings[name] = value
    if not settings:
        raise ZdmError(f"{_expected(path)}; this env file sets no ZDM_* variable")
    return Loaded(settings, "env-file", findings)
