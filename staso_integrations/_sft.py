"""One stored llm span -> one OpenAI chat fine-tuning record, or the reason it has none.

The record is ``{"messages": [...], "tools": [...]}`` as the chat fine-tuning format defines it:
roles ``system``/``user``/``assistant``/``tool``; assistant ``tool_calls`` of ``type: "function"``
with string ``arguments``; ``tool`` messages answering a call by ``tool_call_id``; tools in the
function-tool form. Whatever shape the span keeps (OpenAI chat messages, Responses input items,
Anthropic system + messages and content blocks, LangChain and LlamaIndex message dicts) is
converted; thinking and reasoning are dropped (the format has no place for them). The messages
sent keep ``weight: 0`` on their assistant turns: a record trains on the answer of its own call.
A span whose content has no faithful form (server-side tools, files, audio, history kept by the
provider) is skipped with its reason rather than guessed at.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

# The notes ``_core/serialize.py`` leaves where it cut or replaced content at capture.
_CUT_NOTE = re.compile(
    r"… <\d+ more chars>\Z"
    r"|\A…? ?\d+ more items\Z"
    r"|\A<[\w.]+: (?:nested too deep|not serializable)>\Z"
    r"|\A<(?:[\w/+.-]+ )?base64: ~\d+ bytes>\Z"
    r"|\A<(?:bytes|bytearray|memoryview): \d+ bytes>\Z"
)
_ROLES = {
    "user": "user", "human": "user",
    "assistant": "assistant", "ai": "assistant", "model": "assistant", "chatbot": "assistant",
    "system": "system", "developer": "system",
    "tool": "tool", "function": "function",
}  # fmt: skip
_NAME = re.compile(r"\A[a-zA-Z0-9_-]{1,64}\Z")  # function and participant names the API takes
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_DROPPED_PARTS = frozenset({"thinking", "redacted_thinking", "reasoning"})


class Unconvertible(Exception):
    """The span's content has no faithful chat fine-tuning form; the message says why."""


def was_cut(value: Any) -> bool:
    """Whether capture cut or replaced anything in ``value`` (a size cap, a depth cap, a payload)."""
    if isinstance(value, str):
        return bool(_CUT_NOTE.search(value))
    if isinstance(value, dict):
        return "…" in value or any(was_cut(item) for item in value.values())
    if isinstance(value, list):
        return any(was_cut(item) for item in value)
    return False


def convert(span: dict[str, Any]) -> dict[str, Any]:
    """``{"messages": ..., "tools": ...}`` of one llm span.

    Raises:
        Unconvertible: no faithful record exists; the reason names what is missing or foreign.
    """
    history = _Conversation()
    history.add_input(span.get("input"))
    for message in history.messages:
        if message["role"] == "assistant":
            message["weight"] = 0
    history.add_output(span.get("output"), span.get("tool_calls"))
    record: dict[str, Any] = {"messages": history.messages}
    metadata = span.get("metadata") or {}
    tools = metadata.get("tools") or []  # legacy ``functions=`` definitions are stored here too
    if tools:
        record["tools"] = [_tool(tool) for tool in tools]
        defined = {tool["function"]["name"] for tool in record["tools"]}
        if not set(history.calls.values()) <= defined:
            raise Unconvertible("a tool call to a tool the request did not define")
    parallel = (metadata.get("params") or {}).get("parallel_tool_calls")
    if isinstance(parallel, bool):
        record["parallel_tool_calls"] = parallel
    return record


