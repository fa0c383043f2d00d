"""Make a finished span safe to encode, once, on the processor's thread.

Capture-time serialization (``serialize.to_jsonable``) keeps the hot path cheap and does not
see values a user assigns directly (``span.input = ...``, ``span.metadata[...]``, tags). Here
every span is checked with one strict JSON encode of its free-form fields (orjson where it is
installed, else the C encoder of ``json``); only the fields that fail are rebuilt: NaN/inf
become strings, cycles a marker, odd keys text, lone surrogates a replacement character,
unknown objects their repr (or a note when that raises), and a field too large for any
payload a size note. Exporters can then encode every span with ``allow_nan=False`` and a bad
value costs at most its own field, never the batch.
"""

from __future__ import annotations

import dataclasses
import json
import marshal
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .internal_errors import contain
from .schema import compact_json_encoder
from .serialize import MAX_STRING, to_jsonable
from .span import Span, Usage, content_values

_orjson_dumps: Callable[[Any, None, int], bytes] | None
_orjson_loads: Callable[[str], Any] | None
try:
    from orjson import OPT_PASSTHROUGH_DATACLASS, OPT_PASSTHROUGH_DATETIME, OPT_PASSTHROUGH_SUBCLASS
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # no wheel for this interpreter (PyPy): the json module's encoder alone
    _orjson_dumps = _orjson_loads = None
# Refused by orjson, hence decided by the json module's encoder and the rebuild as before: what
# that encoder refuses (a huge int, a lone surrogate, a cycle, a key that is not a str), and
# subclasses, dataclasses and dates, which the rebuild turns into what ``to_jsonable`` makes of
# them. orjson writes a NaN or an infinity as ``null``.
_ORJSON_REFUSES = (
    0
    if _orjson_dumps is None
    else (OPT_PASSTHROUGH_DATACLASS | OPT_PASSTHROUGH_DATETIME | OPT_PASSTHROUGH_SUBCLASS)
)

MAX_FIELD_CHARS = 1_000_000  # one field's JSON; larger is cut to a note (payload limits)
MAX_NESTING = 64  # deeper values become a marker (the C encoder's recursion stays far away)
_INT64 = 2**63
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_TEXT_FIELDS = ("name", "kind", "agent_name", "provider", "operation", "request_model", "response_model",
                "finish_reason")  # fmt: skip
_text_fields = operator.attrgetter(*_TEXT_FIELDS)
_STR_OR_NONE = frozenset({str, type(None)})
_INT_OR_NONE = frozenset({int, type(None)})
_FREE_FIELDS = ("input", "output", "metadata", "error")
_USAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Usage))
_usage_values = operator.attrgetter(*_USAGE_FIELDS)
_last_size: tuple[Span | None, int | None] = (None, None)  # the content size of the span sanitized last


def _refuse(value: Any) -> Any:
    raise TypeError(f"{_type_name(value)} is not JSON")


_strict_encode = compact_json_encoder(_refuse, allow_nan=False)


def sanitize_span(span: Span) -> str | None:
    """Rewrite, in place, whatever in ``span`` a strict JSON encoder would refuse.

    Returns:
        ``content_values(span)`` as strict JSON text when it was taken as it was; ``None`` when
        any of it was rebuilt.
    """
    try:
        return _sanitize(span)
    except Exception:  # a bug of ours costs this span's content, never the batch
        span.input = span.output = span.tool_calls = span.error = None
        span.metadata = {}
        with contain("sanitize_span"):
            raise
        return None


def _sanitize(span: Span) -> str | None:
    global _last_size
    if not _STR_OR_NONE.issuperset(map(type, _text_fields(span))):
        for name in _TEXT_FIELDS:
            value = getattr(span, name)
            if value is not None and type(value) is not str:
                setattr(span, name, _text(value))
    if span.cost_usd is not None and not _number_ok(span.cost_usd):
        span.cost_usd = _number(span.cost_usd)
    if span.ttft_ms is not None and not _number_ok(span.ttft_ms):
        span.ttft_ms = _number(span.ttft_ms)
    if span.turn_index is not None and not _number_ok(span.turn_index):
        turn = _number(span.turn_index)
        span.turn_index = turn if type(turn) is int else None
    if span.usage is not None:
        _sanitize_usage(span)
    attrs = span.trace_attrs
    text = _content_text(content_values(span))
    if text is None or len(text) > MAX_FIELD_CHARS or (attrs.tags and not _all_text(attrs.tags)):
        for name in _FREE_FIELDS:
            setattr(span, name, safe_value(getattr(span, name)))
        if span.tool_calls is not None:
            span.tool_calls = _tool_calls(span.tool_calls)
        span.metadata = _as_mapping(span.metadata) or {}
        _sanitize_trace_attrs(span)
        _last_size = (span, None)
        return None
    _last_size = (span, len(text))
    return text


