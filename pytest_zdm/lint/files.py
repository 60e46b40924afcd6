"""Reading zdm-proxy settings from a file of any kind the lint knows, and linting them.

:func:`lint_file` detects the kind from the content: an env file, the proxy's YAML config, Kubernetes
manifests or a proxy log (its ``Parsed configuration`` line).
"""

from __future__ import annotations

from pathlib import Path

import yaml

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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZdmError(f"{path}: cannot read the configuration file: {exc}") from None
    if _PARSED_MARKER in text:
        try:
            settings = parsed_configuration_to_settings(parsed_configuration_from_log(text))
        except ZdmError as exc:
            raise ZdmError(f"{path}: {exc}") from None
        return Loaded(settings, "proxy-log")
    if _looks_like_env_file(text):
        return _load_env_file(path, text)
    try:
        nodes = [node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node is not None]
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ZdmError(f"{_expected(path)}; it is not valid YAML{where}: {reason}") from None
    if any(_is_k8s_node(node) for node in nodes):
        return _load_kubernetes(path, text)
    if nodes and isinstance(nodes[0], yaml.MappingNode):
        return _load_yaml_config(path, nodes[0])
    raise ZdmError(_expected(path))
