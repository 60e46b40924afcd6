"""Child processes with their output in a log file, watched for readiness, tied to their owner's life.

Built on mirakuru's ``Executor`` (start, wait for a check, stop by process group, kill leftovers marked with
its environment variable). Two things are added: output goes to a file (a pipe nobody drains would block
the JVM), and every child gets ``PR_SET_PDEATHSIG`` so it is killed by the kernel if the supervisor that
started it dies, even by SIGKILL. Short commands that end by themselves (a browser printing a PDF, a
report generator) run with :func:`run_once`, in a process group that is killed whole on timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from mirakuru import Executor

from pytest_zdm.runtime.leftovers import RUN_MARKER
from pytest_zdm.runtime.logs import LogWatcher
from pytest_zdm.runtime.ports import accepts_connections, held_by, holder
from pytest_zdm.runtime.wait import WaitTimeout, wait_until

_PR_SET_PDEATHSIG = 1


class PortTaken(RuntimeError):
    """Another process serves a port this one was to listen on (whoever answered there was not it)."""


class ProcessExited(RuntimeError):
    """The process ended before it became ready (``code``: its exit code)."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


def new_session_and_die_with_parent() -> None:
    """Runs in a child between fork and exec: its own session, and SIGKILL when its parent thread exits."""
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the supervisor's own cleanup still applies
        pass


class LoggedProcess(Executor):
    """A mirakuru executor whose output goes to ``log_path`` and whose readiness is ``ready()``.

    ``listens_on`` names the ports the process itself must listen on once ready: readiness judged from a
    port or an HTTP endpoint is only the process's own when the listening socket is its own (a stranger that
    took the port first would answer in its place; zdm-proxy even stays up without its metrics port).
    """

    def __init__(
        self,
        command: list[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        timeout: float,
        env: Mapping[str, str],
        cwd: Path | None = None,
        listens_on: Mapping[str, int] | None = None,
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.listens_on = dict(listens_on or {})
        self.log_path = log_path
        self.log = LogWatcher(log_path)
        self._log_fh: IO[Any] = log_path.open("ab")
        self._ready = ready
        self._clean_env = dict(env)
        super().__init__(
            command,
            timeout=timeout,
            sleep=0.2,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            cwd=str(cwd) if cwd else None,
        )

    @property
    def envvars(self) -> dict[str, str]:
        """Exactly the environment given (plus mirakuru's marker), not the caller's whole environment.

        The proxy in particular must not inherit a stray ``ZDM_*`` variable from the user's shell.
        """
        envs = dict(self._clean_env)
        envs["mirakuru_uuid"] = self._uuid
        if RUN_MARKER in os.environ:  # lets a later run find this process if everything above it died
            envs[RUN_MARKER] = os.environ[RUN_MARKER]
        return envs

    @property
    def _popen_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super()._popen_kwargs
        kwargs["preexec_fn"] = new_session_and_die_with_parent
        return kwargs

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.process.pid if self.process is not None else None

    def start_nowait(self) -> None:
        """Launch the process and start its timeout clock without waiting for readiness."""
        super(Executor, self).start()  # SimpleExecutor.start: Popen + deadline

    def wait_ready(self) -> None:
        """Wait for ``ready()``; raises ``ProcessExited`` if the process ends first, ``TimeoutError`` late."""

        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                self._clear_process()
                raise ProcessExited(
                    f"exited with code {code} before it was ready (log: {self.log_path})", code
                )
            return self._ready() and self._listening()

        remaining = self._endtime - time.time() if self._endtime is not None else (self._timeout or 0.0)
        try:
            wait_until(ready, timeout=remaining, what="ready", interval=self._sleep)
        except WaitTimeout:
            self.kill(sig=signal.SIGKILL)
            raise TimeoutError(f"not ready within {self._timeout:.0f}s (log: {self.log_path})") from None

    def _listening(self) -> bool:
        """True once the process holds every port of ``listens_on``; raises when a stranger serves one."""
        pid = self.pid
        waiting = False
        for name, port in self.listens_on.items():
            if pid is not None and held_by(pid, port):
                continue
            if accepts_connections(port) and not (pid is not None and held_by(pid, port)):
                self.kill(sig=signal.SIGKILL)
                raise PortTaken(
                    f"port {port} ({name}) is served by {holder(port)}, not by the process started "
                    f"(pid {pid}), which could not listen there (log: {self.log_path})"
                )
            waiting = True  # not listening yet, and no one else is
        return not waiting

    def pre_start_check(self) -> bool:
        """Never 'already running': each run uses its own ports and directories."""
        return False

    def after_start_check(self) -> bool:
        """Ready when the owner's check says so and the process holds its ports."""
        return self._ready() and self._listening()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process group (SIGSTOP/SIGCONT for pause and resume)."""
        if self.process is not None and self.running():
            os.killpg(self.process.pid, sig)

    def terminate(self, *, graceful: bool) -> None:
        """Stop the process group: SIGTERM and wait (graceful), or SIGKILL at once."""
        if self.process is None:
            return
        self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        if graceful:
            try:
                self.stop(stop_signal=signal.SIGTERM, expected_returncode=-signal.SIGTERM)
            except Exception:  # exit code of a JVM on SIGTERM varies (143 or -15): it is stopped either way
                self.kill(sig=signal.SIGKILL)
        else:
            self.kill(sig=signal.SIGKILL)

    def close(self) -> None:
        """Close the log file handle."""
        self._log_fh.close()


def run_once(
    command: list[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command to its end and return its output (text); the whole group dies on timeout.

    For tools that spawn children of their own (a browser's renderers, a JVM behind a shell script):
    the command runs in its own session, so a timeout kills every process it started, not only the first,
    and ``PR_SET_PDEATHSIG`` ends it with its caller. Raises :class:`subprocess.TimeoutExpired` after the
    kill.
    """
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=str(cwd) if cwd else None,
        preexec_fn=new_session_and_die_with_parent,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):  # helpers the command left behind (a browser's)
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)
