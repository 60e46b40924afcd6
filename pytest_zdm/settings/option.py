"""What a setting is: its name, help text, parser, default, environment variable and whether it is secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Option:
    """How one setting is named, documented, parsed and defaulted."""

    name: str
    help: str
    parse: Callable[[str, str], Any]
    default: Callable[[Path], Any] | None = None
    env: str | None = None
    secret: bool = False
    is_flag: bool = False

    @property
    def cli(self) -> str:
        """The command-line spelling, e.g. ``--zdm-target``."""
        return "--" + self.name.replace("_", "-")

    @property
    def on_command_line(self) -> bool:
        """Whether the setting is a command-line and ini option.

        Secrets are not: a command line shows in ``ps`` and CI logs, an ini file gets committed. They come
        from their environment variable or from a file (the ``<name>_file`` setting).
        """
        return not self.secret
