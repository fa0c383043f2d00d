"""Turn arbitrary user values into JSON-ready data, tolerantly and with size caps.

Runs on the caller's thread at capture time (later the user may mutate the objects), so it
is iterative-cheap for the common shapes and bounded for the rest. Never raises.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import itertools
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import date, datetime, time
from typing import Any, TypeVar
from uuid import UUID

MAX_STRING = 16_000
MAX_ITEMS = 200
MAX_DEPTH = 8
MAX_REPR = 1_000
_DATA_URL = re.compile(r"^data:([\w/+.-]+);base64,", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/\r\n]+={0,2}", re.ASCII)
_BASE64_PREFIX_CHECKED = 4_096  # decoded to prove a payload; a multiple of 4
MIN_CHECKED = 20
MIN_BASE64_NOTE = 1_024  # shorter strings are kept as they are, whatever they look like
REDACTED = "<redacted>"
_SECRET_KEYS = frozenset(
    {"authorization", "proxy_authorization", "api_key", "apikey", "x_api_key", "api_token",
     "password", "passwd", "secret", "client_secret", "access_token", "refresh_token", "token",
     "cookie", "set_cookie", "private_key", "bearer"}
)  # fmt: skip
_SECRET_SUFFIXES = ("_api_key", "_secret", "_password", "_token", "_apikey")
_SECRET_PREFIXES = ("sk-", "Bearer ", "bearer ", "xoxb-", "ghp_", "AKIA")
_PRIMITIVES = (str, int, float, bool, type(None))


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-compatible copy of ``value``: containers copied, long strings cut with a marker."""
    cls = type(value)
    if cls is str:
        return value if len(value) < MIN_CHECKED else _string(value)
    if (cls is dict or cls is list) and depth < MAX_DEPTH:  # _mapping and _list never raise
        return _mapping(value, depth + 1) if cls is dict else _list(value, depth + 1)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, _PRIMITIVES):
        return value
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__}: nested too deep>"
    try:
        return _convert(value, depth + 1)
    except Exception:
        return f"<{type(value).__name__}: not serializable>"


def _convert(value: Any, depth: int) -> Any:
    if isinstance(value, Mapping):
        return _mapping(value, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _list(value if isinstance(value, list) else list(value), depth)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__}: {len(value)} bytes>"
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump) and not isinstance(value, type):
        try:  # pydantic 2: no warnings about unexpected values printed from inside our code
            dumped = model_dump(mode="json", exclude_none=True, warnings=False)
        except TypeError:
            dumped = model_dump()
        return to_jsonable(dumped, depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth)
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def _list(items: list[Any], depth: int) -> list[Any]:
    """Never raises. A loop, not a comprehension: in Python 3.11 that is one call less."""
    out: list[Any] = []
    append = out.append
    for item in items if len(items) <= MAX_ITEMS else items[:MAX_ITEMS]:
        if type(item) is str and len(item) < MIN_CHECKED:
            append(item)
        elif type(item) is dict and depth < MAX_DEPTH:  # as to_jsonable(item, depth) would
            append(_mapping(item, depth + 1))
        else:
            append(to_jsonable(item, depth))
    if len(items) > MAX_ITEMS:
        append(f"… {len(items) - MAX_ITEMS} more items")
    return out


def _mapping(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    """Never raises (``value.items()`` of a dict cannot; other mappings go through ``_convert``)."""
    out = {}
    secret_keys = known_secret_keys
    pairs = value.items()
    for key, item in pairs if len(value) <= MAX_ITEMS else itertools.islice(pairs, MAX_ITEMS):
        name = key if type(key) is str else _key_text(key)
        try:
            secret = secret_keys[name]
        except KeyError:
            secret = is_secret_key(name)
        if secret:
            out[name] = REDACTED
        elif type(item) is str:  # most values: no call
            out[name] = item if len(item) < MIN_CHECKED else _string(item)
        else:
            out[name] = to_jsonable(item, depth)
    if len(value) > MAX_ITEMS:
        out["…"] = f"{len(value) - MAX_ITEMS} more items"
    return out


# Keys seen, by whether they name a credential: keys repeat (tool arguments, headers), and a
# dict subscript costs less than any call. Bounded: cleared when full.
known_secret_keys: dict[str, bool] = {}
_MAX_KEYS_KNOWN = 4096


def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a credential (headers, kwargs, config)."""
    secret = known_secret_keys.get(name)
    if secret is None:
        if len(known_secret_keys) >= _MAX_KEYS_KNOWN:
            known_secret_keys.clear()
        normalized = name.lower().replace("-", "_")
        secret = known_secret_keys[name] = normalized in _SECRET_KEYS or normalized.endswith(_SECRET_SUFFIXES)
    return secret


def _key_text(key: Any) -> str:
    try:
        return str(key)
    except Exception:
        return f"<{type(key).__name__} key>"


def _string(value: str) -> str:
    if len(value) < MIN_CHECKED:  # too short to be a key, a data URL or a cut: the common case
        return value
    if value.startswith(_SECRET_PREFIXES) and " " not in value.strip():
        return REDACTED
    match = _DATA_URL.match(value) if value.startswith("data:") else None
    if match is not None:
        size = len(value) - match.end()
        return f"<{match.group(1)} base64: ~{base64_size(size)} bytes>"
    if len(value) >= MIN_BASE64_NOTE and _is_base64_payload(value):
        return f"<base64: ~{base64_size(len(value))} bytes>"
    if len(value) > MAX_STRING:
        return _cut(value)
    return value


def _is_base64_payload(value: str) -> bool:
    """Strict: base64's alphabet and length, and a ``+`` or ``/`` (which 1 KB of encoded binary
    all but surely has: 62/64 per character), so a long hex digest or alphanumeric id stays text.
    """
    if not _BASE64.fullmatch(value) or ("+" not in value and "/" not in value):
        return False
    compact = value.replace("\r", "").replace("\n", "")
    if len(compact) % 4:
        return False
    try:
        binascii.a2b_base64(compact[:_BASE64_PREFIX_CHECKED], strict_mode=True)
    except binascii.Error:
        return False
    return True


def base64_size(encoded_chars: int) -> int:
    return encoded_chars * 3 // 4


# An llm span's messages have their own, larger cap (``llm_content_max_chars``, at least
# MAX_STRING): a training record needs them whole.
string_cap: ContextVar[int] = ContextVar("staso_string_cap", default=MAX_STRING)
# Strings cut so far, and strings met past MAX_STRING (cut or not), by any thread (a lost update
# still moves them): a conversion that moved ``strings_cut`` cut a string, one that left
# ``long_strings`` as it was gives the same under any cap. Read as module attributes.
strings_cut = 0
long_strings = 0
_T = TypeVar("_T")


def _cut(value: str) -> str:
    global strings_cut, long_strings
    long_strings += 1
    cap = string_cap.get()
    if len(value) <= cap:
        return value
    strings_cut += 1
    return value[:cap] + f"… <{len(value) - cap} more chars>"


def with_string_cap(cap: int, convert: Callable[..., _T], *args: Any) -> _T:
    """``convert(*args)`` with long strings cut at ``cap`` characters instead of ``MAX_STRING``."""
    token = string_cap.set(cap)
    try:
        return convert(*args)
    finally:
        string_cap.reset(token)


def each(convert: Callable[[Any], Any], items: Any) -> list[Any]:
    """``list(map(convert, items))``, repeatable where a ``map`` object is not."""
    return list(map(convert, items))
