"""Go's ``strconv`` as envconfig and the proxy's ``Parse*`` functions call it.

Each parser returns None where Go returns an error, so a value is judged the way the proxy will judge it
(``010`` is octal 8, ``09042`` an error, ``1_000`` only with base prefix 0).
"""

from __future__ import annotations

import ipaddress
import math


def _underscore_ok(text: str) -> bool:
    """strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw = "^"
    i = 0
    if text[:1] in ("+", "-"):
        text = text[1:]
    hexa = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i = 2
        saw = "0"
        hexa = text[1].lower() == "x"
    while i < len(text):
        char = text[i]
        i += 1
        if "0" <= char <= "9" or (hexa and "a" <= char.lower() <= "f"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _go_parse_uint(text: str, *, base0: bool) -> int | None:
    """strconv.ParseUint(text, 0 or 10, 64)."""
    if not text:
        return None
    base = 10
    digits = text
    if base0 and text[0] == "0":
        if len(text) >= 3 and text[1].lower() in "box":
            base = {"b": 2, "o": 8, "x": 16}[text[1].lower()]
            digits = text[2:]
        else:
            base = 8
            digits = text[1:]
    number = 0
    underscores = False
    for char in digits:
        if char == "_" and base0:
            underscores = True
            continue
        if "0" <= char <= "9":
            digit = ord(char) - ord("0")
        elif "a" <= char.lower() <= "z":
            digit = ord(char.lower()) - ord("a") + 10
        else:
            return None
        if digit >= base:
            return None
        number = number * base + digit
    if underscores and not _underscore_ok(text):
        return None
    return number if number < 1 << 64 else None


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): what envconfig does with an ``int`` field (``010`` is 8)."""
    if not text:
        return None
    negative = text[0] == "-"
    magnitude = _go_parse_uint(text[1:] if text[0] in "+-" else text, base0=True)
    if magnitude is None:
        return None
    if (negative and magnitude > 1 << 63) or (not negative and magnitude >= 1 << 63):
        return None
    return -magnitude if negative else magnitude


def go_parse_bool(text: str) -> bool | None:
    """strconv.ParseBool: exactly these spellings (``yes`` and ``on`` are errors)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64): Go float literal syntax, Inf/NaN words; overflow is an error."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body.lower() in ("inf", "infinity"):
        return -math.inf if text[0] == "-" else math.inf
    if text.lower() == "nan":
        return math.nan
    i = len(text) - len(body)
    base = 16 if i + 2 < len(text) and text[i] == "0" and text[i + 1] in "xX" else 10
    i += 2 if base == 16 else 0
    sawdot = sawdigits = underscores = False
    while i < len(text):
        char = text[i]
        if char == "_":
            underscores = True
        elif char == ".":
            if sawdot:
                break
            sawdot = True
        elif "0" <= char <= "9" or (base == 16 and "a" <= char.lower() <= "f"):
            sawdigits = True
        else:
            break
        i += 1
    if not sawdigits:
        return None
    if i < len(text) and text[i].lower() == ("e" if base == 10 else "p"):
        i += 1
        if i < len(text) and text[i] in "+-":
            i += 1
        if i >= len(text) or not "0" <= text[i] <= "9":
            return None
        while i < len(text) and ("0" <= text[i] <= "9" or text[i] == "_"):
            underscores = underscores or text[i] == "_"
            i += 1
    elif base == 16:
        return None
    if i != len(text) or (underscores and not _underscore_ok(text)):
        return None
    plain = text.replace("_", "")
    try:
        value = float.fromhex(plain) if base == 16 else float(plain)
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(value) else value


def _go_parse_ip(text: str) -> bool:
    """net.ParseIP: an IPv4 or IPv6 literal, no zone, no host name."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Checks of single values. Each returns (severity, problem) pairs.
