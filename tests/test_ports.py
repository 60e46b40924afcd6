"""Ports: chosen where no run and no outgoing connection takes them, and proven to be the started process's.

The CI once saw a nested run's check refused on a port its environment had reported ready: ports picked
with ``bind(0)`` come from the kernel's ephemeral range and are anyone's again until the JVM binds them, and
a readiness check answered by whoever listens there cannot tell a stranger from the process started (zdm-proxy
even stays up when it cannot bind its metrics port).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_zdm.lab.proxy import ProxyConfig
from pytest_zdm.provision import provision_proxy
from pytest_zdm.runtime import ports
from pytest_zdm.runtime.process import LoggedProcess, PortTaken
from pytest_zdm.settings import Settings
from pytest_zdm.targets.local.proxy import ZdmProxyProcess


def _ephemeral_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    """A socket of this process listening on a loopback port the kernel picks; yields the port."""
    with socket.socket() as sock:
        sock.bind((ports.LOOPBACK, 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_ports_come_from_outside_the_kernels_ephemeral_range() -> None:
    low, high = _ephemeral_range()
    chosen = ports.free_ports(40)
    reserved = ports.reserve_ports(10)
    try:
        assert len(set(chosen)) == 40 and len(set(reserved)) == 10
        assert not [p for p in chosen + reserved if low <= p <= high], (low, high)
        assert all(1024 < p < 65536 for p in chosen + reserved)
    finally:
        ports.release_ports(reserved)


@pytest.fixture
def other_process_reservation() -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """Another process holding three reserved ports (stopped by its pid at the end)."""
    code = (
        "import sys, time\nfrom pytest_zdm.runtime import ports\n"
        "print(*ports.reserve_ports(3), flush=True)\ntime.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        held = [int(p) for p in proc.stdout.readline().split()]
        assert len(held) == 3
        yield proc, held
    finally:
        proc.kill()
        proc.wait()


def test_a_port_reserved_by_another_process_is_never_handed_out_until_that_process_ends(
    other_process_reservation: tuple[subprocess.Popen[str], list[int]],
) -> None:
    proc, held = other_process_reservation
    mine = ports.reserve_ports(3, prefer=held)
    try:
        assert not set(mine) & set(held), "a plan naming another run's reserved ports gets fresh ones"
        assert all(ports._reserved_elsewhere(p) for p in held)
    finally:
        ports.release_ports(mine)
    proc.kill()
    proc.wait()  # the kernel drops a dead process's locks: no stale reservation outlives a crash
    again = ports.reserve_ports(3, prefer=held)
    try:
        assert again == held
    finally:
        ports.release_ports(again)


def test_two_environments_of_one_process_never_share_a_port() -> None:
    first = ports.reserve_ports(4)
    try:
        second = ports.reserve_ports(4, prefer=first)
        try:
            assert not set(first) & set(second)
        finally:
            ports.release_ports(second)
    finally:
        ports.release_ports(first)
    assert ports.reserve_ports(4, prefer=first) == first
    ports.release_ports(first)


def test_running_out_of_ports_is_an_error_that_gives_back_what_was_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    few = tuple(ports.free_ports(2))
    monkeypatch.setattr(ports, "_candidates", lambda: few)
    with pytest.raises(OSError, match="no 3 free loopback ports"):
        ports.reserve_ports(3)
    assert sorted(ports.reserve_ports(2)) == sorted(few), "nothing stayed reserved after the failure"
    ports.release_ports(few)


def test_a_planned_port_someone_listens_on_is_replaced_in_place() -> None:
    with _listening() as taken:
        planned = ports.free_ports(2)
        got = ports.reserve_ports(3, prefer=[planned[0], taken, planned[1]])
        try:
            assert got[0] == planned[0] and got[2] == planned[1]
            assert got[1] != taken and ports.is_free(got[1])
        finally:
            ports.release_ports(got)


def test_held_by_tells_the_listening_process_from_any_other() -> None:
    with _listening() as port:
        assert ports.held_by(os.getpid(), port)
        assert not ports.held_by(os.getppid(), port)
        assert ports.holder(port).startswith(f"pid {os.getpid()} ")
    assert not ports.held_by(os.getpid(), port)


def test_a_process_whose_port_a_stranger_serves_is_never_ready(tmp_path: Path) -> None:
    """The seeded fault for the check below: readiness says yes, but the port is not the process's."""
    with _listening() as port:  # a stranger serving the port
        proc = LoggedProcess(
            ["sleep", "600"], log_path=tmp_path / "sleep.log", ready=lambda: True, timeout=20,
            env={"PATH": os.environ["PATH"]}, listens_on={"service": port},
        )  # fmt: skip
        proc.start_nowait()
        pid = proc.pid
        try:
            with pytest.raises(PortTaken, match=rf"port {port} \(service\) is served by pid {os.getpid()} "):
                proc.wait_ready()
            assert pid is not None and not proc.running(), "the process that could not listen is stopped"
        finally:
            proc.terminate(graceful=False)
            proc.close()


class _FakeReadiness(http.server.BaseHTTPRequestHandler):
    """What another zdm-proxy's health endpoint says: ready, both clusters up."""

    def do_GET(self) -> None:
        up = {"Status": "UP"}
        body = json.dumps({**up, "OriginStatus": up, "TargetStatus": up})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        del args


@pytest.mark.usefixtures("proxy_available")
def test_a_real_proxy_is_not_taken_for_ready_when_another_endpoint_answers_on_its_metrics_port(
    zdm_settings: Settings, tmp_path: Path, reserved_ports: Callable[[int], list[int]]
) -> None:
    """zdm-proxy logs 'Failed to listen on the metrics endpoint' and stays up: the readiness that answered
    was another proxy's. Without the ownership check this start returned as ready."""
    server = http.server.ThreadingHTTPServer((ports.LOOPBACK, 0), _FakeReadiness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    listen, origin, target = reserved_ports(3)
    cfg = ProxyConfig(
        origin_host=ports.LOOPBACK, origin_port=origin, target_host=ports.LOOPBACK, target_port=target,
        listen_host=ports.LOOPBACK, listen_port=listen, metrics_port=server.server_address[1],
        origin_credentials=("cassandra", "cassandra"), target_credentials=("cassandra", "cassandra"),
    )  # fmt: skip
    proxy = ZdmProxyProcess(cfg, provision_proxy(zdm_settings, lambda _: None), tmp_path, timeout=30)
    began = time.monotonic()
    try:
        with pytest.raises(PortTaken, match=rf"port {cfg.metrics_port} \(metrics and health\)"):
            proxy.start()
        assert time.monotonic() - began < 20
    finally:
        proxy.stop(graceful=False)
        server.shutdown()
        server.server_close()
