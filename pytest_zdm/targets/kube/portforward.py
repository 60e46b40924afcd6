"""``kubectl port-forward`` processes: started, read, probed, kept alive and stopped by PID.

The Cassandra driver needs a TCP address; the ``kubernetes`` client's own port-forward gives in-process
sockets only, so the targets run ``kubectl port-forward --address 127.0.0.1 svc/NAME :PORT``: kubectl picks
a free local port and says which, one line per port in the order asked
(``Forwarding from 127.0.0.1:NNNN -> POD_PORT``),
read here from its log file (a pipe nobody drains would block kubectl once its "Handling connection" lines
fill it). A forward that dies (kubectl exits when the pod it forwards to goes away) is restarted on the same
local ports, so endpoints handed to tests stay valid. kubectl runs as the local target's processes do
(:class:`~pytest_zdm.runtime.process.LoggedProcess`): its own session, dies with the process that started
it (``PR_SET_PDEATHSIG``), stopped by its PID.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_zdm.errors import StartupError
from pytest_zdm.runtime.process import LoggedProcess, ProcessExited

LOOPBACK = "127.0.0.1"
FORWARDING = re.compile(r"^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)\s*$", re.MULTILINE)


def _last_error_line(output: str) -> str:
    """The line of kubectl's output that says what went wrong (it may print klog noise before it)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Forwarding from", "Handling connection"))]
    for line in reversed(lines):
        if line.lower().startswith(("error", "unable", "the connection")):
            return line
    return lines[-1] if lines else "(no output)"


class PortForward:
    """One ``kubectl port-forward`` of a Service's ports to local ports on 127.0.0.1."""

    def __init__(
        self,
        kubectl: Sequence[str],
        resource: str,
        ports: Sequence[int],
        *,
        log_path: Path,
        timeout: float,
        setting: str,
        pods: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        """``kubectl``: the command up to the verb (binary, ``--context``, ``--namespace``...).

        ``setting`` names the setting a failure is reported under (the Service's, usually). ``pods``, when
        given, returns the UIDs of the Service's pods that are not terminating: a pod present when kubectl
        started and gone since means kubectl may be forwarding to nothing (it does not always exit then).
        """
        self.kubectl = list(kubectl)
        self.resource = resource
        self.ports = list(ports)
        self.log_path = log_path
        self.timeout = timeout
        self.setting = setting
        self.local_ports: dict[int, int] = {}
        self.restarts = 0  # successful restarts after kubectl died or its pod went away
        self.pods = pods
        self.pods_at_start: frozenset[str] = frozenset()
        self._process: LoggedProcess | None = None
        self._lock = threading.RLock()
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The kubectl process id while it runs."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The kubectl command: local ports left for kubectl to pick the first time, the same ones after."""
        pairs = [f"{self.local_ports.get(port, '')}:{port}" for port in self.ports]
        return [*self.kubectl, "port-forward", "--address", LOOPBACK, self.resource, *pairs]

    def alive(self) -> bool:
        """Whether kubectl still runs."""
        return self._process is not None and self._process.running()

    def exit_code(self) -> int | None:
        """The exit code of kubectl once it has exited."""
        process = self._process.process if self._process is not None else None
        return process.poll() if process is not None else None

    def start(self) -> dict[int, int]:
        """Start kubectl and wait for its ``Forwarding from`` lines; returns remote port -> local port.

        Bounded by ``timeout``; on failure kubectl is stopped and a one-line StartupError names the setting
        and kubectl's own error line.
        """
        with self._lock:
            self._stopped = False
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0

            def forwarded() -> list[int]:
                # One line per requested port, in the order given; the port after "->" is the pod's (a
                # Service's targetPort resolved), not the Service port asked for, so order is what counts.
                return [int(local) for local, _ in FORWARDING.findall(self._output(mark))]

            self._process = LoggedProcess(
                self.command(),
                log_path=self.log_path,
                ready=lambda: len(forwarded()) >= len(self.ports),
                timeout=self.timeout,
                env=os.environ,  # kubectl needs the caller's KUBECONFIG, HOME and PATH
            )
            self._process.start_nowait()
            try:
                self._process.wait_ready()
            except ProcessExited as exited:
                self._terminate()
                raise StartupError(
                    f"{self.setting}: kubectl port-forward {self.resource} exited with code {exited.code}: "
                    f"{_last_error_line(self._output(mark))}"
                ) from None
            except TimeoutError:
                self._terminate()
                raise StartupError(
                    f"{self.setting}: kubectl port-forward {self.resource} reported no local port "
                    f"within {self.timeout:.0f}s (zdm_kube_forward_timeout); last output: "
                    f"{_last_error_line(self._output(mark))}"
                ) from None
            self.local_ports = dict(zip(self.ports, forwarded(), strict=False))
            self.pods_at_start = self._current_pods() or frozenset()
            return dict(self.local_ports)

    def _current_pods(self) -> frozenset[str] | None:
        """The Service's pods now (None when unknown: no ``pods`` callback, or the API did not answer)."""
        if self.pods is None:
            return None
        try:
            return self.pods()
        except Exception:  # an API hiccup: no evidence either way
            return None

    def pod_gone(self) -> bool:
        """Whether a pod that served the Service when kubectl started is gone or terminating."""
        now = self._current_pods()
        return now is not None and bool(self.pods_at_start - now)

    def _output(self, since: int) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def probe(self) -> None:
        """Connect to each local port once (kubectl accepts only while it forwards); StartupError if not."""
        for remote, local in self.local_ports.items():
            try:
                with socket.create_connection((LOOPBACK, local), timeout=self.timeout):
                    pass
            except OSError as exc:
                raise StartupError(
                    f"{self.setting}: the port-forward of {self.resource} port {remote} to "
                    f"{LOOPBACK}:{local} does not accept connections: {exc}"
                ) from None

    def restart(self) -> None:
        """Start kubectl again on the same local ports (after it died), unless stopped meanwhile."""
        with self._lock:
            if self._stopped:
                return
            self._terminate()
            self.start()
            self.restarts += 1

    def stop(self) -> None:
        """Stop kubectl by its PID (SIGTERM, SIGKILL after a grace period); safe to call twice."""
        with self._lock:
            self._stopped = True
            self._terminate()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate(graceful=True)
            process.close()


class ForwardKeeper:
    """Restarts port-forwards whose kubectl died, once per ``interval``, until stopped."""

    def __init__(
        self, forwards: Sequence[PortForward], progress: Callable[[str], None], *, interval: float = 1.0
    ) -> None:
        self.forwards = list(forwards)
        self.progress = progress
        self.interval = interval
        self._stop = threading.Event()
        # kubectl processes restarted from this thread die with it (PR_SET_PDEATHSIG is per thread): it
        # lives until stop(), when they are stopped anyway.
        self._thread = threading.Thread(target=self._run, name="zdm-port-forward-keeper", daemon=True)

    def start(self) -> None:
        """Begin watching."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for forward in self.forwards:
                if self._stop.is_set():
                    continue
                if not forward.alive():
                    why = f"exited (code {forward.exit_code()})"
                elif forward.pod_gone():
                    why = "forwards to a pod that is gone (kubectl does not always exit then)"
                else:
                    continue
                self.progress(
                    f"kubectl port-forward {forward.resource} {why}; "
                    f"restarting it on the same local ports {sorted(forward.local_ports.values())}"
                )
                try:
                    forward.restart()
                    forward.probe()
                except StartupError as exc:
                    self.progress(f"restart failed, will retry: {exc}")

    def stop(self) -> None:
        """Stop watching (forwards are stopped by their owner)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 30)
