"""Turn an OpenAI result object into span fields: model, usage, output, finish reason, tools.

Every reader tolerates missing pieces: old responses lack ``*_details``, Azure content-filter
choices have no ``message``, usage can be absent or all zeros.

An object's fields are read from its instance dict, where pydantic keeps them: on Python 3.11 an
attribute read on a pydantic model is a generic lookup through its ``__getattr__`` hook, so one
dict read per object costs less than one hooked read per field (3.12+ specializes attribute
reads, which the stream handlers, run per chunk, use instead: ``_chunks.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.span import Span, Usage
from ...pricing import WEB_SEARCHES
from .._attrs import attr

_CHAT_USAGE = ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
_RESPONSES_USAGE = ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")


def read_usage(usage: Any) -> Usage | None:
    """An OpenAI usage block -> ``Usage``: ``CompletionUsage`` (chat, legacy completions) counts
    ``prompt``/``completion`` tokens, ``ResponseUsage`` ``input``/``output`` (cached ones included).
    """
    if usage is None:
        return None
    return _usage(usage, _RESPONSES_USAGE if type(usage).__name__ == "ResponseUsage" else _CHAT_USAGE)


def _usage(usage: Any, names: tuple[str, str, str, str]) -> Usage:
    """``usage`` whose counts and details have the ``names`` (input, output, input details,
    output details): constant strings, not formatted per call.
    """
    input_name, output_name, input_details, output_details = names
    try:  # one read of the instance dict (see above)
        fields = usage.__dict__
        counts = fields[input_name], fields[output_name], fields["total_tokens"]
        prompt_details, completion_details = fields[input_details], fields[output_details]
    except (AttributeError, KeyError):  # not built by the SDK: read as attributes
        counts = (
            getattr(usage, input_name, None),
            getattr(usage, output_name, None),
            getattr(usage, "total_tokens", None),
        )
        prompt_details = getattr(usage, input_details, None)
        completion_details = getattr(usage, output_details, None)
    cache_read = getattr(prompt_details, "cached_tokens", None)
    if cache_read is None:  # DeepSeek's documented usage has its own count and no details
        cache_read = attr(usage, "prompt_cache_hit_tokens")
    return Usage(  # positional (input, output, total, cache_read, cache_write, reasoning): no kwargs dict
        *counts,
        cache_read,
        getattr(prompt_details, "cache_write_tokens", None),
        getattr(completion_details, "reasoning_tokens", None),
    )


def tool_call(call_id: Any, name: Any, arguments: Any, capture: bool) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments if capture else None}


def _set_common(span: Span, result: Any) -> None:
    _set_ids(span, getattr(result, "model", None), getattr(result, "id", None))


def _set_ids(span: Span, model: Any, response_id: Any) -> None:
    span.response_model = model or span.response_model
    if response_id:
        span.metadata["response_id"] = response_id


def record_chat(span: Span, completion: Any, capture: bool) -> None:
    """``ChatCompletion`` / ``ParsedChatCompletion``."""
    try:  # one read of the instance dict (see above)
        fields = completion.__dict__
        model, response_id, usage, choices = fields["model"], fields["id"], fields["usage"], fields["choices"]
    except (AttributeError, KeyError):  # not built by the SDK: read as attributes
        model, response_id = getattr(completion, "model", None), getattr(completion, "id", None)
        usage, choices = completion.usage, completion.choices
    _set_ids(span, model, response_id)
    span.usage = read_usage(usage)
    outputs: list[Any] = []
    calls: list[dict[str, Any]] = []
    for choice in choices or ():
        try:
            fields = choice.__dict__
            finish, message = fields["finish_reason"], fields["message"]
        except (AttributeError, KeyError):
            finish, message = choice.finish_reason, getattr(choice, "message", None)
        if span.finish_reason is None:
            span.finish_reason = finish
        if message is None:  # e.g. an Azure content-filter choice
            continue
        try:
            fields = message.__dict__
            tool_calls, legacy = fields["tool_calls"], fields["function_call"]
        except (AttributeError, KeyError):
            tool_calls, legacy = message.tool_calls, getattr(message, "function_call", None)
        for call in tool_calls or ():
            function = getattr(call, "function", None) or getattr(call, "custom", None)
            arguments = getattr(function, "arguments", None) if function is not None else None
            if arguments is None and function is not None:
                arguments = getattr(function, "input", None)
            calls.append(tool_call(call.id, getattr(function, "name", None), arguments, capture))
        if legacy is not None:  # ``functions=`` / ``function_call``
            calls.append(tool_call(None, legacy.name, legacy.arguments, capture))
        if capture:
            outputs.append(_message(message, tool_calls, legacy))
    span.tool_calls = calls or None
    if outputs:
        span.output = outputs[0] if len(outputs) == 1 else outputs


def _message(message: Any, calls: Any, legacy: Any) -> dict[str, Any]:
    try:
        fields = message.__dict__
        out: dict[str, Any] = {"role": fields["role"], "content": fields["content"]}
        refusal = fields["refusal"]
    except (AttributeError, KeyError):
        out = {"role": message.role, "content": message.content}
        refusal = getattr(message, "refusal", None)
    if refusal:
        out["refusal"] = refusal
    if calls:
        out["tool_calls"] = [call.model_dump(mode="json", exclude_none=True) for call in calls]
    if legacy is not None:
        out["function_call"] = {"name": legacy.name, "arguments": legacy.arguments}
    return out


def record_responses(span: Span, response: Any, capture: bool) -> None:
    """``Response`` / ``ParsedResponse`` (also the final snapshot of a stream)."""
    _set_common(span, response)
    span.usage = read_usage(response.usage)
    incomplete = getattr(response, "incomplete_details", None)
    span.finish_reason = getattr(incomplete, "reason", None) or response.status
    calls: list[dict[str, Any]] = []
    texts: list[str] = []
    searches = 0  # web_search_call items: billed per search
    for item in response.output or ():
        kind = item.type
        if kind == "message":
            if capture:
                texts.extend(part.text for part in item.content if part.type == "output_text" and part.text)
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.arguments if kind == "function_call" else item.input
            calls.append(tool_call(item.call_id, item.name, arguments, capture))
        elif kind == "web_search_call":
            searches += 1
    span.tool_calls = calls or None
    if searches:
        span.metadata[WEB_SEARCHES] = searches
    if capture and texts:
        span.output = {"role": "assistant", "content": "".join(texts)}
    error = getattr(response, "error", None)
    if error is not None:
        span.status = "error"
        span.error = {"type": getattr(error, "code", None) or "response_error", "message": error.message}


def record_completion(span: Span, completion: Any, capture: bool) -> None:
    """Legacy ``Completion``."""
    _set_common(span, completion)
    span.usage = read_usage(completion.usage)
    choices = completion.choices or ()
    if choices:
        span.finish_reason = choices[0].finish_reason
        if capture:
            texts = [choice.text for choice in choices]
            span.output = texts[0] if len(texts) == 1 else texts


def record_embeddings(span: Span, result: Any, capture: bool) -> None:
    """``CreateEmbeddingResponse``: usage and shape, never the vectors."""
    span.response_model = getattr(result, "model", None) or span.response_model
    usage = result.usage
    if usage is not None:
        span.usage = Usage(input=usage.prompt_tokens, output=0, total=usage.total_tokens)
    data = result.data or ()
    shape: dict[str, Any] = {"count": len(data)}
    if data and isinstance(data[0].embedding, list):
        shape["dimensions"] = len(data[0].embedding)
    span.output = shape


RECORDERS: dict[str, Callable[[Span, Any, bool], None]] = {
    "chat": record_chat,
    "responses": record_responses,
    "completion": record_completion,
    "embeddings": record_embeddings,
}


def record_response(span: Span, operation: str, result: Any, capture: bool) -> None:
    """Fill ``span`` from a parsed (non-stream) result of ``operation``."""
    RECORDERS[operation](span, result, capture)
