"""Start an environment once per run (whatever the number of xdist workers), attach to it, stop it once.

The first process that needs the environment takes a file lock in the run directory and spawns the
supervisor; the others wait on the lock and attach to the endpoints it published. Works the same with or
without pytest, so the CLI and the benchmarks use it too.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_zdm import leftovers
from pytest_zdm.cql import CqlClient, connect
from pytest_zdm.errors import ControlError, StartupError, UnsupportedControl
from pytest_zdm.settings import Settings
from pytest_zdm.supervisor import control_address
from pytest_zdm.targets import target_class
from pytest_zdm.targets.base import Control, Credentials, EnvironmentInfo

Progress = Callable[[str], None]
_SPAWNED: dict[str, subprocess.Popen[bytes]] = {}


@dataclass
class ZdmEnv:
    """A started environment as tests see it: endpoints, credentials, versions and controls."""

    info: EnvironmentInfo
    credentials: Mapping[str, Credentials] = field(repr=False)
    run_dir: Path
    settings: Settings = field(repr=False)
    ready_seconds: float | None = None

    @property
    def target(self) -> str:
        """Name of the target that provides the environment."""
        return self.info.target

    def supports(self, verb: Control) -> bool:
        """Whether the target can carry out ``verb``."""
        return verb.value in self.info.controls

    def connect(self, cluster: str, *, keyspace: str | None = None, **options: Any) -> CqlClient:
        """A new driver session to ``origin``, ``target`` or ``proxy`` (close it when done)."""
        options.setdefault("protocol_version", int(self.settings.zdm_protocol_version))
        options.setdefault("request_timeout", self.settings.zdm_request_timeout)
        return connect(self.info.endpoint(cluster), self.credentials[cluster], keyspace=keyspace, **options)

    def control(self, verb: Control, arg: Any = None, *, timeout: float | None = None) -> Any:
        """Ask the supervisor to carry out ``verb``; raises :class:`ControlError` with its reason."""
        if not self.supports(verb):
            raise UnsupportedControl(f"target {self.target!r} does not support {verb.value}")
        args: tuple[Any, ...] = (verb.value,) if arg is None else (verb.value, arg)
        status, result = _request(self.run_dir, args, timeout or self.settings.zdm_startup_timeout)
        if status != "ok":
            shown = "" if arg is None or isinstance(arg, dict) else f" {arg}"
            raise ControlError(f"{verb.value}{shown}: {result}")
        return result

    def stop_node(self, cluster: str) -> None:
        """Stop the node of ``cluster`` (graceful)."""
        self.control(Control.STOP_NODE, cluster)

    def kill_node(self, cluster: str) -> None:
        """Kill the node of ``cluster`` with SIGKILL (a crash, not a shutdown)."""
        self.control(Control.KILL_NODE, cluster)

    def start_node(self, cluster: str) -> None:
        """Start a stopped node and wait until it accepts logins."""
        self.control(Control.START_NODE, cluster)

    def pause_node(self, cluster: str) -> None:
        """Freeze the node of ``cluster`` (SIGSTOP)."""
        self.control(Control.PAUSE_NODE, cluster)

    def resume_node(self, cluster: str) -> None:
        """Thaw a paused node."""
        self.control(Control.RESUME_NODE, cluster)

    def restart_proxy(self) -> Any:
        """Restart the proxy and wait for readiness."""
        return self.control(Control.RESTART_PROXY)

    def reconfigure_proxy(self, settings: Mapping[str, str]) -> Any:
        """Restart the proxy with these extra ``ZDM_*`` settings (replacing earlier extras; {} restores)."""
        return self.control(Control.RECONFIGURE_PROXY, dict(settings))

    def proxy_status(self) -> Mapping[str, Any]:
        """Pid, number of starts since the environment began, running or not."""
        result: Mapping[str, Any] = self.control(Control.PROXY_STATUS)
        return result

    def proxy_logs(self) -> str:
        """The proxy's recent log lines."""
        return str(self.control(Control.PROXY_LOGS))

    def proxy_config(self) -> Mapping[str, Any]:
        """The proxy's effective configuration (environment given and the parsed configuration it logged)."""
        result: Mapping[str, Any] = self.control(Control.PROXY_CONFIG)
        return result


def _request(run_dir: Path, args: tuple[Any, ...], timeout: float) -> tuple[str, Any]:
    key = (run_dir / "control.key").read_bytes()
    try:
        with Client(control_address(run_dir), family="AF_UNIX", authkey=key) as conn:
            conn.send(args)
            if not conn.poll(timeout):
                return "error", f"no answer from the supervisor within {timeout:.0f}s"
            status, result = conn.recv()
            return str(status), result
    except (OSError, EOFError) as exc:
        return "error", f"supervisor unreachable ({exc}); see {run_dir / 'supervisor.log'}"


def attach(run_dir: Path, settings: Settings, ready_seconds: float | None = None) -> ZdmEnv:
    """The environment a supervisor published in ``run_dir`` (e.g. one left running by ``--zdm-keep``)."""
    info = EnvironmentInfo.from_json(json.loads((run_dir / "env.json").read_text()))
    return ZdmEnv(
        info=info,
        credentials=target_class(info.target).credentials(settings),
        run_dir=run_dir,
        settings=settings,
        ready_seconds=ready_seconds,
    )


