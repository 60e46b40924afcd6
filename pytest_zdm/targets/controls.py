"""The control verbs of targets that own their nodes and proxy (``local`` processes, ``docker`` containers).

Both targets hold two node objects and a proxy object with the same small surface (stop, pause, restart,
status, log...), so the meaning of each verb is written once here; a target supplies how a failed step is
reported (:meth:`_step`) and how a stopped node is brought back (:meth:`_start_node`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pytest_zdm.errors import ControlError
from pytest_zdm.model import Control

NODE_CONTROLS = frozenset(
    {Control.STOP_NODE, Control.KILL_NODE, Control.START_NODE, Control.PAUSE_NODE, Control.RESUME_NODE}
)


class NodeAndProxyControls:
    """``control()`` for a target with ``nodes`` (by cluster) and a ``proxy`` it started itself."""

    name: ClassVar[str]
    nodes: Mapping[str, Any]
    proxy: Any

    def _step(self, step: Callable[[], None], what: str, log: Any) -> None:
        """Run ``step``; a failure becomes a one-line error with the tail of ``log``."""
        raise NotImplementedError

    def _start_node(self, cluster: str, node: Any) -> None:
        """Start a stopped node and wait until it accepts a login."""
        raise NotImplementedError

    def control(self, verb: Control, arg: Any = None) -> Any:
        """Stop/kill/start/pause/resume a node, restart or reconfigure the proxy, read its state."""
        if verb in NODE_CONTROLS:
            return self._node_control(verb, arg)
        if self.proxy is None:
            raise ControlError(f"{verb.value}: the proxy was never started")
        proxy = self.proxy
        if verb is Control.RESTART_PROXY:
            self._step(proxy.restart, "zdm-proxy (restart)", proxy.log)
            return proxy.status()
        if verb is Control.RECONFIGURE_PROXY:
            extra = {str(k): str(v) for k, v in dict(arg or {}).items()}
            self._step(lambda: proxy.restart(extra=extra), "zdm-proxy (reconfigured)", proxy.log)
            return proxy.status()
        if verb is Control.PROXY_STATUS:
            return proxy.status()
        if verb is Control.PROXY_LOGS:
            return proxy.log.tail(2000)
        if verb is Control.PROXY_CONFIG:
            return {"environment": proxy.cfg.public_environment(), "parsed": proxy.parsed_configuration()}
        raise ControlError(f"{verb.value}: not a control of the {self.name} target")

    def _node_control(self, verb: Control, cluster: Any) -> None:
        if cluster not in self.nodes:
            raise ControlError(f"{verb.value}: expected cluster origin or target, got {cluster!r}")
        node = self.nodes[cluster]
        if verb is Control.STOP_NODE:
            node.stop(graceful=True)
        elif verb is Control.KILL_NODE:
            node.stop(graceful=False)
        elif verb is Control.START_NODE:
            if not node.running():
                self._start_node(cluster, node)
        elif not node.running():  # a signal to no process froze nothing: the caller must know
            raise ControlError(f"{verb.value} {cluster}: the node is not running (start_node first)")
        elif verb is Control.PAUSE_NODE:
            node.pause()
        else:
            node.resume()
