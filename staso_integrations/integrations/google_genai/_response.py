"""Read a ``GenerateContentResponse`` / ``EmbedContentResponse`` into the span.

Gemini's content (``Content{role, parts}``) is recorded in the block form the exporters, the
SFT export and the viewer already read for Anthropic: ``text``, ``thinking`` (a part with
``thought``), ``tool_use`` (a ``function_call``) and ``tool_result`` (a
``function_response``); the role ``model`` is recorded as ``assistant``.
"""

from __future__ import annotations

from typing import Any

from ..._core.serialize import each, to_jsonable
from ..._core.span import Span, Usage
from .._attrs import attr
from .._llm import full_content


def field(value: Any, name: str) -> Any:
    """``value.name``, or ``value[name]`` for the typed dicts the SDK accepts in its place."""
    if isinstance(value, dict):
        return value.get(name)
    return attr(value, name)  # a config or part lacks most names: no pydantic miss per read


def part_block(part: Any) -> Any:
    """One ``Part`` (object or dict) as a content block; a plain string is a text block."""
    if isinstance(part, str):
        return text_block(part, False)
    text = field(part, "text")
    if text is not None:
        return text_block(text, bool(field(part, "thought")))
    call = field(part, "function_call")
    if call is not None:
        return {
            "type": "tool_use",
            "id": field(call, "id"),
            "name": field(call, "name"),
            "input": to_jsonable(field(call, "args") or {}),
        }
    answer = field(part, "function_response")
    if answer is not None:
        return {
            "type": "tool_result",
            "tool_use_id": field(answer, "id"),
            "name": field(answer, "name"),
            "content": to_jsonable(field(answer, "response")),
        }
    return to_jsonable(part)  # inline data, files, code execution: as the SDK dumps them


def text_block(text: str, thought: bool) -> dict[str, Any]:
    """A text part; a thought summary (``thought=True``) is a ``thinking`` block."""
    if thought:
        return {"type": "thinking", "thinking": to_jsonable(text)}
    return {"type": "text", "text": to_jsonable(text)}


def role_of(role: Any) -> str:
    return "assistant" if role == "model" else "user"  # function responses travel as ``user``


def usage_of(usage: Any) -> Usage | None:
    """``GenerateContentResponseUsageMetadata`` -> ``Usage``.

    ``prompt_token_count`` already includes the cached tokens; ``candidates_token_count``
    leaves out the thinking tokens, which are billed as output, so ``output`` adds them back.
    Tokens of tool-use prompts (search, code execution results) are billed as input.
    """
    if usage is None:
        return None
    prompt = usage.prompt_token_count
    tool_prompt = usage.tool_use_prompt_token_count
    candidates = usage.candidates_token_count
    thoughts = usage.thoughts_token_count
    return Usage(
        input=None if prompt is None and tool_prompt is None else (prompt or 0) + (tool_prompt or 0),
        output=None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0),
        total=usage.total_token_count,
        cache_read=usage.cached_content_token_count,
        reasoning=thoughts,
    )


def tool_call(call: Any, capture: bool) -> dict[str, Any]:
    arguments = to_jsonable(call.args or {}) if capture else None
    return {"id": call.id, "name": call.name, "arguments": arguments}


def finish_name(reason: Any) -> str | None:
    """``FinishReason.STOP`` -> ``STOP`` (the API's own word, as the other providers keep theirs)."""
    return None if reason is None else str(getattr(reason, "value", reason))


def record_response(span: Span, response: Any, capture: bool) -> None:
    """A complete ``GenerateContentResponse``: the first candidate is the answer."""
    if response.model_version:
        span.response_model = response.model_version
    if response.response_id:
        span.metadata["response_id"] = response.response_id
    span.usage = usage_of(response.usage_metadata)
    candidates = response.candidates or ()
    if not candidates:  # a blocked prompt has no candidate, only the reason
        feedback = response.prompt_feedback
        span.finish_reason = finish_name(feedback.block_reason) if feedback is not None else None
        return
    candidate = candidates[0]
    span.finish_reason = finish_name(candidate.finish_reason)
    parts = (candidate.content.parts if candidate.content is not None else None) or ()
    calls = [tool_call(part.function_call, capture) for part in parts if part.function_call is not None]
    if calls:
        span.tool_calls = calls
    if capture:
        span.output = {"role": "assistant", "content": full_content(each, part_block, parts)}


def record_embeddings(span: Span, response: Any, capture: bool) -> None:
    """``EmbedContentResponse``: usage and shape, never the vectors.

    The Gemini API reports ``usage_metadata`` (google-genai 3.x); Vertex AI counts tokens per
    embedding instead.
    """
    embeddings = response.embeddings or ()
    usage = getattr(response, "usage_metadata", None)
    tokens = usage.prompt_token_count if usage is not None else None
    if tokens is None:
        counts = [getattr(item.statistics, "token_count", None) for item in embeddings]
        tokens = int(sum(counts)) if counts and None not in counts else None  # type: ignore[arg-type]
    if tokens is not None:
        span.usage = Usage(input=tokens, output=0, total=tokens)
    shape: dict[str, Any] = {"count": len(embeddings)}
    if embeddings and embeddings[0].values is not None:
        shape["dimensions"] = len(embeddings[0].values)
    span.output = shape