def attach_running(run_dir: Path, settings: Settings) -> ZdmEnv:
    """Attach to an environment another run left running; a one-line error if it is not running."""
    pid = supervisor_pid(run_dir)
    if not (run_dir / "env.json").exists() or pid is None or not leftovers.process_alive(pid):
        raise StartupError(
            f"zdm_attach: expected the run directory of a running environment (zdm-verify up, --zdm-keep), "
            f"but {run_dir} has {'no environment' if pid is None else 'no running supervisor'}"
        )
    return attach(run_dir, settings)


def start_or_attach(
    run_dir: Path,
    settings: Settings,
    *,
    plan: Mapping[str, Any],
    owner_pid: int | None,
    progress: Progress,
) -> ZdmEnv:
    """Return the run's environment, starting it (through a supervisor) if no process has yet."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / "start.lock"))
    try:
        lock.acquire(timeout=settings.zdm_startup_timeout + 600)
    except Timeout:
        raise StartupError(f"another process held {run_dir / 'start.lock'} for too long") from None
    try:
        if (run_dir / "env.json").exists():
            return attach(run_dir, settings)
        if (run_dir / "failed.txt").exists():
            raise StartupError((run_dir / "failed.txt").read_text())
        return _spawn_and_wait(run_dir, settings, plan=plan, owner_pid=owner_pid, progress=progress)
    finally:
        lock.release()


def _spawn_and_wait(
    run_dir: Path,
    settings: Settings,
    *,
    plan: Mapping[str, Any],
    owner_pid: int | None,
    progress: Progress,
) -> ZdmEnv:
    began = time.monotonic()
    key = run_dir / "control.key"
    key.write_bytes(secrets.token_bytes(32))
    key.chmod(0o600)
    owner_started = leftovers.process_started(owner_pid) if owner_pid is not None else None
    request = {
        "settings": settings.to_json(),
        "plan": dict(plan),
        "owner_pid": owner_pid,
        "owner_started": owner_started,
        "keep": settings.zdm_keep,
    }
    (run_dir / "request.json").write_text(json.dumps(request))
    (run_dir / "request.json").chmod(0o600)
    env = {**os.environ, leftovers.RUN_MARKER: str(run_dir)}
    with (run_dir / "supervisor.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_zdm.supervisor", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    _SPAWNED[str(run_dir)] = proc
    (run_dir / "supervisor.pid").write_text(str(proc.pid))
    progress_log = run_dir / "progress.log"
    seen = 0
    deadline = began + settings.zdm_startup_timeout + 30
    while True:
        seen = _relay(progress_log, seen, progress)
        if (run_dir / "env.json").exists():
            seconds = time.monotonic() - began
            progress(f"environment ready in {seconds:.1f}s")
            return attach(run_dir, settings, ready_seconds=seconds)
        if (run_dir / "failed.txt").exists() or proc.poll() is not None:
            proc.wait(timeout=60)
            _relay(progress_log, seen, progress)
            if (run_dir / "failed.txt").exists():
                raise StartupError((run_dir / "failed.txt").read_text())
            tail = (run_dir / "supervisor.log").read_text(errors="replace")[-3000:]
            raise StartupError(f"supervisor exited with code {proc.returncode} before ready:\n{tail}")
        if time.monotonic() > deadline:
            stop_environment(run_dir)
            raise StartupError(
                f"environment not ready within zdm_startup_timeout={settings.zdm_startup_timeout:.0f}s; "
                f"logs in {run_dir}"
            )
        time.sleep(0.2)


def _relay(progress_log: Path, seen: int, progress: Progress) -> int:
    try:
        with progress_log.open("rb") as fh:
            fh.seek(seen)
            chunk = fh.read()
    except FileNotFoundError:
        return seen
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", "replace").splitlines():
        progress(line)
    return seen + len(complete)


def supervisor_pid(run_dir: Path) -> int | None:
    """The supervisor's pid recorded in the run directory, if any."""
    try:
        return int((run_dir / "supervisor.pid").read_text())
    except (OSError, ValueError):
        return None


def stop_environment(run_dir: Path, *, timeout: float = 60.0, pid: int | None = None) -> bool:
    """Stop the run's supervisor (and so everything it started); True if one was running."""
    pid = pid if pid is not None else supervisor_pid(run_dir)
    if pid is None or ((run_dir / "stopped").exists() and not leftovers.process_alive(pid)):
        _reap(run_dir)
        return False
    if leftovers.process_alive(pid):
        os.kill(pid, signal.SIGTERM)  # the supervisor stops its target and exits
    deadline = time.monotonic() + timeout
    while leftovers.process_alive(pid) and time.monotonic() < deadline:
        _reap(run_dir, wait=False)
        time.sleep(0.1)
    if leftovers.process_alive(pid):
        os.kill(pid, signal.SIGKILL)
        leftovers.kill_marked(str(run_dir))
    _reap(run_dir)
    return True


def _reap(run_dir: Path, *, wait: bool = True) -> None:
    proc = _SPAWNED.get(str(run_dir))
    if proc is None:
        return
    if wait:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _SPAWNED.pop(str(run_dir), None)
    else:
        proc.poll()
