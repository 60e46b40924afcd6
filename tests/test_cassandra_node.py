"""A real Cassandra 5.0 node from the cached jars, without the proxy: boot, auth, stop, die with its owner.

These run wherever Java and the jars are available, so the node lifecycle is exercised even on machines
where no zdm-proxy can be provisioned.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from pytest_zdm.cql import connect, login_error, wait_for_login
from pytest_zdm.lab.cassandra import SUPERUSER, NodeConfig
from pytest_zdm.model import CqlEndpoint, Credentials
from pytest_zdm.provision import provision_cassandra
from pytest_zdm.targets.local.node import CassandraNode

pytestmark = pytest.mark.integration


def _config(directory: Path, ports: list[int], name: str = "origin") -> NodeConfig:
    storage, native = ports
    return NodeConfig(name, f"zdm-{name}", "127.0.0.1", storage, native, directory, "256M", fast_boot=True)


def test_node_boots_with_password_auth_and_stops_cleanly(zdm_settings, tmp_path, reserved_ports):
    artifact = provision_cassandra(zdm_settings, progress=lambda _: None)
    node = CassandraNode(_config(tmp_path / "origin", reserved_ports(2)), artifact, timeout=180)
    node.launch()
    try:
        node.wait_ready()
        endpoint = CqlEndpoint("127.0.0.1", node.cfg.native_port, "datacenter1")
        assert wait_for_login(endpoint, SUPERUSER, timeout=60) is None
        client = connect(endpoint, SUPERUSER)
        try:
            row = client.session.execute("SELECT cluster_name, release_version FROM system.local").one()
            assert row.cluster_name == "zdm-origin" and row.release_version == artifact.version
        finally:
            client.close()
        assert "authentication" in (login_error(endpoint, Credentials("cassandra", "wrong")) or "").lower()
        pid = node.pid
        assert pid is not None and psutil.pid_exists(pid)
        # fast boot: the JVM runs its client compiler only (no C2 compiling start-up code on shared cores)
        assert _compiler_threads(pid) == ["C1 CompilerThre"]
    finally:
        node.stop(graceful=True)
        node.remove_data()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "Startup complete" in node.log.tail(400)
    assert not (tmp_path / "origin" / "data").exists()


def _compiler_threads(pid: int) -> list[str]:
    """Names of the JIT compiler threads of a running JVM (``C1 CompilerThre``, ``C2 CompilerThre``)."""
    names = (Path(f"/proc/{pid}/task/{tid}/comm") for tid in os.listdir(f"/proc/{pid}/task"))
    threads = {n.read_text().strip() for n in names if n.exists()}
    return sorted(threads & {"C1 CompilerThre", "C2 CompilerThre"})


def test_node_dies_with_the_process_that_started_it(zdm_settings, tmp_path):
    """PR_SET_PDEATHSIG: a SIGKILLed owner cannot leave a JVM behind."""
    provision_cassandra(zdm_settings, progress=lambda _: None)
    pid_file = tmp_path / "jvm.pid"
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(json.dumps(zdm_settings.to_json()))
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from pytest_zdm.lab.cassandra import NodeConfig
        from pytest_zdm.runtime.ports import reserve_ports
        from pytest_zdm.targets.local.node import CassandraNode
        from pytest_zdm.provision import provision_cassandra
        from pytest_zdm.settings import Settings
        import json
        settings = Settings.from_json(json.loads(Path({str(settings_file)!r}).read_text()))
        storage, native = reserve_ports(2)  # held by this process until it is killed
        cfg = NodeConfig("target", "zdm-target", "127.0.0.1", storage, native, Path({str(tmp_path / "t")!r}),
                         "256M", fast_boot=True)
        node = CassandraNode(cfg, provision_cassandra(settings, print), timeout=180)
        node.launch()
        Path({str(pid_file)!r}).write_text(str(node.pid))
        time.sleep(300)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists():
            assert owner.poll() is None, "owner script died early"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        jvm = psutil.Process(int(pid_file.read_text()))
        assert "CassandraDaemon" in " ".join(jvm.cmdline())
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        _, alive = psutil.wait_procs([jvm], timeout=15)
        assert alive == [], "the JVM outlived the process that started it"
    finally:
        if owner.poll() is None:
            owner.kill()
