"""The value checks of the settings table (``config.SETTINGS``).

Each check takes ``(value, from_env)``: environment variables are strings to parse, ``init()``
arguments are Python values that must already have the right type (the string ``"false"`` is
not a boolean). A check returns the value to store or raises :class:`Invalid` with what is
wrong and what is allowed; ``load_config`` puts the setting's name and value in front.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Invalid(Exception):
    """A value a check refuses; the message completes ``<setting>=<value> ...``."""


Check = Callable[[Any, bool], Any]


def text(value: Any, from_env: bool) -> str:
    """A non-empty string without control characters (they break headers and file names)."""
    if not isinstance(value, str):
        raise Invalid(f"is a {type(value).__name__}; allowed: a non-empty string")
    if value.strip() == "":
        raise Invalid("is empty; allowed: a non-empty string")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise Invalid("contains a control character (a stray newline?); allowed: printable text")
    return value


def credential(value: Any, from_env: bool) -> str:
    """A key as sent in a header: text without any whitespace (a pasted key often has some)."""
    checked = text(value, from_env)
    if any(char.isspace() for char in checked):
        raise Invalid("contains whitespace (pasted with a space?); allowed: the key alone")
    return checked


def boolean(value: Any, from_env: bool) -> bool:
    if from_env:
        lowered = value.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise Invalid(f"is not a boolean; allowed: {', '.join(_TRUE + _FALSE)}")
    if not isinstance(value, bool):
        raise Invalid(f"is a {type(value).__name__}, not a boolean; allowed: True or False")
    return value


def choice(allowed: tuple[str, ...]) -> Check:
    def check(value: Any, from_env: bool) -> str:
        candidate = value.strip() if from_env else value
        if candidate not in allowed:
            raise Invalid(f"is unknown; allowed: {', '.join(allowed)}")
        return str(candidate)

    return check


def number(kind: type[int | float], low: float, high: float) -> Check:
    """An ``int`` or ``float`` within ``low..high`` (both included)."""
    wanted = "a whole number" if kind is int else "a number"

    def check(value: Any, from_env: bool) -> int | float:
        if from_env:
            try:
                parsed = kind(value.strip())
            except ValueError:
                raise Invalid(f"is not {wanted}; allowed: {wanted} in {low:g}..{high:g}") from None
        elif isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise Invalid(f"is a {type(value).__name__}; allowed: {wanted} in {low:g}..{high:g}")
        else:
            parsed = kind(value)
        if math.isnan(parsed) or not low <= parsed <= high:
            raise Invalid(f"is outside the allowed range {low:g}..{high:g}")
        return parsed

    return check


def names(allowed: tuple[str, ...] | Callable[[], tuple[str, ...]]) -> Check:
    """Names from ``allowed`` (or what it returns, when it is looked up at check time): a
    comma-separated string or a list of strings (``-`` reads as ``_``).
    """

    def check(value: Any, from_env: bool) -> tuple[str, ...]:
        known = allowed() if callable(allowed) else allowed
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
        else:
            raise Invalid(
                f"is a {type(value).__name__}; allowed: a name or a list of names from {', '.join(known)}"
            )
        out = []
        for item in items:
            name = item.strip().replace("-", "_") if isinstance(item, str) else item
            if name not in known:
                raise Invalid(f"names unknown {item!r}; allowed: {', '.join(known)}")
            out.append(name)
        return tuple(out)

    return check


def path(*, directory: bool) -> Check:
    """A file (or directory) path; an existing entry of the other kind is refused."""

    def check(value: Any, from_env: bool) -> str:
        if not isinstance(value, (str, os.PathLike)):
            raise Invalid(f"is a {type(value).__name__}; allowed: a path (str or os.PathLike)")
        text_path = os.fspath(value)
        if not isinstance(text_path, str) or text_path.strip() == "" or "\x00" in text_path:
            raise Invalid("is not a usable path; allowed: a non-empty path without NUL bytes")
        if directory and os.path.isfile(text_path):
            raise Invalid("is a file; allowed: a directory (created if missing)")
        if not directory and os.path.isdir(text_path):
            raise Invalid("is a directory; allowed: a file path (created if missing)")
        return text_path

    return check


def url(value: Any, from_env: bool) -> str:
    """An ``http(s)://host[:port][/path]`` URL; the trailing slash is dropped."""
    checked = text(value, from_env).strip()
    try:
        parts = urlsplit(checked)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise Invalid(f"is not a URL ({exc}); allowed: https://host[:port][/path]") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("has no http:// or https:// scheme; allowed: https://host[:port][/path]")
    if not parts.hostname or " " in checked:
        raise Invalid("has no host; allowed: https://host[:port][/path]")
    return checked.rstrip("/")


def url_is_insecure(checked_url: str) -> bool:
    """Plain ``http://`` to a host that is not this machine (the loopback names and addresses)."""
    parts = urlsplit(checked_url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def callable_or_none(value: Any, from_env: bool) -> Any:
    if value is not None and not callable(value):
        raise Invalid("is not callable; allowed: a function taking and returning the span dict (redact)")
    return value
