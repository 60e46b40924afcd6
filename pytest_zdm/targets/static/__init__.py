"""The ``static`` target: a migration that runs elsewhere, reached at fixed endpoints from ``zdm.toml``.

:mod:`.config` reads ``zdm.toml`` (contact points or an Astra secure connect bundle, secrets from the
environment), :mod:`.bundle` checks a bundle, :mod:`.proxy_status` follows the proxy through its metrics.
"""

from pytest_zdm.targets.static.target import StaticTarget

#: The targets this package provides, by name.
TARGETS = {"static": StaticTarget}

__all__ = ["TARGETS", "StaticTarget"]
