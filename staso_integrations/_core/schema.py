"""The exported fields of a span and of a trace roll-up, declared once.

``Span.to_dict``, the local store's tables, rows and ``span_from_row``, and the platform
payloads derive from these tables instead of listing the fields again. Whatever a consumer
needs per span (one ``attrgetter`` over every path, tuples of names and positions) is built
here at import, so deriving costs no work per span.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

ValueKind = Literal["text", "integer", "real", "bool", "json"]


@dataclass(frozen=True, slots=True)
class Field:
    """One exported field.

    Attributes:
        name: its key in the exported dict, and its column in the local store.
        kind: the value's type; ``json`` values are free-form and stored as JSON text.
        path: where the object holds it, in ``operator.attrgetter`` syntax (default: ``name``).
        plain: turns a held value that is not None into its exported form (``Usage`` -> dict).
        trace_level: a field of the whole trace that every span carries (DESIGN.md section 2).
    """

    name: str
    kind: ValueKind
    path: str = ""
    plain: Callable[[Any], Any] | None = None
    trace_level: bool = False

    @property
    def source(self) -> str:
        return self.path or self.name


_usage_dict = operator.methodcaller("to_dict")

SPAN_FIELDS: tuple[Field, ...] = (
    Field("trace_id", "text"),
    Field("span_id", "text"),
    Field("parent_span_id", "text"),
    Field("name", "text"),
    Field("kind", "text"),
    Field("status", "text"),
    Field("error", "json"),
    Field("start_ns", "integer"),
    Field("end_ns", "integer"),
    Field("duration_ms", "real"),
    Field("input", "json"),
    Field("output", "json"),
    Field("metadata", "json"),
    Field("agent_name", "text", trace_level=True),
    Field("conversation_id", "text", "trace_attrs.conversation_id", trace_level=True),
    Field("user_id", "text", "trace_attrs.user_id", trace_level=True),
    Field("session_id", "text", "trace_attrs.session_id", trace_level=True),
    Field("turn_index", "integer", trace_level=True),
    Field("tags", "json", "trace_attrs.tags", plain=list, trace_level=True),
    Field("environment", "text", "resource.environment", trace_level=True),
    Field("workspace_slug", "text", "resource.workspace_slug", trace_level=True),
    Field("source_type", "text", "resource.source_type", trace_level=True),
    Field("provider", "text"),
    Field("operation", "text"),
    Field("request_model", "text"),
    Field("response_model", "text"),
    Field("usage", "json", plain=_usage_dict),
    Field("cost_usd", "real"),
    Field("ttft_ms", "real"),
    Field("finish_reason", "text"),
    Field("tool_calls", "json"),
    Field("stream", "bool"),
)

# A roll-up as the local store keeps it: its usage flattened into one column per token count.
TRACE_FIELDS: tuple[Field, ...] = (
    Field("trace_id", "text"),
    Field("name", "text"),
    Field("agent_name", "text"),
    Field("conversation_id", "text"),
    Field("user_id", "text"),
    Field("session_id", "text"),
    Field("turn_index", "integer"),
    Field("environment", "text"),
    Field("workspace_slug", "text"),
    Field("source_type", "text"),
    Field("tags", "json"),
    Field("metadata", "json"),
    Field("start_ns", "integer"),
    Field("end_ns", "integer"),
    Field("duration_ms", "real"),
    Field("status", "text"),
    Field("span_count", "integer"),
    Field("error_count", "integer"),
    Field("input_tokens", "integer", "usage.input"),
    Field("output_tokens", "integer", "usage.output"),
    Field("total_tokens", "integer", "usage.total"),
    Field("cache_read_tokens", "integer", "usage.cache_read"),
    Field("cache_write_tokens", "integer", "usage.cache_write"),
    Field("reasoning_tokens", "integer", "usage.reasoning"),
    Field("cost_usd", "real"),
)

SPAN_FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in SPAN_FIELDS)
TRACE_FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in TRACE_FIELDS)
TRACE_LEVEL_NAMES: tuple[str, ...] = tuple(field.name for field in SPAN_FIELDS if field.trace_level)
# A trace's usage columns, by the ``Usage`` key each holds (``input_tokens`` -> ``input``).
TRACE_USAGE_KEYS: dict[str, str] = {
    field.name: field.path.removeprefix("usage.") for field in TRACE_FIELDS if field.path.startswith("usage.")
}


def reader(
    fields: tuple[Field, ...],
    convert: Callable[[Field], Callable[[Any], Any] | None],
    *,
    as_dict: bool = False,
) -> Callable[[Any], Any]:
    """A function reading every field of an object: a tuple in ``fields`` order, or a dict by name.

    A value that is not None goes through ``convert(field)`` when that gives a function. The
    function is generated (as ``dataclasses`` does): as fast as the same code written by hand,
    where a loop over the fields would cost several times more per span.
    """
    namespace: dict[str, Any] = {}
    items = []
    for index, field in enumerate(fields):
        value = f"obj.{field.source}"
        function = convert(field)
        if function is not None:
            namespace[f"convert_{index}"] = function
            value = f"(convert_{index}(v) if (v := {value}) is not None else None)"
        items.append(f"{field.name!r}: {value}" if as_dict else value)
    body = "{" + ", ".join(items) + "}" if as_dict else "(" + ", ".join(items) + ",)"
    exec(f"def read(obj):\n    return {body}\n", namespace)
    read: Callable[[Any], Any] = namespace["read"]
    return read


span_dict: Callable[[Any], dict[str, Any]] = reader(SPAN_FIELDS, lambda field: field.plain, as_dict=True)
"""The exported form of a span: every field of :data:`SPAN_FIELDS`, by name."""


def compact_json_encoder(default: Callable[[Any], Any], *, allow_nan: bool) -> Callable[[Any], str]:
    """Compact JSON text, non-ASCII kept, ``default`` for unknown objects: the C encoder built once.

    ``JSONEncoder.encode`` builds its C encoder on every call, which costs more than encoding a
    small value. Without a markers dict, a cycle ends in RecursionError.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (PyPy): the public path
        return json.JSONEncoder(
            default=default, allow_nan=allow_nan, ensure_ascii=False, separators=(",", ":")
        ).encode
    chunks = make(None, default, json.encoder.encode_basestring, None, ":", ",", False, False, allow_nan)
    return lambda value: "".join(chunks(value, 0))


json_text = compact_json_encoder(str, allow_nan=True)
"""How a ``json`` field is written: unknown objects as their ``str`` (as ``json.dumps(default=str)``)."""
