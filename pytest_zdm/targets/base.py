"""The small interface every target implements.

A target is where a ZDM environment comes from: ``local`` processes, ``docker`` containers, a deployment in
Kubernetes (``kind``/``kube``) or fixed endpoints (``static``). Fixtures and suites only see
:class:`~pytest_zdm.model.EnvironmentInfo` (endpoints, credentials, versions) and the
:class:`~pytest_zdm.model.Control` verbs a target declares, so a new target never touches them.

A target object lives in the supervisor process (:mod:`pytest_zdm.environment.supervisor`), which owns
whatever the target starts (JVMs, proxies, port-forwards, containers) for the whole run; test processes
reach it through :class:`pytest_zdm.environment.ZdmEnv`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pytest_zdm.model import Capability, Control, Credentials, EnvironmentInfo, Progress
from pytest_zdm.settings import Settings

#: How checks a target cannot run there are covered: by the same checks passing on a disposable copy.
REHEARSAL_HINT = (
    "cover it with a rehearsal: the gate.json of a run on a disposable target (local, docker or kind) with "
    "the same zdm-proxy version and proxy settings (--zdm-rehearsal=PATH)"
)


class Target(abc.ABC):
    """A source of ZDM environments. Implementations live in ``pytest_zdm.targets.<name>``."""

    name: ClassVar[str]
    controls: ClassVar[frozenset[Control]] = frozenset()
    #: True when the environment exists only for the run, so destructive checks may run without opt-in.
    disposable: ClassVar[bool] = False
    #: False when the target only reaches an environment that runs anyway (nothing started or stopped).
    owns_environment: ClassVar[bool] = True
    #: Capabilities this target offers only when the user supplies something, and what to supply. Those it
    #: always offers come from its controls (:meth:`capabilities`); any other is never offered, and the checks
    #: that need it can only be covered by a rehearsal on a disposable target (``zdm_rehearsal``). Feeds
    #: the skip reasons and docs/capabilities.md.
    provides: ClassVar[Mapping[Capability, str]] = {}

    def __init__(self, settings: Settings, run_dir: Path) -> None:
        self.settings = settings
        self.run_dir = run_dir

    def capabilities(self) -> frozenset[Capability]:
        """What the started environment offers (by default: what its control verbs give)."""
        return Capability.of_controls(self.controls)

    @classmethod
    def how_to_provide(cls, capability: Capability) -> str:
        """What a user does so that checks needing ``capability`` run on this target."""
        return cls.provides.get(capability) or REHEARSAL_HINT

    @classmethod
    def credentials(cls, settings: Settings) -> Mapping[str, Credentials]:
        """Credentials for ``origin``, ``target`` and ``proxy`` logins, resolved in each process."""
        raise NotImplementedError

    @classmethod
    def plan(cls, settings: Settings) -> Mapping[str, Any]:
        """Decide what can be decided before start (e.g. ports), so the report header can show it."""
        del settings
        return {}

    @classmethod
    def report_header(cls, settings: Settings, plan: Mapping[str, Any]) -> list[str]:
        """Lines for pytest's report header before anything starts (planned endpoints, images...)."""
        del settings, plan
        return []

    @abc.abstractmethod
    def start(self, plan: Mapping[str, Any], progress: Progress) -> EnvironmentInfo:
        """Start or reach the environment and return once it is ready (see the target's docs)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop everything this target started. Must be safe to call twice and after a failed start."""

    def control(self, verb: Control, arg: Any = None) -> Any:
        """Carry out ``verb`` (``arg``: the cluster for node controls, settings for a reconfiguration)."""
        raise NotImplementedError(f"target {self.name!r} does not support {verb.value}")
