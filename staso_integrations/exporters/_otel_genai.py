"""Content in the OpenTelemetry GenAI semantic conventions: messages, system instructions,
tool definitions, and a tool span's arguments and result (each a JSON string).

Only from what ``Processor._enrich`` left on the span: with capture off, input and output are
gone and tool definitions are names, so no message, argument or result is emitted.
"""

from __future__ import annotations

import json
from typing import Any

from .._core.span import Span
from ._otel_messages import Message, as_text, input_messages, output_messages, tool_definitions

GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"


def genai_content(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if span.kind == "llm":
        messages, system = input_messages(span)
        if messages:
            out[GEN_AI_INPUT_MESSAGES] = _encoded(messages)
        if system:
            out[GEN_AI_SYSTEM_INSTRUCTIONS] = as_text(system)
        answers = output_messages(span)
        if answers:
            out[GEN_AI_OUTPUT_MESSAGES] = _encoded(answers)
        tools = tool_definitions(span)
        if tools:
            out[GEN_AI_TOOL_DEFINITIONS] = as_text(tools)
    elif span.kind == "tool":
        if span.input is not None:
            out[GEN_AI_TOOL_CALL_ARGUMENTS] = as_text(span.input)
        if span.output is not None:
            out[GEN_AI_TOOL_CALL_RESULT] = as_text(span.output)
    return out


def _encoded(messages: list[Message]) -> str:
    """JSON of ``messages`` with tool call arguments as objects, as the conventions show them
    (OpenInference keeps the JSON string the model produced).
    """
    for message in messages:
        for part in message["parts"]:
            if part["type"] == "tool_call" and isinstance(part.get("arguments"), str):
                try:
                    part["arguments"] = json.loads(part["arguments"])
                except ValueError:
                    pass  # not JSON (a truncated stream): kept as the model wrote it
    return as_text(messages)
