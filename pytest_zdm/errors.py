"""Errors the framework raises on purpose.

Each carries a one-line message meant for the user: the plugin and the CLI print it without a traceback.
"""

from __future__ import annotations


class ZdmError(Exception):
    """Base of every error pytest-zdm reports as a one-line message."""


class SettingError(ZdmError):
    """A setting has a value the framework cannot use (names the setting and what was expected)."""


class ProvisionError(ZdmError):
    """An artifact (Cassandra jars, zdm-proxy binary) could not be fetched, built or verified."""


class StartupError(ZdmError):
    """The environment did not become ready; the message carries the evidence (log tails)."""


class ControlError(ZdmError):
    """A control (stop a node, restart the proxy...) failed or is not supported by the target."""


class UnsupportedControl(ControlError):
    """The target cannot carry out a control at all (e.g. stop a node of a deployment it does not own).

    Checks that need it are skipped with this message as the reason: they cannot run there, which is not a
    failure of the migration, and a skip is never counted as a pass.
    """
