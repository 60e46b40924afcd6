"""The one way the framework waits for something: poll a check until it holds, within a deadline.

Built on tenacity. A check returns something truthy when the condition holds (that value is returned) and
something falsy when not yet; exceptions of the types in ``retry_on`` also mean "not yet" (a node that
refuses connections while it boots), any other exception ends the wait at once (a process that died). At
the deadline a one-line error names what was awaited, the time allowed and the last thing seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from pytest_zdm.errors import ZdmError

T = TypeVar("T")


class WaitTimeout(ZdmError, TimeoutError):
    """What was awaited did not happen in time (the message names it, the time allowed and the last state)."""


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    retry_on: tuple[type[BaseException], ...] = (),
    last: Callable[[], str] | None = None,
    error: Callable[[str], Exception] = WaitTimeout,
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns a truthy value, and return that value.

    ``last`` describes the state seen at the deadline when the check keeps it (e.g. which clusters still
    lack a keyspace); otherwise the last exception of a ``retry_on`` type is quoted. ``error`` makes the
    timeout another exception type (checks use ``AssertionError``, so a timeout is a check's failure).
    """
    retrying = Retrying(
        stop=stop_after_delay(max(0.0, timeout)),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(retry_on) | retry_if_result(lambda result: not result),
        reraise=False,
    )
    try:
        result = retrying(check)
    except RetryError as exc:
        raise error(_message(exc, what, timeout, last)) from None
    assert result is not None  # a falsy result (None included) is retried, never returned
    return result


def _message(exc: RetryError, what: str, timeout: float, last: Callable[[], str] | None) -> str:
    seen = ""
    if last is not None:
        seen = f" (last: {last()})"
    elif exc.last_attempt.failed:
        failure = exc.last_attempt.exception()
        seen = f" (last error: {type(failure).__name__}: {' '.join(str(failure).split())[:300]})"
    return f"{what} not reached within {timeout:.0f}s{seen}"


def poll(check: Callable[[], Any], *, timeout: float, interval: float = 0.2) -> bool:
    """Like :func:`wait_until` for callers that go on either way: True when ``check`` held in time."""
    try:
        wait_until(check, timeout=timeout, what="condition", interval=interval)
    except WaitTimeout:
        return False
    return True