class _Conversation:
    """Messages in the chat fine-tuning shape, built item by item from any provider's form."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.calls: dict[str, str] = {}  # tool call id -> name, of calls made so far
        self.unanswered: list[str] = []  # ids of legacy function calls (answered in order)
        self.answered: set[str] = set()

    def add_input(self, given: Any) -> None:
        if isinstance(given, str):  # a completion prompt
            self.messages.append({"role": "user", "content": given})
        elif isinstance(given, dict) and isinstance(given.get("messages"), list):  # Anthropic
            if given.get("system"):
                self.messages.append({"role": "system", "content": _text_only(given["system"], "system")})
            self._add_items(given["messages"])
        elif isinstance(given, list):
            self._add_items(given)
        else:
            raise Unconvertible("no captured input messages")

    def add_output(self, output: Any, tool_calls: list[dict[str, Any]] | None) -> None:
        if isinstance(output, list):
            raise Unconvertible("several choices (n > 1) in one call")
        if (
            self.messages
            and self.messages[-1]["role"] == "assistant"
            and not self.messages[-1].get("tool_calls")
        ):
            raise Unconvertible("the request ends on an assistant turn the answer continues (a prefill)")
        if set(self.calls) - self.answered:
            raise Unconvertible("a tool call the request leaves unanswered")
        before = len(self.messages)
        if isinstance(output, dict):
            self._add_message({**output, "role": "assistant"}, final=True)
        elif isinstance(output, str):
            self.messages.append({"role": "assistant", "content": output})
        if len(self.messages) == before:  # no text: the answer is its tool calls
            self.messages.append({"role": "assistant", "content": None})
        answer = self.messages[-1]
        if answer["role"] != "assistant":
            raise Unconvertible("the output is not an assistant message")
        if tool_calls and not answer.get("tool_calls"):
            answer["tool_calls"] = [self._call(call) for call in tool_calls]
            answer["content"] = answer["content"] or None
        if not answer.get("tool_calls") and not answer.get("content") and not answer.get("refusal"):
            raise Unconvertible("no output captured")

    def _add_items(self, items: list[Any]) -> None:
        for item in items:
            if not isinstance(item, dict):
                raise Unconvertible(f"an input item of type {type(item).__name__}")
            kind = item.get("type")
            if kind in (None, "message"):
                self._add_message(item)
            elif kind == "function_call":  # Responses items
                self._assistant_turn()["tool_calls"].append(
                    self._call(
                        {
                            "id": item.get("call_id"),
                            "name": item.get("name"),
                            "arguments": item.get("arguments"),
                        }
                    )
                )
            elif kind == "function_call_output":
                self._tool_result(item.get("call_id"), item.get("output"))
            elif kind != "reasoning":
                raise Unconvertible(f"input item {kind!r}")

    def _add_message(self, message: dict[str, Any], final: bool = False) -> None:
        role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise Unconvertible(f"role {message.get('role')!r}")
        if role in ("tool", "function"):
            call_id = message.get("tool_call_id") if role == "tool" else self._legacy_answered()
            self._tool_result(call_id, message.get("content"))
            return
        content, calls, results = _content(message.get("content"), role)
        for call_id, result in results:  # Anthropic tool_result blocks, in a user message
            self._tool_result(call_id, result)
        out: dict[str, Any] = {"role": role, "content": content}
        if role == "assistant":
            raw_calls = message.get("tool_calls") or calls
            legacy = message.get("function_call")
            if legacy and not raw_calls:
                raw_calls = [{"id": self._legacy_id(), **legacy}]
            if raw_calls:
                out["tool_calls"] = [self._call(call) for call in raw_calls]
                out["content"] = content or None
            if message.get("refusal"):
                out["refusal"] = message["refusal"]
        elif isinstance(message.get("name"), str) and _NAME.match(message["name"]):
            out["name"] = message["name"]  # optional; a name the API would refuse is left out
        if out["content"] is None and not out.get("tool_calls") and not out.get("refusal") and not final:
            if results:
                return  # a user message that only carried tool results
            raise Unconvertible(f"an empty {role} message")
        self.messages.append(out)

    def _assistant_turn(self) -> dict[str, Any]:
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant":
            last = {"role": "assistant", "content": None}
            self.messages.append(last)
        last.setdefault("tool_calls", [])
        return last

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        """A tool call in any stored form (flat, OpenAI nested, Anthropic block) -> the chat form."""
        if call.get("type") not in (None, "function", "tool_use"):
            raise Unconvertible(f"tool call of type {call.get('type')!r}")
        nested = call.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else call
        name = function.get("name")
        arguments = function.get("arguments", function.get("input"))
        call_id = call.get("id") or self._legacy_id()
        if not isinstance(name, str) or not _NAME.match(name):
            raise Unconvertible(f"tool call name {name!r} is not a function name")
        if arguments is None:
            raise Unconvertible("a tool call without captured arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        elif not _is_json(arguments):
            raise Unconvertible(f"the arguments of {name!r} are not JSON")
        self.calls[call_id] = name
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}

    def _legacy_id(self) -> str:
        """Legacy function calls have no id: number them, so their results pair in order."""
        call_id = f"call_{len(self.calls)}"
        self.unanswered.append(call_id)
        return call_id

    def _legacy_answered(self) -> str | None:
        return self.unanswered.pop(0) if self.unanswered else None

    def _tool_result(self, call_id: Any, result: Any) -> None:
        if call_id not in self.calls:
            raise Unconvertible("a tool result whose call is not in the captured messages")
        self.answered.add(call_id)
        self.messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": _text_only(result, "tool") or ""}
        )


def _content(content: Any, role: str) -> tuple[Any, list[dict[str, Any]], list[tuple[Any, Any]]]:
    """``(content, tool calls, tool results)`` of a message's content, string or parts/blocks."""
    if content is None or isinstance(content, str):
        return content, [], []
    if not isinstance(content, list):
        raise Unconvertible(f"message content of type {type(content).__name__}")
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[tuple[Any, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in _TEXT_PARTS:
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif kind in ("image_url", "input_image", "image") and role == "user":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block)}})
        elif kind == "tool_use" and role == "assistant":
            calls.append(block)
        elif kind == "tool_result" and role == "user":
            results.append((block.get("tool_use_id"), block.get("content")))
        elif kind == "refusal" and role == "assistant":
            parts.append({"type": "refusal", "refusal": block.get("refusal") or ""})
        elif kind not in _DROPPED_PARTS:
            raise Unconvertible(f"{kind!r} content in {role} messages")
    if not parts:
        return None, calls, results
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"], calls, results
    return parts, calls, results


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _image_url(block: dict[str, Any]) -> str:
    url = block.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    source = block.get("source")
    if url is None and isinstance(source, dict) and source.get("type") == "url":
        url = source.get("url")
    if not isinstance(url, str):
        raise Unconvertible("an image without a URL")
    return url


def _text_only(content: Any, role: str) -> str | None:
    """Content as one string: system prompts and tool results take text only."""
    if content is None or isinstance(content, str):
        return content
    text, _, _ = _content(content, role)
    if isinstance(text, list):
        return "\n".join(part["text"] for part in text)
    if text is None and content:
        raise Unconvertible(f"non-text {role} content")
    return cast("str | None", text)


def _tool(tool: Any) -> dict[str, Any]:
    """A tool definition (OpenAI chat, Responses, Anthropic or legacy function) -> the function-tool form."""
    if not isinstance(tool, dict):
        raise Unconvertible(f"a tool definition of type {type(tool).__name__}")
    kind = tool.get("type")
    if kind == "function" and isinstance(tool.get("function"), dict):
        tool = tool["function"]
    elif kind not in ("function", "custom", None) or (kind == "custom" and "input_schema" not in tool):
        raise Unconvertible(f"tool {kind!r} has no function form")
    if not isinstance(tool.get("name"), str) or not _NAME.match(tool["name"]):
        raise Unconvertible(f"tool name {tool.get('name')!r} is not a function name")
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    parameters = tool.get("parameters", tool.get("input_schema"))
    if parameters is not None:
        function["parameters"] = parameters
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}
