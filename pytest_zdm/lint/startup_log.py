"""The ``Parsed configuration: {json}`` line the proxy logs at start-up, read back as ``ZDM_*`` settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from pytest_zdm.errors import ZdmError
from pytest_zdm.lint.catalog import _BY_FIELD, SETTINGS, UNKNOWN_VALUE

_PARSED_MARKER: Final = "Parsed configuration: "


def parsed_configuration_to_settings(parsed: Mapping[str, Any]) -> dict[str, str]:
    """``ZDM_*`` settings from the proxy's startup line ``Parsed configuration: {json}``.

    That JSON is the effective Config after defaults and validation (keys are Go field names), so linting
    it checks what a running proxy really uses, e.g. against the expected phase. The passwords are absent
    (``json:"-"``) but were necessarily given, so they come back as :data:`UNKNOWN_VALUE`. Keys of other
    proxy versions are skipped; a mapping without any Config field raises ZdmError.
    """
    settings: dict[str, str] = {}
    for key, value in parsed.items():
        spec = _BY_FIELD.get(key)
        if spec is None or value is None:
            continue
        if isinstance(value, bool):
            settings[spec.name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            settings[spec.name] = str(int(value))
        else:
            settings[spec.name] = str(value)
    if not settings:
        raise ZdmError(
            "not a zdm-proxy 'Parsed configuration' object: expected Go field names such as "
            f"PrimaryCluster and ReadMode, got keys {sorted(parsed)[:5]}"
        )
    for spec in SETTINGS.values():
        if spec.secret:
            settings.setdefault(spec.name, UNKNOWN_VALUE)
    return settings


def parsed_configuration_from_log(text: str) -> dict[str, Any]:
    """The JSON of the last ``Parsed configuration: {...}`` line in a proxy log.

    Handles logrus' plain terminal format (raw JSON) as well as its logfmt and JSON formats, where the
    message is a quoted string and the JSON inside it is escaped.
    """
    at = text.rfind(_PARSED_MARKER)
    if at < 0:
        raise ZdmError(f"no '{_PARSED_MARKER.strip()}' line found in the proxy log")
    decoder = json.JSONDecoder()
    try:
        if at > 0 and text[at - 1] == '"':  # msg="Parsed configuration: {\"PrimaryCluster\":...}"
            message, _ = decoder.raw_decode(text, at - 1)
            parsed, _ = decoder.raw_decode(str(message).removeprefix(_PARSED_MARKER))
        else:
            parsed, _ = decoder.raw_decode(text, at + len(_PARSED_MARKER))
    except json.JSONDecodeError as exc:
        raise ZdmError(f"the '{_PARSED_MARKER.strip()}' line does not hold valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ZdmError(f"the '{_PARSED_MARKER.strip()}' line does not hold a JSON object")
    return parsed


# ---------------------------------------------------------------------------------------------------------
# Files
