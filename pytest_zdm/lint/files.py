"""Reading zdm-proxy settings from a file of any kind the lint knows, and linting them.

:func:`lint_file` detects the kind from the content: an env file, the proxy's YAML config, Kubernetes
manifests or a proxy log (its ``Parsed configuration`` line).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pytest_zdm import inputs
from pytest_zdm.errors import ZdmError
from pytest_zdm.lint.catalog import PHASES, Finding
from pytest_zdm.lint.env_file import _load_env_file, _looks_like_env_file
from pytest_zdm.lint.kubernetes import _is_k8s_node, _load_kubernetes
from pytest_zdm.lint.loaded import Loaded, _expected
from pytest_zdm.lint.rules import _lint
from pytest_zdm.lint.startup_log import (
    _PARSED_MARKER,
    parsed_configuration_from_log,
    parsed_configuration_to_settings,
)
from pytest_zdm.lint.yaml_config import _load_yaml_config


def load_settings(path: Path) -> tuple[dict[str, str], str]:
    """The zdm-proxy settings in ``path`` and what kind of file it is.

    Kinds, detected from the content: ``env-file`` (``KEY=VALUE`` lines, optional ``export``, quotes and
    comments; only ``ZDM_*`` and zdm-proxy 1.x names are kept), ``yaml-config`` (the ``--config`` file;
    keys are mapped to ``ZDM_*`` names, unknown keys become ``yaml:<key>``), ``kubernetes`` (manifests:
    container ``env`` of workloads plus ``ZDM_*`` keys of ConfigMaps and Secrets; values the file does not
    show are :data:`UNKNOWN_VALUE`) and ``proxy-log`` (a log holding the proxy's ``Parsed configuration``
    line). Anything else raises ZdmError naming the path and what was expected.
    """
    loaded = _load(path)
    return loaded.settings, loaded.kind


def lint_file(path: Path, *, phase: int | None = None) -> list[Finding]:
    """All findings for a configuration file: :func:`load_settings` plus :func:`lint_settings`.

    Includes what only the file shows: YAML values the proxy's decoder rejects (a quoted ``"9042"`` for an
    integer), duplicate keys, Kubernetes env values that are not strings, and containers that start the
    proxy with ``--config`` (which makes it ignore every ``ZDM_*`` variable).
    """
    if phase is not None and (isinstance(phase, bool) or phase not in PHASES):
        raise ValueError(f"phase must be one of {', '.join(map(str, PHASES))}, got {phase!r}")
    loaded = _load(path)
    linted = _lint(loaded.settings, phase=phase, kind=loaded.kind, hidden_sources=loaded.hidden_sources)
    return loaded.findings + linted


def _load(path: Path) -> Loaded:
    text = _read(path)
    if _PARSED_MARKER in text:
        try:
            settings = parsed_configuration_to_settings(parsed_configuration_from_log(text))
        except ZdmError as exc:
            raise ZdmError(f"{path}: {exc}") from None
        return Loaded(settings, "proxy-log")
    if _looks_like_env_file(text):
        return _load_env_file(path, text)
    try:
        nodes = inputs.yaml_nodes(text, source=path)
    except inputs.InputError as exc:
        if exc.reason.startswith("it is not valid YAML"):
            raise ZdmError(f"{_expected(path)}; {exc.reason}") from None
        raise
    if any(_is_k8s_node(node) for node in nodes):
        return _load_kubernetes(path, inputs.yaml_construct(nodes, source=path))
    if nodes and isinstance(nodes[0], yaml.MappingNode):
        return _load_yaml_config(path, nodes[0])
    raise ZdmError(_expected(path))


def _read(path: Path) -> str:
    """The file's text, bounded: a configuration is kilobytes; a proxy log may be large.

    From a file over :data:`~pytest_zdm.inputs.MAX_CONFIG_BYTES` only the proxy's last ``Parsed
    configuration`` line is kept, read line by line in bounded memory; a large file without one is refused
    in one line.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ZdmError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    if size <= inputs.MAX_CONFIG_BYTES:
        return inputs.read_text(path, what="a zdm-proxy configuration")
    line = _last_parsed_line(path) if size <= MAX_LOG_BYTES else None
    if line is None:
        raise ZdmError(
            f"{path}: {size:,} bytes; expected a zdm-proxy configuration of at most "
            f"{inputs.MAX_CONFIG_BYTES:,} bytes, or a proxy log of at most {MAX_LOG_BYTES:,} bytes with a "
            f"'{_PARSED_MARKER.strip()}' line"
        )
    return line


#: A proxy log read for its ``Parsed configuration`` line: scanned at a few hundred MB/s, so bounded too.
MAX_LOG_BYTES = 512 << 20
_CHUNK = 1 << 20


def _last_parsed_line(path: Path) -> str | None:
    """The last line of ``path`` holding the proxy's ``Parsed configuration``, in bounded memory."""
    marker = _PARSED_MARKER.encode()
    last: bytes | None = None
    carry = b""
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                lines = (carry + block).split(b"\n")
                carry = lines.pop()[-_CHUNK:]  # no log line is a megabyte: keep the tail of one that is
                found = [line for line in lines if marker in line]
                if found:
                    last = found[-1][-_CHUNK:]
    except OSError as exc:
        raise ZdmError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    if marker in carry:
        last = carry
    return last.decode("utf-8", "replace") if last is not None else None
