"""The rules of OpenAI's chat fine-tuning format (supervised method), as a checker.

Written from the fine-tuning guide and the API reference of the training-file line
(``FineTuneChatRequestInput``): a line has ``messages`` and optionally ``tools``
(function tools), ``parallel_tool_calls`` and the legacy ``functions``; each message has a
known role and only the keys of that role; assistant tool calls have an ``id``,
``type: "function"`` and a ``function`` with a ``name`` and ``arguments`` as a JSON string;
a ``tool`` message answers an earlier call by ``tool_call_id`` and its content is a string;
``weight`` (0 or 1) is only on assistant messages; an example needs at least one assistant
message that is trained on; as in a chat request, the tool calls of an earlier turn are answered
before the conversation goes on. Our records also end on the assistant answer of their call.
"""

from __future__ import annotations

import json
import re
from typing import Any

RECORD_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "function_call", "refusal", "weight"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
PART_TYPES = {"system": {"text"}, "user": {"text", "image_url"}, "assistant": {"text", "refusal"}}
FUNCTION_NAME = re.compile(r"\A[a-zA-Z0-9_-]{1,64}\Z")


def problems(record: Any) -> list[str]:
    """Every rule ``record`` breaks, as readable lines; empty when a trainer accepts it."""
    if not isinstance(record, dict):
        return [f"a line must be an object, not {type(record).__name__}"]
    found = [f"unknown key {key!r}" for key in record if key not in RECORD_KEYS]
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*found, "'messages' must be a non-empty list"]
    tool_names = _tools(record.get("tools"), found)
    if "parallel_tool_calls" in record and not isinstance(record["parallel_tool_calls"], bool):
        found.append("'parallel_tool_calls' must be a boolean")
    calls: set[str] = set()
    answered: set[str] = set()
    for index, message in enumerate(messages):
        where = f"message {index}"
        if not isinstance(message, dict):
            found.append(f"{where}: not an object")
            continue
        role = message.get("role")
        if role not in MESSAGE_KEYS:
            found.append(f"{where}: unknown role {role!r}")
            continue
        found += [
            f"{where}: key {key!r} not allowed on {role}" for key in message if key not in MESSAGE_KEYS[role]
        ]
        if "name" in message and not (
            isinstance(message["name"], str) and FUNCTION_NAME.match(message["name"])
        ):
            found.append(f"{where}: name {message['name']!r} must match {FUNCTION_NAME.pattern}")
        if role == "assistant":
            _assistant(message, where, tool_names, calls, found)
        elif role == "tool":
            if message.get("tool_call_id") not in calls:
                found.append(f"{where}: tool_call_id {message.get('tool_call_id')!r} answers no earlier call")
            answered.add(message.get("tool_call_id"))
            if not isinstance(message.get("content"), str):
                found.append(f"{where}: tool content must be a string")
        else:
            _content(message.get("content"), role, where, found, required=True)
    trained = [
        m for m in messages if isinstance(m, dict) and m.get("role") == "assistant" and m.get("weight", 1)
    ]
    if not trained:
        found.append("no assistant message to train on")
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") != "assistant":
        found.append("the last message must be the assistant answer")
    final_calls = {call.get("id") for call in last.get("tool_calls") or () if isinstance(call, dict)}
    found += [
        f"tool call {call_id!r} is never answered" for call_id in sorted(calls - answered - final_calls)
    ]
    return found


def _tools(tools: Any, found: list[str]) -> set[str] | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not tools:
        found.append("'tools' must be a non-empty list")
        return None
    names = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            found.append(f"tool {index}: must be {{'type': 'function', 'function': {{...}}}}")
            continue
        name = function.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            found.append(f"tool {index}: name {name!r} must match {FUNCTION_NAME.pattern}")
        names.add(name)
        found += [
            f"tool {index}: unknown key {key!r}"
            for key in function
            if key not in {"name", "description", "parameters", "strict"}
        ]
        parameters = function.get("parameters")
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type") != "object"
        ):
            found.append(f"tool {index}: parameters must be a JSON schema object")
    return names


def _assistant(
    message: dict[str, Any], where: str, tool_names: set[str] | None, calls: set[str], found: list[str]
) -> None:
    if message.get("weight", 1) not in (0, 1) or isinstance(message.get("weight"), bool):
        found.append(f"{where}: weight must be 0 or 1")
    tool_calls = message.get("tool_calls")
    if tool_calls is None:
        if not message.get("function_call") and not message.get("refusal"):
            _content(message.get("content"), "assistant", where, found, required=True)
        return
    if not isinstance(tool_calls, list) or not tool_calls:
        found.append(f"{where}: tool_calls must be a non-empty list")
        return
    _content(message.get("content"), "assistant", where, found, required=False)
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(function, dict)
            or call.get("type") != "function"
            or not isinstance(call.get("id"), str)
        ):
            found.append(f"{where}: a tool call needs an id, type 'function' and a function")
            continue
        if call["id"] in calls:
            found.append(f"{where}: tool call id {call['id']!r} used twice")
        calls.add(call["id"])
        name = function.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            found.append(f"{where}: tool call name {name!r} is not a function name")
        elif tool_names is not None and name not in tool_names:
            found.append(f"{where}: tool call {name!r} is not among the record's tools")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            found.append(f"{where}: arguments of {name!r} must be a string")
            continue
        try:
            json.loads(arguments)
        except ValueError:
            found.append(f"{where}: arguments of {name!r} are not JSON")


def _content(content: Any, role: str, where: str, found: list[str], *, required: bool) -> None:
    if content is None:
        if required:
            found.append(f"{where}: {role} message without content")
        return
    if isinstance(content, str):
        if required and not content:
            found.append(f"{where}: empty {role} content")
        return
    if not isinstance(content, list) or not content:
        found.append(f"{where}: content must be a string or a non-empty list of parts")
        return
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in PART_TYPES[role]:
            found.append(f"{where}: a {kind!r} part is not allowed in {role} content")
        elif kind == "text" and not isinstance(part.get("text"), str):
            found.append(f"{where}: a text part without text")
        elif kind == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str):
            found.append(f"{where}: an image part without a url")


def assert_valid(records: list[dict[str, Any]]) -> None:
    """Fail with every broken rule of every record, numbered like the lines of the file."""
    broken = {line: found for line, record in enumerate(records, 1) if (found := problems(record))}
    assert not broken, "\n".join(
        f"line {line}: {'; '.join(found)}\n  {records[line - 1]}" for line, found in broken.items()
    )


def assert_exportable(spans: list[Any]) -> None:
    """Every finished llm span either has no record (for a reason) or one that passes the rules."""
    from staso_integrations.export import sft_record

    stored = [json.loads(json.dumps(span.to_dict(), default=str)) for span in spans if span.kind == "llm"]
    assert_valid([record for span in stored if span["status"] != "error" and (record := sft_record(span)[0])])
