"""The supervisor's control server outlives its clients: a client that goes away costs its own request only.

Every process of a run (xdist workers, an attached session, ``zdm-verify``) shares one environment through
its supervisor. Before, a client that gave up waiting for a slow control and closed, one killed during the
handshake, or one holding another run's key ended the serving loop with the exception, and the supervisor
stopped the environment under the whole run. The real server (:func:`serve`) and the real client
(:func:`pytest_zdm.environment.zdm_env._request`) talk over a real socket; only the target is a stand-in.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm.environment.supervisor import _Shutdown, control_address, serve
from pytest_zdm.environment.zdm_env import _request


class Server:
    """:func:`serve` in a thread, its controls sleeping ``slow`` seconds; the verbs it was asked, in order."""

    def __init__(self, run_dir: Path) -> None:
        key = os.urandom(32)
        (run_dir / "control.key").write_bytes(key)
        self.listener = Listener(control_address(run_dir), family="AF_UNIX", authkey=key)
        self.asked: list[str] = []
        self.slow = 0.0
        self.ended: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _control(self, verb: str, args: tuple[Any, ...]) -> Any:
        self.asked.append(verb)
        time.sleep(self.slow)
        if verb == "fail":
            raise RuntimeError("the node is not running")
        return {"verb": verb, "args": list(args)}

    def _run(self) -> None:
        try:
            serve(self.listener, self._control)
        except BaseException as exc:  # _Shutdown when asked; anything else is the defect under test
            self.ended = exc

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def server(run_dir: Path) -> Iterator[Server]:
    """A serving loop for the test, its socket closed afterwards."""
    served = Server(run_dir)
    yield served
    served.close()


def _alive(server: Server) -> None:
    """Asked before each client call: a client of a dead loop would wait in the socket's backlog for ever."""
    time.sleep(0.3)
    assert server.thread.is_alive(), f"the server stopped: {server.ended!r}"


def _still_serving(server: Server, run_dir: Path) -> None:
    _alive(server)
    assert _request(run_dir, ("proxy_status",), timeout=10) == ("ok", {"verb": "proxy_status", "args": []})


def test_a_client_that_gave_up_waiting_does_not_stop_the_server(server: Server, run_dir: Path) -> None:
    server.slow = 0.5
    status, message = _request(run_dir, ("restart_proxy",), timeout=0.1)
    assert (status, message) == ("error", "no answer from the supervisor within 0s")
    time.sleep(0.7)  # the control finishes and its answer meets a closed socket
    server.slow = 0.0
    _still_serving(server, run_dir)


def test_a_client_killed_during_the_handshake_does_not_stop_the_server(server: Server, run_dir: Path) -> None:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(control_address(run_dir))
    raw.close()  # gone before answering the challenge
    _still_serving(server, run_dir)


def test_a_client_with_another_runs_key_is_refused_and_the_server_goes_on(
    server: Server, run_dir: Path
) -> None:
    with pytest.raises(AuthenticationError):
        Client(control_address(run_dir), family="AF_UNIX", authkey=b"another run's key")
    _still_serving(server, run_dir)
    (run_dir / "control.key").write_bytes(b"another run's key")
    status, message = _request(run_dir, ("proxy_status",), timeout=10)  # one line, not a traceback
    assert status == "error" and message.startswith("supervisor unreachable ("), message


def test_a_request_that_is_not_one_is_dropped_and_a_failing_control_is_answered(
    server: Server, run_dir: Path
) -> None:
    key = (run_dir / "control.key").read_bytes()
    with Client(control_address(run_dir), family="AF_UNIX", authkey=key) as conn:
        conn.send(42)  # not a sequence
    _alive(server)
    assert _request(run_dir, ("fail", "target"), timeout=10) == (
        "error",
        "RuntimeError: the node is not running",
    )
    _still_serving(server, run_dir)
    assert server.asked == ["fail", "proxy_status"]


def test_shutdown_ends_the_loop_after_answering(server: Server, run_dir: Path) -> None:
    assert _request(run_dir, ("shutdown",), timeout=10) == ("ok", None)
    server.thread.join(timeout=10)
    assert isinstance(server.ended, _Shutdown)
