"""Settings as pytest options: each one an ini option and a command-line option of the same name.

The help text is the one in :mod:`pytest_zdm.settings.options`; resolution (command line > environment >
ini > default) is :func:`pytest_zdm.settings.resolve`'s.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from pytest_zdm.errors import SettingError
from pytest_zdm.settings import OPTIONS, Settings, resolve


def pytest_addoption(parser: pytest.Parser) -> None:
    """Each setting as an ini option and a command-line option of the same name, one help text."""
    group = parser.getgroup("zdm", "pytest-zdm: verify a Cassandra migration through zdm-proxy")
    for opt in OPTIONS:
        if not opt.on_command_line:  # secrets: registered only to refuse them with the reason
            group.addoption(opt.cli, dest=opt.name, default=None, help=argparse.SUPPRESS)
            parser.addini(opt.name, help=f"(refused: {opt.help})", default=None)
            continue
        help_text = opt.help + (f" (env {opt.env})" if opt.env else "")
        if opt.is_flag:
            group.addoption(opt.cli, dest=opt.name, default=None, nargs="?", const="true", metavar="BOOL",
                            help=help_text)  # fmt: skip
            parser.addini(opt.name, help=help_text, type="bool", default=None)
        else:
            group.addoption(opt.cli, dest=opt.name, default=None, help=help_text)
            parser.addini(opt.name, help=help_text, default=None)


def _ini(config: pytest.Config, name: str) -> str | None:
    """An ini value as text (booleans as ``true``/``false``); a bad boolean is the setting's own error."""
    try:
        value = config.getini(name)
    except (ValueError, pytest.UsageError) as exc:  # pytest's boolean parser refused the value
        found = re.search(r"invalid truth value ('.*')", str(exc))
        got = found.group(1) if found else "another value"
        raise SettingError(f"{name}: expected true or false, got {got}") from None
    if isinstance(value, bool):
        return str(value).lower()
    return value if value is None else str(value)


def settings_from(config: pytest.Config) -> Settings:
    """The run's settings (command line > environment > ini > default)."""
    for opt in OPTIONS:
        if not opt.on_command_line and (config.getoption(opt.name) is not None or _ini(config, opt.name)):
            raise SettingError(
                f"{opt.name}: a secret is never a command-line or ini value (it would show in ps, CI logs "
                f"or a committed file); expected the environment variable {opt.env} or {opt.name}_file"
            )
    on_cli = [opt for opt in OPTIONS if opt.on_command_line]
    cli = {opt.name: config.getoption(opt.name) for opt in on_cli}
    ini = {opt.name: _ini(config, opt.name) for opt in on_cli}
    return resolve(cli=cli, ini=ini, environ=os.environ, rootdir=Path(str(config.rootpath)))
