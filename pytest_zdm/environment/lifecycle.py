"""Start an environment once per run (whatever the number of xdist workers), attach to it, stop it once.

The first process that needs the environment takes a file lock in the run directory and spawns the
supervisor; the others wait on the lock and attach to the endpoints it published. Works the same with or
without pytest, so the CLI and the benchmarks use it too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_zdm.environment.zdm_env import ZdmEnv
from pytest_zdm.errors import StartupError
from pytest_zdm.model import EnvironmentInfo
from pytest_zdm.runtime import leftovers
from pytest_zdm.runtime.wait import WaitTimeout, poll, wait_until
from pytest_zdm.settings import Settings
from pytest_zdm.targets import target_class

Progress = Callable[[str], None]
_SPAWNED: dict[str, subprocess.Popen[bytes]] = {}


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
    identity = supervisor_identity(run_dir)
    if not (run_dir / "env.json").exists() or identity is None or not identity.alive():
        raise StartupError(
            f"zdm_attach: expected the run directory of a running environment (zdm-verify up, --zdm-keep), "
            f"but {run_dir} has {'no environment' if identity is None else 'no running supervisor'}"
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
    run_dir = Path(os.path.abspath(run_dir))  # the supervisor's command line names it: one spelling
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"zdm_run_dir: could not create {run_dir} ({exc.strerror or exc})") from None
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
    request, handover = supervisor_request(settings, plan=plan, owner_pid=owner_pid)
    (run_dir / "request.json").write_text(json.dumps(request))
    (run_dir / "request.json").chmod(0o600)
    env = {**os.environ, leftovers.RUN_MARKER: str(run_dir)}
    with (run_dir / "supervisor.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_zdm.environment.supervisor", str(run_dir)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died at once: its exit is reported below
        proc.stdin.write(handover)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    _SPAWNED[str(run_dir)] = proc
    started = leftovers.process_started(proc.pid)
    # "since_boot", not "started": an earlier release's `down` would compare it as a wall-clock time.
    (run_dir / "supervisor.pid").write_text(json.dumps({"pid": proc.pid, "since_boot": started}))
    progress_log = run_dir / "progress.log"
    relayed = [0]

    def ready() -> bool:
        relayed[0] = _relay(progress_log, relayed[0], progress)
        if (run_dir / "env.json").exists():
            return True
        if (run_dir / "failed.txt").exists() or proc.poll() is not None:
            proc.wait(timeout=60)
            _relay(progress_log, relayed[0], progress)
            if (run_dir / "failed.txt").exists():
                raise StartupError((run_dir / "failed.txt").read_text())
            tail = (run_dir / "supervisor.log").read_text(errors="replace")[-3000:]
            raise StartupError(f"supervisor exited with code {proc.returncode} before ready:\n{tail}")
        return False

    try:
        wait_until(ready, timeout=settings.zdm_startup_timeout + 30, what="environment ready")
    except WaitTimeout:
        stop_environment(run_dir)
        raise StartupError(
            f"environment not ready within zdm_startup_timeout={settings.zdm_startup_timeout:.0f}s; "
            f"logs in {run_dir}"
        ) from None
    seconds = time.monotonic() - began
    progress(f"environment ready in {seconds:.1f}s")
    return attach(run_dir, settings, ready_seconds=seconds)


def supervisor_request(
    settings: Settings, *, plan: Mapping[str, Any], owner_pid: int | None
) -> tuple[dict[str, Any], bytes]:
    """What the supervisor is told: ``request.json`` (no secret in it) and the secrets for its stdin.

    Secrets never reach a file: the run directory is kept after the run (logs, evidence), and may be
    uploaded as a CI artifact. The supervisor reads them from the pipe once, before anything else.
    """
    owner_started = leftovers.process_started(owner_pid) if owner_pid is not None else None
    request = {
        "settings": settings.to_json(),
        "plan": dict(plan),
        "owner_pid": owner_pid,
        "owner_started": owner_started,
        "keep": settings.zdm_keep,
    }
    return request, json.dumps(settings.secrets()).encode()


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


def supervisor_identity(run_dir: Path) -> leftovers.Identity | None:
    """The supervisor recorded in the run directory (pid, start time), None when there is no record.

    Older runs recorded the pid alone; their supervisor is still recognised by its command line.
    """
    try:
        text = (run_dir / "supervisor.pid").read_text().strip()
        record: dict[str, Any] = json.loads(text) if text.startswith("{") else {"pid": text}
        pid, started = int(record["pid"]), record.get("since_boot", record.get("started"))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return leftovers.Identity.of_supervisor(pid, float(started) if started is not None else None, run_dir)


def supervisor_pid(run_dir: Path) -> int | None:
    """The supervisor's pid recorded in the run directory, if any."""
    identity = supervisor_identity(run_dir)
    return identity.pid if identity is not None else None


def stop_environment(
    run_dir: Path, *, timeout: float = 60.0, identity: leftovers.Identity | None = None
) -> bool:
    """Stop the run's supervisor (and so everything it started); True if one was running.

    Only the supervisor this run started is signalled (pid, start time and command line checked): a pid
    recorded long ago may belong to another process now, which is left alone.
    """
    identity = identity if identity is not None else supervisor_identity(run_dir)
    if identity is None or not identity.signal(signal.SIGTERM):  # it stops its target and exits
        _reap(run_dir)
        return False

    def gone() -> bool:
        _reap(run_dir, wait=False)
        return not identity.alive()

    if not poll(gone, timeout=timeout, interval=0.1):
        identity.signal(signal.SIGKILL)
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
