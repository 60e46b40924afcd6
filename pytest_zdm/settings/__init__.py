"""One settings object for the whole framework.

Every setting exists under one name as an ini option (``zdm_target``), a command-line option
(``--zdm-target``) and, where it makes sense (secrets, CI paths), an environment variable. The help text
is defined once (:mod:`pytest_zdm.settings.options`) and shared by both registrations and the settings
reference. Precedence: command line > environment variable > ini file > default.
"""

from pytest_zdm.settings.option import Option
from pytest_zdm.settings.options import (
    CASSANDRA_RELEASES,
    CASSANDRA_VERSION,
    DOCKER_CASSANDRA_IMAGE,
    DOCKER_PROXY_IMAGE,
    OPTIONS,
    OPTIONS_BY_NAME,
    PRIMARY_CLUSTERS,
    READ_MODES,
    TARGET_NAMES,
    ZDM_PROXY_COMMIT,
)
from pytest_zdm.settings.resolve import Settings, readme_table, resolve

__all__ = [
    "CASSANDRA_RELEASES",
    "CASSANDRA_VERSION",
    "DOCKER_CASSANDRA_IMAGE",
    "DOCKER_PROXY_IMAGE",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "PRIMARY_CLUSTERS",
    "READ_MODES",
    "TARGET_NAMES",
    "ZDM_PROXY_COMMIT",
    "Option",
    "Settings",
    "readme_table",
    "resolve",
]