def content_json(span: Span) -> str | None:
    """``content_values(span)`` as strict JSON text (the text ``sanitize_span`` returns for a span
    it took as it was), for content changed since; None when a value defeats the encoders.
    """
    return _content_text(content_values(span))


def encoded_size(span: Span) -> int:
    """Characters of the span's content as JSON (known without a second encode right after
    :func:`sanitize_span` took the plain path for this span).
    """
    last_span, size = _last_size
    if last_span is not span or size is None:
        size = _encoded_length((span.input, span.output, span.metadata, span.error, span.tool_calls))
    return size or 0


def safe_value(value: Any) -> Any:
    """``value`` itself when strict JSON takes it as it is, else a strict-JSON copy."""
    if _encodes(value):
        return value
    try:
        safe = _strict(value, 0, set())
        text = _strict_encode(safe)
        if len(text) > MAX_FIELD_CHARS:  # keep the shape: long strings and lists cut with notes
            safe = to_jsonable(safe)
            text = _strict_encode(safe)
    except Exception:  # a value that defeats every fallback costs only itself
        return f"<{_type_name(value)}: not serializable>"
    if len(text) > MAX_FIELD_CHARS:
        return text[:MAX_STRING] + f"… <{len(text) - MAX_STRING} more chars of JSON>"
    return safe


def _encodes(value: Any) -> bool:
    if value is None:
        return True
    length = _encoded_length(value)
    return length is not None and length <= MAX_FIELD_CHARS


def _encoded_length(value: Any) -> int | None:
    """Length of ``value`` as strict JSON; None when no exporter could write it as it is."""
    text = _encoded_text(value)
    return None if text is None else len(text)


def _content_text(values: tuple[Any, ...]) -> str | None:
    """:func:`_encoded_text` of a span's content, by orjson when it gives the same JSON.

    Where orjson's text has no more ``null`` than ``values`` has ``None``, no NaN or infinity
    became one; where it has more (``None`` below the top), marshal's bytes tell, else a decode
    of the text. orjson writes a few floats in other forms (``1e-7`` for ``1e-07``: the same
    JSON number) and takes a plain ``Enum`` (its value) and a ``UUID`` (its text) as they are.
    """
    if _orjson_dumps is not None:
        try:
            text: str | None = _orjson_dumps(values, None, _ORJSON_REFUSES).decode()
        except Exception:  # the json module's encoder decides
            text = None
        if text is not None and (
            _every_null_a_none(text, values) or _no_float_out_of_range(values) or _decodes_to(text, values)
        ):
            return text
    return _encoded_text(values)


def _every_null_a_none(text: str, values: tuple[Any, ...]) -> bool:
    try:  # ``count`` compares by ``==``: a value's own ``__eq__`` (an Enum orjson takes) may raise
        return text.count("null") == values.count(None)
    except Exception:
        return False


def _no_float_out_of_range(values: tuple[Any, ...]) -> bool:
    """Whether ``values`` surely hold no NaN or infinity, without decoding anything: marshal writes
    a float as its 8 IEEE 754 bytes, and a NaN's or an infinity's last byte (sign and exponent) is
    0x7f or 0xff. Output with neither byte (marshal writes text as UTF-8, which has no 0xff and a
    0x7f only for DEL) has none; a few ints and lengths hold one too, and are decoded to tell.
    """
    try:
        data = marshal.dumps(values)
    except Exception:  # what orjson takes beyond JSON's types (dates, enums, subclasses): decoded
        return False
    return b"\x7f" not in data and b"\xff" not in data


def _decodes_to(text: str, values: tuple[Any, ...]) -> bool:
    """Whether ``text`` decodes back to ``values``, so no NaN or infinity in them became a
    ``null``: where they hold ``None`` below the top (a tool-calling assistant message's
    ``"content": null``), the count of ``null`` cannot tell, and the json module's encoder takes
    nine times orjson's time. Tuples (the trace's tags) decode as lists.
    """
    assert _orjson_loads is not None
    try:  # a value's own ``__eq__`` may raise: then the json module's encoder decides
        return all(
            back == value or (type(value) is tuple and back == list(value))
            for back, value in zip(_orjson_loads(text), values, strict=True)
        )
    except Exception:
        return False


