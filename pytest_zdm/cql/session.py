"""cassandra-driver sessions to an endpoint: one place for timeouts, auth and load balancing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import (
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    RoundRobinPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)

from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.model import CqlEndpoint, Credentials
from pytest_zdm.runtime.wait import poll

DEFAULT_REQUEST_TIMEOUT = 15.0


@dataclass
class CqlClient:
    """A connected driver ``Cluster`` and its ``Session``; close it to free the connections."""

    cluster: Cluster
    session: Session

    def close(self) -> None:
        """Shut the driver down (idempotent)."""
        self.cluster.shutdown()


def cluster_parameters(
    endpoint: CqlEndpoint,
    credentials: Credentials,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    connect_timeout: float = 10.0,
    protocol_version: int = 4,
    consistency_level: str = "LOCAL_QUORUM",
    **cluster_options: Any,
) -> dict[str, Any]:
    """The keyword arguments of the driver's ``Cluster`` for ``endpoint`` (plain data, so it can be tested).

    DC-aware balancing pinned to the endpoint's datacenter when it is known, so a driver pointed at the proxy
    or a single cluster never routes to a remote DC behind the caller's back. An Astra endpoint goes through
    its secure connect bundle (``cloud=``; the driver then takes contact points, TLS and the local DC from
    the bundle and Astra's metadata service) with the login Astra expects: ``token`` and the token.
    """
    policy: Any
    if endpoint.pinned:
        # A tunnel (port-forward) is the only usable address: the peers the cluster advertises are pod
        # addresses, not reachable from here.
        policy = WhiteListRoundRobinPolicy([endpoint.host])
    elif endpoint.secure_connect_bundle or endpoint.local_dc:
        policy = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=endpoint.local_dc))
    else:
        policy = RoundRobinPolicy()
    profile = ExecutionProfile(
        load_balancing_policy=policy,
        request_timeout=request_timeout,
        consistency_level=ConsistencyLevel.name_to_value[consistency_level],
    )
    # Reconnect every second: after a node or the proxy comes back, verification must see it promptly, not
    # after the driver's default exponential backoff (which reaches minutes).
    cluster_options.setdefault("reconnection_policy", ConstantReconnectionPolicy(1.0, max_attempts=None))
    params: dict[str, Any] = {
        "auth_provider": PlainTextAuthProvider(credentials.username, credentials.password),
        "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
        "connect_timeout": connect_timeout,
        "control_connection_timeout": connect_timeout,
        "protocol_version": protocol_version,
        **cluster_options,
    }
    if endpoint.secure_connect_bundle:
        # The bundle is unpacked into the system temp dir, not beside the bundle (often a read-only mount);
        # the metadata service gets the same connect timeout as the nodes.
        params["cloud"] = {
            "secure_connect_bundle": endpoint.secure_connect_bundle,
            "connect_timeout": connect_timeout,
            "use_default_tempdir": True,
        }
    else:
        params["contact_points"] = endpoint.contact_points
        params["port"] = endpoint.port
    return params


def connect(
    endpoint: CqlEndpoint,
    credentials: Credentials,
    *,
    keyspace: str | None = None,
    **options: Any,
) -> CqlClient:
    """Connect to ``endpoint`` with a password (or Astra token) login; options as ``cluster_parameters``."""
    cluster = Cluster(**cluster_parameters(endpoint, credentials, **options))
    try:
        session = cluster.connect(keyspace)
    except Exception:
        cluster.shutdown()
        raise
    # The driver picks a parameter's encoder by its exact type: a Keyspace (a str subclass) would be
    # rendered unquoted, so it is encoded as the string it is.
    session.encoder.mapping[Keyspace] = session.encoder.cql_encode_str
    return CqlClient(cluster=cluster, session=session)


def login_error(
    endpoint: CqlEndpoint, credentials: Credentials, *, timeout: float = 5.0, protocol_version: int = 4
) -> str | None:
    """None when a CQL login and ``SELECT release_version`` work at ``endpoint``; else why not (one line)."""
    try:
        client = connect(
            endpoint,
            credentials,
            connect_timeout=timeout,
            request_timeout=timeout,
            protocol_version=protocol_version,
        )
    except Exception as exc:  # the driver raises many types (NoHostAvailable, AuthenticationFailed...)
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    try:
        client.session.execute("SELECT release_version FROM system.local")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        client.close()
    return None


def wait_for_login(
    endpoint: CqlEndpoint, credentials: Credentials, *, timeout: float, protocol_version: int = 4
) -> str | None:
    """Retry :func:`login_error` every half second for up to ``timeout`` s.

    Returns None once a login works, else the last reason (a fresh node refuses logins until its auth
    setup is done).
    """
    errors = [login_error(endpoint, credentials, protocol_version=protocol_version)]

    def logged_in() -> bool:
        errors.append(login_error(endpoint, credentials, protocol_version=protocol_version))
        return errors[-1] is None

    if errors[-1] is not None and not poll(logged_in, timeout=timeout, interval=0.5):
        return errors[-1]
    return None


def release_version(client: CqlClient) -> str:
    """The Cassandra release the session is connected to (the proxy answers with origin's)."""
    row = client.session.execute("SELECT release_version FROM system.local").one()
    return str(row.release_version)
