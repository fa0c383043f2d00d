"""A span's recorded messages in one shape, whatever SDK or framework recorded them.

Shape: OpenTelemetry GenAI's message form, ``{"role", "parts": [...]}`` with parts
``{"type": "text", "content"}``, ``{"type": "tool_call", "id", "name", "arguments"}``,
``{"type": "tool_call_response", "id", "response"}`` and ``{"type": "reasoning", "content"}``.
Both OTLP convention modules render from it. Reads OpenAI chat and Responses messages and
items, Anthropic ``{"system", "messages"}`` with content blocks, and the compact
LangChain/LlamaIndex messages (``role``, ``content``, ``tool_calls``, ``tool_call_id``).
"""

from __future__ import annotations

import json
from typing import Any

from .._core.span import Span

Message = dict[str, Any]
Part = dict[str, Any]

_TEXT_BLOCKS = ("text", "input_text", "output_text")


def input_messages(span: Span) -> tuple[list[Message], list[Part]]:
    """``(messages, system instructions)`` of an LLM span's input; empty without one."""
    given = span.input
    if given is None:
        return [], []
    system: list[Part] = []
    if isinstance(given, dict) and "messages" in given:
        system = _parts(given.get("system"))
        given = given.get("messages")
    if isinstance(given, str):
        return [{"role": "user", "parts": [_text(given)]}], system
    if not isinstance(given, list):
        return [], system
    return [message for item in given if (message := _message(item, "user")) is not None], system


def output_messages(span: Span) -> list[Message]:
    """The model's answer(s), with the tool calls it asked for and the finish reason."""
    produced = span.output
    if produced is None:
        return []
    items = produced if isinstance(produced, list) else [produced]
    messages = [message for item in items if (message := _message(item, "assistant")) is not None]
    if messages and isinstance(span.tool_calls, list) and not any(_calls(message) for message in messages):
        messages[0]["parts"].extend(_tool_call(call) for call in span.tool_calls if isinstance(call, dict))
    if span.finish_reason:
        for message in messages:
            message["finish_reason"] = span.finish_reason
    return messages


def tool_definitions(span: Span) -> list[dict[str, Any]]:
    """``[{"type", "name", "description", "parameters"}]`` from OpenAI or Anthropic tool lists."""
    out = []
    tools = span.metadata.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        function: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        definition = {
            "type": "function",
            "name": function.get("name"),
            "description": function.get("description"),
            "parameters": function.get("parameters") or function.get("input_schema"),
        }
        out.append({key: value for key, value in definition.items() if value is not None})
    return out


def documents(span: Span) -> list[dict[str, Any]]:
    """A retriever's documents as ``{"id", "content", "score", "metadata"}`` (absent keys left out)."""
    found = span.output
    out = []
    for doc in found if isinstance(found, list) else ():
        if isinstance(doc, dict):
            content = doc.get("content", doc.get("text"))
            item = {"id": doc.get("id"), "content": content, "score": doc.get("score"),
                    "metadata": doc.get("metadata")}  # fmt: skip
            out.append({key: value for key, value in item.items() if value is not None})
    return out


def text_of(message: Message) -> str | None:
    """The message's text parts joined; a tool result's response when that is all it holds."""
    texts = [part["content"] for part in message["parts"] if part["type"] == "text"]
    if texts:
        return "".join(texts)
    responses = [part["response"] for part in message["parts"] if part["type"] == "tool_call_response"]
    return "".join(as_text(response) for response in responses) if responses else None


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _calls(message: Message) -> list[Part]:
    return [part for part in message["parts"] if part["type"] == "tool_call"]


def _message(item: Any, default_role: str) -> Message | None:
    if isinstance(item, str):
        return {"role": default_role, "parts": [_text(item)]}
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "function_call":  # Responses API items that are not messages
        return {"role": "assistant", "parts": [_tool_call(item)]}
    if kind == "function_call_output":
        return {"role": "tool", "parts": [_response(item.get("call_id"), item.get("output"))]}
    role = str(item.get("role") or default_role)
    call_id = item.get("tool_call_id")
    if role == "tool" or call_id is not None:
        return {"role": "tool", "parts": [_response(call_id, item.get("content"))]}
    parts = _parts(item.get("content"))
    calls = item.get("tool_calls")
    if isinstance(calls, list):
        parts.extend(_tool_call(call) for call in calls if isinstance(call, dict))
    legacy = item.get("function_call")
    if isinstance(legacy, dict):
        parts.append(_tool_call(legacy))
    return {"role": role, "parts": parts}


def _parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)]
    if not isinstance(content, list):
        return [_text(as_text(content))]
    parts: list[Part] = []
    for block in content:
        part = _block(block)
        if part is not None:
            parts.append(part)
    return parts


def _block(block: Any) -> Part | None:
    if isinstance(block, str):
        return _text(block)
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind in _TEXT_BLOCKS and isinstance(block.get("text"), str):
        return _text(block["text"])
    if kind in ("tool_use", "server_tool_use", "function_call"):
        return _tool_call(block)
    if kind == "tool_result":
        return _response(block.get("tool_use_id"), block.get("content"))
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        return {"type": "reasoning", "content": block["thinking"]}
    return None  # images, files, redacted thinking: not text a viewer can show


def _text(text: str) -> Part:
    return {"type": "text", "content": text}


def _tool_call(call: dict[str, Any]) -> Part:
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
    arguments = function.get("arguments", call.get("input"))
    part = {"type": "tool_call", "id": call.get("id") or call.get("call_id"), "name": function.get("name")}
    if arguments is not None:
        part["arguments"] = arguments if isinstance(arguments, str) else as_text(arguments)
    return part


def _response(call_id: Any, response: Any) -> Part:
    if isinstance(response, list):  # Anthropic tool_result content blocks
        texts = [part["content"] for part in _parts(response) if part["type"] == "text"]
        response = "".join(texts) if texts else response
    return {"type": "tool_call_response", "id": call_id, "response": response}
