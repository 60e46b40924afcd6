"""Two real single-node Cassandra clusters without a proxy.

For work that involves only the clusters (the consistency engine's tests and benchmark): no zdm-proxy is
needed, so it runs wherever Java and the Cassandra jars are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_zdm.cql import CqlClient, connect, wait_for_login
from pytest_zdm.lab.cassandra import SUPERUSER, NodeConfig
from pytest_zdm.model import CqlEndpoint
from pytest_zdm.provision import provision_cassandra
from pytest_zdm.runtime.ports import release_ports, reserve_ports
from pytest_zdm.settings import Settings
from pytest_zdm.targets.local.node import CassandraNode


@contextmanager
def two_clusters(
    settings: Settings, directory: Path, *, heap: str = "256M"
) -> Iterator[dict[str, CqlClient]]:
    """Boot origin and target side by side; yield a connected client to each; stop both at the end."""
    nodes = {}
    reserved: list[int] = []
    for name in ("origin", "target"):
        artifact = provision_cassandra(settings, lambda _: None, settings.cassandra_version(name))
        storage, native = reserve_ports(2)
        reserved += [storage, native]
        cfg = NodeConfig(
            name, f"zdm-{name}", "127.0.0.1", storage, native, directory / name, heap, fast_boot=True
        )
        nodes[name] = CassandraNode(cfg, artifact, timeout=240)
    clients: dict[str, CqlClient] = {}
    try:
        for node in nodes.values():
            node.launch()
        for name, node in nodes.items():
            node.wait_ready()
            endpoint = CqlEndpoint("127.0.0.1", node.cfg.native_port, "datacenter1")
            wait_for_login(endpoint, SUPERUSER, timeout=60)
            clients[name] = connect(endpoint, SUPERUSER, request_timeout=60)
        yield clients
    finally:
        for client in clients.values():
            client.close()
        for node in nodes.values():
            node.stop(graceful=False)
            node.remove_data()
        release_ports(reserved)
