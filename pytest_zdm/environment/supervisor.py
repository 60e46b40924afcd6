"""The process that owns a started environment for a whole test run.

Why a separate process: under pytest-xdist the environment must start once, be shared by every worker and
be stopped exactly once, yet no worker lives for the whole run and the controller runs no fixtures. So the
first process that needs the environment spawns this supervisor
(``python -m pytest_zdm.environment.supervisor RUN_DIR``) in its own session; it starts the target, writes
``env.json`` and then serves controls (stop a node, restart the proxy...) over a Unix socket in the run
directory. The controller stops it at the end of the run. If the owning pytest process dies (even by
SIGKILL) it stops everything by itself within a second, and its children die with it in any case
(``PR_SET_PDEATHSIG``).

Files in RUN_DIR: ``request.json`` (in, without secrets: those come on stdin), ``progress.log``,
``env.json`` or ``failed.txt`` (out), ``control.key`` (controls, on the socket :func:`control_address`;
removed when the supervisor stops), ``supervisor.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Listener
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from pytest_zdm.errors import ZdmError
from pytest_zdm.model import Control
from pytest_zdm.runtime import leftovers
from pytest_zdm.settings import Settings
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import Target


class _Shutdown(Exception):
    """Raised in the main thread by a stop signal or when the owner is gone."""


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    del frame
    raise _Shutdown(signal.Signals(signum).name)


def control_address(run_dir: Path) -> str:
    """Where the supervisor listens: an abstract Unix socket named after the run directory.

    Abstract names (Linux) have no file, so the 108-byte limit on socket paths never bites deep run
    directories, and nothing is left on disk.
    """
    return "\0pytest-zdm-" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:24]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that readers never see a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


#: The secrets handed over on stdin are a few short strings; anything longer is not a hand-over.
MAX_HANDOVER = 1 << 20


def read_request(run_dir: Path, handover: BinaryIO) -> tuple[Settings, dict[str, Any]]:
    """The run's settings and the target's plan: ``request.json``, then the secrets from ``handover``.

    The spawner writes the secrets to the supervisor's stdin and closes it; they exist in this process's
    memory only (see :func:`pytest_zdm.environment.lifecycle.supervisor_request`).
    """
    request = json.loads((run_dir / "request.json").read_text())
    secrets = json.loads(handover.read(MAX_HANDOVER) or b"{}")
    settings = Settings.from_json(request["settings"]).with_secrets(secrets)
    return settings, dict(request.get("plan") or {})


def _watch(run_dir: Path, owner_pid: int | None, owner_started: float | None) -> None:
    """SIGTERM ourselves when the owning pytest process is gone, or the run directory was deleted.

    Without its run directory nobody can reach or stop the environment any more (no endpoints, no key),
    so a kept environment whose directory was cleaned up must not run on forever.
    """
    while run_dir.is_dir() and (owner_pid is None or leftovers.process_alive(owner_pid, owner_started)):
        time.sleep(0.5)
    why = "the run directory was deleted" if not run_dir.is_dir() else f"its owner (pid {owner_pid}) is gone"
    print(f"pytest-zdm supervisor: stopping the environment: {why}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Start the target, publish its endpoints, serve controls, stop everything at the end."""

    def __init__(self, run_dir: Path, handover: BinaryIO) -> None:
        self.run_dir = run_dir
        self.settings, self.plan = read_request(run_dir, handover)
        request = json.loads((run_dir / "request.json").read_text())
        self.owner_pid: int | None = request.get("owner_pid")
        self.owner_started: float | None = request.get("owner_started")
        self.keep: bool = bool(request.get("keep"))
        self.authkey = (run_dir / "control.key").read_bytes()
        self.target: Target = target_class(self.settings.zdm_target)(self.settings, run_dir)
        self._progress = (run_dir / "progress.log").open("a", buffering=1)

    def progress(self, message: str) -> None:
        """One line to ``progress.log`` (the spawning test process relays it to the terminal)."""
        self._progress.write(f"{message}\n")

    def run(self) -> int:
        """Main loop; returns the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _raise_shutdown)
        for line in leftovers.sweep(self.settings.zdm_cache_dir):
            self.progress(line)
        entry = leftovers.register(
            self.settings.zdm_cache_dir,
            leftovers.LiveEntry(
                run_dir=str(self.run_dir),
                supervisor_pid=os.getpid(),
                supervisor_since_boot=leftovers.current_process_started(),
                owner_pid=self.owner_pid,
                keep=self.keep,
            ),
        )
        owner = None if self.keep else self.owner_pid
        threading.Thread(target=_watch, args=(self.run_dir, owner, self.owner_started), daemon=True).start()
        listener: Listener | None = None
        code = 0
        try:
            info = self.target.start(self.plan, self.progress)
            if not info.capabilities:  # what the target offers, for checks that need more than CQL
                offered = tuple(sorted(c.value for c in self.target.capabilities()))
                info = dataclasses.replace(info, capabilities=offered)
            listener = Listener(control_address(self.run_dir), family="AF_UNIX", authkey=self.authkey)
            write_atomic(self.run_dir / "env.json", json.dumps(info.to_json(), indent=2))
            self.serve(listener)
        except _Shutdown as why:
            self.progress(f"stopping ({why})")
        except ZdmError as exc:
            write_atomic(self.run_dir / "failed.txt", str(exc))
            code = 1
        except Exception as exc:  # unexpected: keep the traceback as evidence, hand the summary on
            write_atomic(self.run_dir / "failed.txt", f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
            code = 2
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            self.target.stop()
            if listener is not None:
                listener.close()
            with contextlib.suppress(OSError):  # the socket gone, it opens nothing: a kept run dir keeps none
                (self.run_dir / "control.key").unlink()
            leftovers.unregister(entry)
            with contextlib.suppress(OSError):  # the run directory may have been deleted under us
                write_atomic(self.run_dir / "stopped", time.strftime("%Y-%m-%dT%H:%M:%S"))
            self._progress.close()
        return code

    def serve(self, listener: Listener) -> None:
        """Answer control requests until asked to shut down (:func:`serve`)."""
        serve(listener, lambda verb, args: self.target.control(Control(verb), *args))


def serve(listener: Listener, control: Callable[[str, tuple[Any, ...]], Any]) -> None:
    """Answer control requests one at a time until one asks to shut down (raises :class:`_Shutdown`).

    A client that goes away costs its own request only, never the environment every process of the run
    shares: one killed mid-request or during the handshake, one that gave up waiting for a slow control
    (``no answer from the supervisor within ...``) and closed before the answer was sent, or one holding
    another run's key. Before, each of these ended this loop with the exception, and the supervisor
    stopped the environment under the run.
    """
    while True:
        try:
            conn = listener.accept()  # the key's challenge, both ways
        except (EOFError, OSError, AuthenticationError):
            time.sleep(0.01)  # a listener that keeps failing (out of descriptors) must not spin
            continue
        with conn:
            try:
                request = conn.recv()
                verb, args = str(request[0]), tuple(request[1:2])
            except Exception:  # the client went away, or sent something that is not a request
                continue
            if verb == "shutdown":
                with contextlib.suppress(OSError):
                    conn.send(("ok", None))
                raise _Shutdown("shutdown requested")
            try:
                reply: tuple[str, Any] = (
                    "ok",
                    "pong" if verb == "ping" else control(verb, args),
                )
            except _Shutdown:
                raise
            except Exception as exc:
                reply = ("error", f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):  # the client is gone: its answer with it
                conn.send(reply)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m pytest_zdm.environment.supervisor RUN_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    return Supervisor(Path(args[0]), sys.stdin.buffer).run()


if __name__ == "__main__":
    sys.exit(main())
