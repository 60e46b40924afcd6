"""Lint zdm-proxy settings before they reach a proxy.

zdm-proxy reads its configuration either from ``ZDM_*`` environment variables or, when started with
``--config FILE``, from a YAML file (environment variables are then ignored). Both paths are forgiving in
dangerous ways: unknown ``ZDM_*`` variables and unknown YAML keys are silently ignored, so a setting that
does not exist (``ZDM_PHASE``, ``ZDM_ENABLE_TARGET_WRITES``...) or a typo (``ZDM_METRICS_ENABLE``) looks
applied while the proxy runs with its defaults. This package finds such problems without starting anything.

The ground truth is the proxy's ``proxy/pkg/config/config.go`` (zdm-proxy 2.4), see :mod:`.catalog`; value
parsing mirrors what the proxy really calls (:mod:`.goparse`). Entry points: :func:`lint_settings` for a
mapping of settings, :func:`lint_file` for an env file, a proxy YAML config, Kubernetes manifests or a
proxy log, :func:`load_settings` to only read such a file, and :func:`parsed_configuration_to_settings`
for the ``Parsed configuration: {...}`` JSON the proxy logs at startup. Secret values never appear in any
message.
"""

from pytest_zdm.lint.catalog import (
    PHASES,
    SETTINGS,
    UNKNOWN_VALUE,
    Finding,
    envconfig_name,
    is_secret,
    summarize,
)
from pytest_zdm.lint.files import lint_file, load_settings
from pytest_zdm.lint.goparse import go_parse_bool, go_parse_float, go_parse_int
from pytest_zdm.lint.kubernetes import lint_kubernetes_objects
from pytest_zdm.lint.rules import lint_settings
from pytest_zdm.lint.startup_log import parsed_configuration_from_log, parsed_configuration_to_settings

__all__ = [
    "PHASES",
    "SETTINGS",
    "UNKNOWN_VALUE",
    "Finding",
    "envconfig_name",
    "go_parse_bool",
    "go_parse_float",
    "go_parse_int",
    "is_secret",
    "lint_file",
    "lint_kubernetes_objects",
    "lint_settings",
    "load_settings",
    "parsed_configuration_from_log",
    "parsed_configuration_to_settings",
    "summarize",
]
