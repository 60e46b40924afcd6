"""The ``local`` target: two real Cassandra clusters and a real zdm-proxy as processes on loopback.

:mod:`.target` assembles them; :mod:`.node` runs one Cassandra node from its jars, :mod:`.proxy` one
zdm-proxy; :mod:`.clusters` boots the two clusters alone (no proxy) for work on the clusters only.
"""

from pytest_zdm.targets.local.target import LocalTarget

#: The targets this package provides, by name.
TARGETS = {"local": LocalTarget}

__all__ = ["TARGETS", "LocalTarget"]
