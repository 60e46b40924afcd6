"""CQL for the framework and a team's checks.

Driver sessions to an endpoint (:mod:`.session`), the framework's own keyspaces (:mod:`.keyspaces`) and
CQL files applied to them (:mod:`.files`).
"""

from pytest_zdm.cql.session import (
    DEFAULT_REQUEST_TIMEOUT,
    CqlClient,
    cluster_parameters,
    connect,
    login_error,
    release_version,
    wait_for_login,
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "CqlClient",
    "cluster_parameters",
    "connect",
    "login_error",
    "release_version",
    "wait_for_login",
]
