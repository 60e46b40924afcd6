"""A Docker engine of the framework's own, for machines where none runs (this project's CI).

``dockerd`` is started with the loopback rule: no default bridge (Docker's bridge takes 172.17.0.0/16, a
private range test traffic must never use), no iptables rules, no IP forwarding; the docker target then
runs its containers with host networking. The engine gets its own data root (images survive between runs,
so the base image is built once per machine), its own runtime directory and socket, so it never touches an
engine that already runs on the machine. Its PID and start time are kept in the engine directory; ``stop``
ends exactly that process (dockerd stops its containerd and containers on SIGTERM).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import Progress, require_tool
from pytest_zdm.runtime import leftovers
from pytest_zdm.targets.docker.containers import ping_error

#: The loopback rule (see the module docstring).
ENGINE_FLAGS = ("--bridge=none", "--iptables=false", "--ip-forward=false")
_RUNTIME_BASE = Path("/run/pytest-zdm-docker")


@dataclass(frozen=True)
class EngineDirs:
    """Where one engine keeps its images (``home``) and its runtime state (socket, pid files)."""

    home: Path

    @property
    def data_root(self) -> Path:
        """Dockerd's ``--data-root``: images and containers."""
        return self.home / "data"

    @property
    def log(self) -> Path:
        """Dockerd's own output."""
        return self.home / "dockerd.log"

    @property
    def state(self) -> Path:
        """PID, start time and socket of the running engine."""
        return self.home / "engine.json"

    @property
    def runtime(self) -> Path:
        """``--exec-root`` and socket: short (Unix socket paths are limited to 108 bytes), one per home."""
        return _RUNTIME_BASE / hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:12]

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value that reaches this engine."""
        return f"unix://{self.runtime / 'docker.sock'}"


def engine_dirs(cache_dir: Path) -> EngineDirs:
    """The engine that belongs to a cache directory (its images are cached there)."""
    return EngineDirs(cache_dir / "docker-engine")


def _state(dirs: EngineDirs) -> dict[str, Any] | None:
    try:
        data = json.loads(dirs.state.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running(dirs: EngineDirs) -> dict[str, Any] | None:
    """The engine's state when its dockerd still runs (same PID and start time), else None."""
    state = _state(dirs)
    if state is None or not leftovers.process_alive(int(state["pid"]), float(state["started"])):
        return None
    return state


def start(dirs: EngineDirs, progress: Progress, *, timeout: float = 60.0) -> str:
    """Start the engine unless it already runs; return its ``DOCKER_HOST``. Idempotent."""
    dirs.home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dirs.home / "engine.lock"), timeout=timeout + 60):
        state = running(dirs)
        if state is not None:
            progress(f"Docker engine already running (dockerd pid {state['pid']}, DOCKER_HOST={dirs.host})")
            return dirs.host
        dockerd = require_tool("dockerd", "the docker target's own engine (apt-get install docker.io)")
        if os.geteuid() != 0:
            raise ProvisionError(
                "dockerd: starting a Docker engine needs root; start one yourself or run as root"
            )
        dirs.runtime.mkdir(parents=True, exist_ok=True)
        dirs.data_root.mkdir(parents=True, exist_ok=True)
        (dirs.runtime / "docker.sock").unlink(missing_ok=True)
        command = [
            dockerd,
            *ENGINE_FLAGS,
            f"--data-root={dirs.data_root}",
            f"--exec-root={dirs.runtime / 'exec'}",
            f"--pidfile={dirs.runtime / 'dockerd.pid'}",
            f"--host={dirs.host}",
        ]
        progress(f"starting a Docker engine ({' '.join(ENGINE_FLAGS)}), images in {dirs.data_root}")
        began = time.monotonic()
        with dirs.log.open("ab") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = leftovers.process_started(proc.pid)
        dirs.state.write_text(json.dumps({"pid": proc.pid, "started": started, "host": dirs.host}))
        while True:
            error = ping_error(dirs.host, timeout=2.0)
            if error is None:
                break
            if proc.poll() is not None or time.monotonic() - began > timeout:
                tail = "\n".join(dirs.log.read_text(errors="replace").splitlines()[-15:])
                _end(proc.pid, started)
                dirs.state.unlink(missing_ok=True)
                raise ProvisionError(
                    f"dockerd did not become ready ({error})\n--- last lines of {dirs.log} ---\n{tail}"
                )
            time.sleep(0.2)
        progress(f"Docker engine ready in {time.monotonic() - began:.1f}s (dockerd pid {proc.pid})")
        return dirs.host


def _end(pid: int, started: float | None, timeout: float = 30.0) -> None:
    """SIGTERM, wait, SIGKILL: only the process with this PID and start time."""
    if not leftovers.process_alive(pid, started):
        return
    proc = psutil.Process(pid)
    children = proc.children(recursive=True)  # its containerd, should dockerd need killing
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        for each in [proc, *children]:
            try:
                each.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs([proc, *children], timeout=10)


def _unmount_under(path: Path) -> None:
    """Unmount what dockerd leaves mounted in its runtime directory (its ``netns/default`` bind mount)."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def stop(dirs: EngineDirs, progress: Progress, *, timeout: float = 30.0) -> bool:
    """Stop the engine this directory started (by its PID); True if one was running."""
    state = running(dirs)
    if state is None:
        dirs.state.unlink(missing_ok=True)
        return False
    began = time.monotonic()
    _end(int(state["pid"]), float(state["started"]), timeout)
    dirs.state.unlink(missing_ok=True)
    _unmount_under(dirs.runtime)
    shutil.rmtree(dirs.runtime, ignore_errors=True)
    progress(f"Docker engine stopped in {time.monotonic() - began:.1f}s (dockerd pid {state['pid']})")
    return True