def _encoded_text(value: Any) -> str | None:
    """``value`` as strict JSON; None when no exporter could write it as it is."""
    try:
        text = _strict_encode(value)
    except Exception:  # NaN, a cycle, an odd key, an unknown object, a huge int, too deep
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
    return text


def _strict(value: Any, depth: int, ancestors: set[int]) -> Any:
    if isinstance(value, str):
        return _clean_string(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        try:
            return int(int.__repr__(value))
        except ValueError:  # more digits than int -> str allows
            return f"<int: {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else _NONFINITE[float.__repr__(value)]
    if depth >= MAX_NESTING:
        return f"<{_type_name(value)}: nested too deep>"
    is_container = isinstance(value, (Mapping, list, tuple, set, frozenset))
    if not is_container:  # pydantic, dataclasses, enums, bytes, repr: to_jsonable knows them
        return _strict(to_jsonable(value), depth + 1, ancestors)
    if id(value) in ancestors:
        return f"<circular reference to a {_type_name(value)}>"
    ancestors.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {_key(key): _strict(item, depth + 1, ancestors) for key, item in value.items()}
        return [_strict(item, depth + 1, ancestors) for item in value]
    except Exception:  # a container whose iteration raises
        return f"<{_type_name(value)}: not serializable>"
    finally:
        ancestors.discard(id(value))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _clean_string(key)
    if key is None or isinstance(key, (bool, int, float)):  # what json itself turns into text
        safe = _strict(key, 0, set())
        return safe if isinstance(safe, str) else json.dumps(safe)
    return _text(key)


def _clean_string(value: str) -> str:
    text = str.__str__(value)  # a str subclass may override __str__ / encode
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _text(value: Any) -> str:
    """A printable stand-in for a value that must be a string."""
    if isinstance(value, str):
        return _clean_string(value)
    try:
        return _clean_string(repr(value))[:MAX_STRING]
    except Exception:
        return f"<unprintable {_type_name(value)}>"


def _type_name(value: Any) -> str:
    try:
        return type(value).__name__
    except Exception:
        return "object"


def _number_ok(value: Any) -> bool:
    """An int that fits SQLite's INTEGER, or a finite float."""
    if type(value) is int:
        return -_INT64 <= value < _INT64
    return type(value) is float and math.isfinite(value)


def _number(value: Any) -> int | float | None:
    """``value`` as a plain int or finite float (numpy numbers, int subclasses), else None."""
    try:
        number: int | float = operator.index(value)
    except Exception:
        try:
            number = float(value)
        except Exception:
            return None
    return number if _number_ok(number) else None


def _sanitize_usage(span: Span) -> None:
    usage = span.usage
    if not isinstance(usage, Usage):  # e.g. a dict assigned by hand: to_dict() would raise
        span.usage = None
        return
    values = _usage_values(usage)
    if _INT_OR_NONE.issuperset(map(type, values)) and sum(map(abs, filter(None, values))) < _INT64:
        return  # the usual case: plain ints in range, or None (else the loop below decides)
    for name in _USAGE_FIELDS:
        value = getattr(usage, name)
        if value is not None and not _number_ok(value):
            setattr(usage, name, _number(value))


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Each call stays a dict: a bad or huge ``arguments`` value costs only that value."""
    if not isinstance(calls, (list, tuple)):
        calls = [calls]
    return [
        {_key(key): safe_value(item) for key, item in call.items()}
        if isinstance(call, dict)
        else {"arguments": safe_value(call)}
        for call in calls
    ]


def _all_text(tags: tuple[Any, ...]) -> bool:
    """Whether every tag is a string: ``conversation(tags=...)`` keeps what the user passed."""
    return all(type(tag) is str for tag in tags)


def _as_mapping(value: Any) -> dict[str, Any] | None:
    """Metadata stays a dict (or None): a value cut to a note is kept under ``"value"``."""
    return value if value is None or isinstance(value, dict) else {"value": value}


def _sanitize_trace_attrs(span: Span) -> None:
    attrs = span.trace_attrs
    tags: tuple[Any, ...] = attrs.tags  # what the user passed, not yet the strings declared
    if not _all_text(tags) or not _encodes(tags):
        tags = tuple(_text(tag) for tag in tags)
    metadata = _as_mapping(safe_value(attrs.metadata))
    if tags is not attrs.tags or metadata is not attrs.metadata:
        span.trace_attrs = dataclasses.replace(attrs, tags=tags, metadata=metadata)
