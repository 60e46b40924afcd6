"""``zdm-verify``: the command line (:mod:`.main`)."""

from pytest_zdm.cli.main import main

__all__ = ["main"]
