"""The boot cache: a class-data archive and template data directories per release, used by real nodes.

A node started from the cache must be the node it would have been without it: its own cluster name, the
configured token, the superuser, a working CQL login; and it must really start from the cache (no first-boot
work in its log, Cassandra's classes mapped from the archive). The templates are copied, never shared: a
node that writes cannot change them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_zdm.cql import connect, wait_for_login
from pytest_zdm.lab.cassandra import SUPERUSER, NodeConfig, jvm_options
from pytest_zdm.model import CqlEndpoint
from pytest_zdm.provision import provision_cassandra
from pytest_zdm.settings import Settings
from pytest_zdm.targets.local import bootcache
from pytest_zdm.targets.local.node import CassandraNode

pytestmark = pytest.mark.integration
NAMES = ("zdm-origin", "zdm-target")


@pytest.fixture(scope="module")
def built(zdm_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """The boot cache of the default release, built into a cache directory of this module's own."""
    cache_dir = tmp_path_factory.mktemp("boot-cache")
    artifact = provision_cassandra(zdm_settings, lambda _: None)
    cache = bootcache.ensure(artifact, NAMES, cache_dir=cache_dir, heap="256M", progress=lambda _: None)
    return artifact, cache, cache_dir


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}  # fmt: skip


def test_the_cache_holds_an_archive_and_a_template_per_cluster_name(built):
    artifact, cache, cache_dir = built
    assert cache.archive is not None and cache.archive.stat().st_size > 10_000_000
    assert set(cache.templates) == set(NAMES)
    again = bootcache.ensure(artifact, NAMES, cache_dir=cache_dir, heap="256M", progress=print)
    assert again == cache, "a built cache is reused as it is"


def test_the_archive_maps_cassandras_classes(built):
    """``-Xshare:on`` fails when the archive is unusable; the class-load log says where classes came from."""
    artifact, cache, _ = built
    java = artifact.java.major if artifact.java else 17
    proc = subprocess.run(
        [artifact.java_path, "-Xshare:on", f"-XX:SharedArchiveFile={cache.archive}", "-Xms256M", "-Xmx256M",
         *jvm_options(java), "-Xlog:class+load=info", "-cp", artifact.classpath,
         "org.apache.cassandra.tools.GetVersion"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:] or proc.stdout[-2000:]
    shared = [
        ln for ln in proc.stdout.splitlines() if "org.apache.cassandra" in ln and "shared objects file" in ln
    ]
    assert shared, "no Cassandra class was loaded from the archive"


@pytest.mark.parametrize("name", NAMES)
def test_a_node_from_the_cache_is_its_own_cluster_with_its_token_and_superuser(
    built, tmp_path, name, reserved_ports
):
    artifact, cache, _ = built
    template_before = _snapshot(cache.templates[name])
    storage, native = reserved_ports(2)
    cfg = NodeConfig("n", name, "127.0.0.1", storage, native, tmp_path / "n", "256M", fast_boot=True)
    node = CassandraNode(cfg, artifact, timeout=180, boot_cache=cache)
    node.launch()
    try:
        assert node.seeded, "the empty data directory was not seeded from the template"
        node.wait_ready()
        endpoint = CqlEndpoint("127.0.0.1", native, "datacenter1")
        assert wait_for_login(endpoint, SUPERUSER, timeout=60) is None
        client = connect(endpoint, SUPERUSER)
        try:
            row = client.session.execute("SELECT cluster_name, tokens FROM system.local").one()
            assert row.cluster_name == name and set(row.tokens) == {"0"}
            client.session.execute(
                "CREATE KEYSPACE zdm_verify_boot WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}"
            )
            client.session.execute("CREATE TABLE zdm_verify_boot.t (k int PRIMARY KEY)")
            client.session.execute("INSERT INTO zdm_verify_boot.t (k) VALUES (1)")
        finally:
            client.close()
        log = node.log.tail(2000)
        assert "No host ID found" not in log and "Created default superuser role" not in log, (
            "the node did its first boot's work itself"
        )
        assert f"-XX:SharedArchiveFile={cache.archive}" in " ".join(node.command())
    finally:
        node.stop(graceful=True)
        node.remove_data()
    assert _snapshot(cache.templates[name]) == template_before, "a running node changed the template"


def test_a_data_directory_that_holds_data_is_never_overwritten(built, tmp_path):
    _, cache, _ = built
    cfg = NodeConfig("n", "zdm-origin", "127.0.0.1", 1, 2, tmp_path / "n", "256M", fast_boot=True)
    kept = tmp_path / "n" / "data" / "data" / "mine"
    kept.mkdir(parents=True)
    assert bootcache.seed_data(cfg, cache) is False and kept.is_dir()
    assert bootcache.seed_data(NodeConfig("m", "other-name", "127.0.0.1", 1, 2, tmp_path / "m", "256M",
                                          fast_boot=True), cache) is False  # fmt: skip
