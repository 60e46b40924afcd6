"""Keep secrets out of everything the framework writes for people to read (gate file, Allure results).

Secrets are the values of settings declared ``secret`` and whatever a target registers when it reads a
password, token or bundle key. Text written to ``reports/`` passes through :func:`text`. The stock
``cassandra``/``cassandra`` login of a fresh cluster is public knowledge and appears in class names and
paths, so it is not treated as a secret (replacing it would garble every log line).
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_zdm.settings import OPTIONS, Settings

MASK = "***"
_KNOWN_DEFAULTS = frozenset({"cassandra"})
_MIN_LENGTH = 4  # shorter values would mask ordinary words; such secrets are refused at input anyway
_registered: set[str] = set()


def register(*values: str | None) -> None:
    """Remember secret values read in this process (e.g. a password taken from the environment)."""
    for value in values:
        if value and len(value) >= _MIN_LENGTH and value not in _KNOWN_DEFAULTS:
            _registered.add(value)


def register_settings(settings: Settings) -> None:
    """Register the values of every setting declared secret."""
    for opt in OPTIONS:
        if opt.secret:
            value = getattr(settings, opt.name, None)
            register(str(value) if value is not None else None)


def secrets() -> Iterable[str]:
    """The registered values, longest first (so a secret containing another is masked whole)."""
    return sorted(_registered, key=len, reverse=True)


def text(value: str) -> str:
    """``value`` with every registered secret replaced by ``***``."""
    for secret in secrets():
        value = value.replace(secret, MASK)
    return value
