"""Pure extractors: LangChain objects (messages, results, documents) into span fields.

Nothing here touches a span's lifecycle; the handler calls these and fills what is missing.
Imported only once ``langchain_core`` is (the integration loads on its import).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq, itemgetter, not_
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import ChatPromptValue

from ..._core import serialize
from ..._core.serialize import REDACTED, is_secret_key, known_secret_keys, to_jsonable
from ..._core.span import Usage
from .._attrs import attr

MAX_DOCUMENT_CONTENT = 2_000  # characters of a retrieved document's text kept on the span
MAX_DOCUMENTS = 50
# A message's ``type`` -> the role recorded; a ``ChatMessage`` (type "chat") records its own role.
# Chunks (a streamed reply added back to the history) are their message's role.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
          "HumanMessageChunk": "user", "AIMessageChunk": "assistant", "SystemMessageChunk": "system",
          "ToolMessageChunk": "tool", "FunctionMessageChunk": "function",
          "ChatMessageChunk": "chat"}  # fmt: skip
_SCORE_KEYS = ("score", "relevance_score", "_score", "similarity", "distance")
_SCALARS = frozenset({str, int, float, bool, type(None)})
_PLAIN = frozenset({int, float, bool, type(None)})  # scalars ``value`` returns as they are
_SETTINGS = (("ls_temperature", "temperature"), ("ls_max_tokens", "max_tokens"), ("ls_stop", "stop"))


# Messages recorded lately: id -> (a weak reference to the message, what its record was made
# from, the record). A LangGraph state holds the whole history and every run of a turn records
# it (the graph, each node and routing step, each model call): a 40-message agent turn converted
# each message ~9 times. What a record was made from is a copy of the message's instance dict,
# its ``additional_kwargs``, tool calls and content list copied too: a field replaced or one of
# those edited in place makes it differ, and the message is converted again. A record that met
# a string past MAX_STRING is not kept (it depends on the cap: ``full_content`` converts again
# under a larger one). An entry goes with its message (a weak reference: the cache keeps no
# conversation alive), before its id can be reused; bounded: cleared when full.
_recorded: dict[int, tuple[weakref.ref[Any], dict[str, Any], dict[str, Any]]] = {}
_MAX_RECORDED = 4096
_MISSING = (None, None, None)  # no entry: made from nothing, no record
_made_from, _record_of = itemgetter(1), itemgetter(2)
_instance_dict, _undeclared = attrgetter("__dict__"), attrgetter("__pydantic_extra__")


def message(msg: Any) -> dict[str, Any]:
    """A compact, provider-neutral form of a ``BaseMessage`` (role, content, tool calls).

    The record of a LangChain message is shared by the spans that record it: treat it as read-only.
    """
    fields = getattr(msg, "__dict__", None)
    undeclared = getattr(msg, "__pydantic_extra__", None)
    if type(fields) is not dict or "additional_kwargs" not in fields or undeclared:
        # Not a LangChain message, or one given fields its class does not declare: by attribute.
        kind, content = getattr(msg, "type", ""), getattr(msg, "content", None)
        extra, name = getattr(msg, "additional_kwargs", None), getattr(msg, "name", None)
        return _record(msg, kind, content, extra, attr(msg, "tool_calls"), attr(msg, "tool_call_id"), name)
    # A LangChain message keeps every field in its instance dict: read from it, not by six
    # attribute reads (``_attrs``), and only when the message is new or changed since its record.
    known = _recorded.get(id(msg))
    if known is not None and _same(known[1], fields):
        return known[2]
    long_strings = serialize.long_strings
    extra, calls, content = fields["additional_kwargs"], fields.get("tool_calls"), fields.get("content")
    name, call_id = fields.get("name"), fields.get("tool_call_id")
    record = _record(msg, fields.get("type", ""), content, extra, calls, call_id, name)
    if serialize.long_strings == long_strings:
        made_from = dict(fields)  # its containers copied: an edit in place makes it differ
        if type(extra) is dict:
            made_from["additional_kwargs"] = extra.copy()
        if type(calls) is list:
            made_from["tool_calls"] = calls.copy()
        if type(content) is list:
            made_from["content"] = content.copy()
        _keep(msg, made_from, record)
    return record


def messages(items: Sequence[Any], convert: Callable[[Any], Any] = message) -> list[Any]:
    """``[convert(m) for m in items]``, where ``convert`` gives a message its record (``message``).

    A LangGraph turn records its history at each of its ~9 runs. The messages recorded before and
    unchanged since are found for the whole list at once, in C loops: no Python call each.
    """
    if (type(items) is not list and type(items) is not tuple) or len(items) < 3:  # (read more than
        return list(map(convert, items))  # once below; the loops' set-up outweighs one or two calls)
    try:
        undeclared = any(map(_undeclared, items))  # fields its class does not declare: by attribute
        fields = list(map(_instance_dict, items))
        entries = list(map(_recorded.get, map(id, items), repeat(_MISSING)))
        made_from = list(map(_made_from, entries))
        if made_from == fields and not undeclared:
            return list(map(_record_of, entries))
        same = list(map(eq, made_from, fields))  # a field's ``__eq__`` may raise
    except Exception:  # not all LangChain messages (no instance dict, no extras slot), or a
        undeclared = True  # field's ``__eq__`` raised: one by one
    if undeclared:
        return list(map(convert, items))
    records = list(map(_record_of, entries))
    for index in compress(range(len(items)), map(not_, same)):  # the new or changed ones
        records[index] = convert(items[index])
    return records


def _same(made_from: dict[str, Any], fields: dict[str, Any]) -> bool:
    try:  # each field by identity first; a replaced one's own ``__eq__`` may raise
        return made_from == fields
    except Exception:
        return False


def _keep(msg: Any, made_from: dict[str, Any], record: dict[str, Any]) -> None:
    if len(_recorded) >= _MAX_RECORDED:
        _recorded.clear()
    key = id(msg)
    try:
        _recorded[key] = (weakref.ref(msg, functools.partial(_forget, _recorded, key)), made_from, record)
    except TypeError:  # a message class that takes no weak reference: not kept
        pass


def _forget(recorded: dict[int, Any], key: int, message: weakref.ref[Any]) -> None:
    """A recorded message was collected: its entry goes (before its id can be reused). The dict
    is bound, not looked up: this may run while the interpreter shuts down.
    """
    recorded.pop(key, None)


def _record(
    msg: Any, kind: Any, content: Any, extra: Any, calls: Any, call_id: Any, name: Any
) -> dict[str, Any]:
    kind = str(kind)
    role = _ROLES.get(kind, kind)
    if role == "chat":
        role = str(getattr(msg, "role", None) or role)
    out: dict[str, Any] = {"role": role, "content": to_jsonable(content)}
    if calls:
        out["tool_calls"] = tool_calls(calls)
    function = None if type(extra) is dict and not extra else _function_call(extra)  # mostly empty: no call
    if function is not None:
        out["function_call"] = function
    if call_id is not None:
        out["tool_call_id"] = call_id
    if name:
        out["name"] = name
    return out


def value(data: Any, depth: int = 0) -> Any:
    """Like ``to_jsonable``, but messages (also inside LangGraph state dicts) stay compact."""
    cls = type(data)
    if cls in _SCALARS:
        return to_jsonable(data) if cls is str else data  # strings may need a cut or redaction
    if depth < 3:  # plain dicts and lists first: neither is a message (an ABC check each)
        if cls is dict and len(data) <= 200:
            out = {}
            secret_keys = known_secret_keys
            for k, v in data.items():
                key = k if type(k) is str else str(k)
                try:  # keys repeat: a subscript of the cache, no call (as ``serialize._mapping``)
                    secret = secret_keys[key]
                except KeyError:
                    secret = is_secret_key(key)
                if secret:
                    out[key] = REDACTED
                elif type(v) in _PLAIN:  # most tool arguments: no call
                    out[key] = v
                else:
                    out[key] = value(v, depth + 1)
            return out
        if cls is list and len(data) <= 200:
            if data and BaseMessage in type(data[0]).__mro__:  # a history: mostly recorded already
                return messages(data, functools.partial(value, depth=depth + 1))
            return [value(v, depth + 1) for v in data]
    # A message class's own MRO first: pydantic's metaclass is an ABCMeta, whose ``isinstance``
    # is a Python call (a LangGraph state holds the whole history, read at every node).
    if BaseMessage in cls.__mro__ or isinstance(data, BaseMessage):
        return message(data)
    if depth < 3 and isinstance(data, ChatPromptValue):
        return messages(data.messages)
    return to_jsonable(data)


def legacy_function_call(msg: Any) -> dict[str, Any] | None:
    """``{"name", "arguments"}`` of an OpenAI legacy ``function_call`` the message carries."""
    return _function_call(getattr(msg, "additional_kwargs", None))


def _function_call(extra: Any) -> dict[str, Any] | None:
    # ``type(...) is dict`` before ``isinstance(..., Mapping)``, an ABC check: a plain dict, mostly empty
    function = extra.get("function_call") if type(extra) is dict or isinstance(extra, Mapping) else None
    if function is None or not isinstance(function, Mapping):
        return None
    return {"name": function.get("name"), "arguments": function.get("arguments")}


_OUTPUT_BLOCK_KEYS = ("text", "thinking", "reasoning", "partial_json")


def chunk_has_output(chunk: Any) -> bool:
    """Whether a streamed generation chunk carries generated output besides its ``text``:
    tool-call arguments, thinking or reasoning blocks, a legacy function call's arguments.
    """
    msg = attr(chunk, "message")
    if msg is None:
        return False
    if any(
        isinstance(call, Mapping) and call.get("args")
        for call in getattr(msg, "tool_call_chunks", None) or ()
    ):
        return True
    content = getattr(msg, "content", None)
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and any(block.get(key) for key in _OUTPUT_BLOCK_KEYS):
                return True
    extra = getattr(msg, "additional_kwargs", None) or {}
    function = legacy_function_call(msg)
    return bool((function and function["arguments"]) or extra.get("reasoning_content"))


def tool_calls(calls: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"id": call.get("id"), "name": call.get("name"), "arguments": to_jsonable(call.get("args"))}
        for call in calls
        if type(call) is dict or isinstance(call, Mapping)
    ]


def usage(metadata: Any) -> Usage | None:
    """``usage_metadata`` (input incl. cache tokens, with input/output token details)."""
    if not isinstance(metadata, Mapping):
        return None
    details_in = metadata.get("input_token_details") or {}
    details_out = metadata.get("output_token_details") or {}
    return Usage(  # positional (input, output, total, cache_read, cache_write, reasoning): no kwargs dict
        metadata.get("input_tokens"),
        metadata.get("output_tokens"),
        metadata.get("total_tokens"),
        details_in.get("cache_read"),
        details_in.get("cache_creation"),
        details_out.get("reasoning"),
    )


def llm_settings(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if not metadata:
        return {}
    return {name: metadata[key] for key, name in _SETTINGS if metadata.get(key) is not None}


def generation(response: Any) -> Any:
    """The first generation of an ``LLMResult`` (one run = one prompt), or ``None``."""
    generations = getattr(response, "generations", None)
    if generations and generations[0]:
        return generations[0][0]
    return None


def response_fields(
    gen: Any,
) -> tuple[Any, Usage | None, str | None, str | None, list[dict[str, Any]] | None]:
    """``(output, usage, response_model, finish_reason, tool_calls)`` of one generation."""
    msg = attr(gen, "message")
    info = getattr(gen, "generation_info", None) or {}
    if msg is None:  # a completion-style LLM: plain text
        return to_jsonable(getattr(gen, "text", None)), None, None, info.get("finish_reason"), None
    meta = getattr(msg, "response_metadata", None) or {}
    model = meta.get("model_name") or meta.get("model")
    finish = meta.get("finish_reason") or meta.get("stop_reason") or info.get("finish_reason")
    calls = attr(msg, "tool_calls")
    function = None if calls else legacy_function_call(msg)
    return (
        message(msg),
        usage(getattr(msg, "usage_metadata", None)),
        model,
        finish,
        tool_calls(calls) if calls else [{"id": None, **function}] if function else None,
    )


def documents(docs: Sequence[Any]) -> list[dict[str, Any]]:
    """Retrieved documents: id, capped content, metadata, and a score when the metadata has one."""
    out = []
    for doc in list(docs)[:MAX_DOCUMENTS]:
        text = getattr(doc, "page_content", None)
        if isinstance(text, str) and len(text) > MAX_DOCUMENT_CONTENT:
            text = text[:MAX_DOCUMENT_CONTENT] + "…"
        meta = getattr(doc, "metadata", None) or {}
        item: dict[str, Any] = {
            "id": getattr(doc, "id", None),
            "content": text,
            "metadata": to_jsonable(meta),
        }
        for key in _SCORE_KEYS:
            score = meta.get(key)
            if isinstance(score, (int, float)):
                item["score"] = score
                break
        out.append(item)
    return out


def tool_output(output: Any) -> Any:
    """A ``ToolMessage`` (tool called with a tool call id) records its content; else the value."""
    if type(output) is not str and attr(output, "tool_call_id") is not None and hasattr(output, "content"):
        return to_jsonable(output.content)  # (``attr``: a tool's pydantic output lacks the name)
    return value(output)


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if name:
        return str(name)
    if serialized:
        name = serialized.get("name")
        if name:
            return str(name)
        ids = serialized.get("id")
        if ids:
            return str(ids[-1])
    return default
