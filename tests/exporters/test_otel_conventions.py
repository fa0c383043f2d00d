"""Content in the OTLP conventions consumers read: OpenTelemetry GenAI and OpenInference.

Spans go through the real pipeline (capture-off, the redact hook and the secret scan run in
``Processor._enrich``) into the memory exporter; we map them as the ``otlp`` exporter does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.exporters._otel_attributes import span_attributes

OPENAI_TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Find an order.",
                 "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}}]  # fmt: skip
OPENAI_INPUT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Where is order 7?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"order": 7}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
]  # fmt: skip
ANTHROPIC_INPUT = {
    "system": "Answer in French.",
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ],
}  # fmt: skip
DOCS = [{"id": "d1", "content": "Lyon office.", "score": 0.9, "metadata": {"source": "a.md"}}]
SECRET_WORDS = (
    "terse",
    "order 7",
    "shipped",
    "French",
    "Paris",
    "sunny",
    "Lyon",
    "Find an order",
    "refunded",
)


def _trace(memory: InMemoryExporter, **init: Any) -> dict[str, Span]:
    st.init(exporter=memory, processor="simple", **init)
    with st.conversation("conv-1", user_id="u-1", session_id="s-1"), st.span("agent", kind="agent"):
        with st.span("chat", kind="llm") as chat:
            chat.provider, chat.operation, chat.request_model = "openai", "chat", "gpt-4o-mini"
            chat.input, chat.output = OPENAI_INPUT, {"role": "assistant", "content": "Order 7 shipped."}
            chat.metadata["tools"] = OPENAI_TOOLS
            chat.usage, chat.finish_reason = Usage(input=20, output=5, total=25, cache_read=8), "stop"
        with st.span("messages", kind="llm") as claude:
            claude.provider, claude.operation = "anthropic", "messages"
            claude.input = ANTHROPIC_INPUT
            claude.output = {"role": "assistant", "content": [{"type": "text", "text": "Il fait beau."}]}
            claude.tool_calls = [{"id": "toolu_2", "name": "weather", "arguments": {"city": "Nice"}}]
        with st.span("lookup", kind="tool", input={"order": 7}) as tool:
            tool.output = {"status": "refunded"}
        with st.span("search", kind="retriever", input="Lyon office?") as retriever:
            retriever.output = DOCS
        with st.span("embed", kind="embedding", input=["Lyon office?"]):
            pass
    return {span.name: span for span in memory.spans}


def test_genai_messages_instructions_tools_and_tool_call_content(exporter: InMemoryExporter) -> None:
    spans = _trace(exporter)
    chat = span_attributes(spans["chat"], "genai")
    assert json.loads(chat["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is order 7?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"order": 7}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "shipped"}]},
    ]  # fmt: skip
    assert json.loads(chat["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Order 7 shipped."}],
            "finish_reason": "stop",
        }
    ]
    (tool,) = json.loads(chat["gen_ai.tool.definitions"])
    assert tool == {"type": "function", "name": "lookup", "description": "Find an order.",
                    "parameters": OPENAI_TOOLS[0]["function"]["parameters"]}  # fmt: skip

    claude = span_attributes(spans["messages"], "genai")
    assert json.loads(claude["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Answer in French."}
    ]
    messages = json.loads(claude["gen_ai.input.messages"])
    assert messages[1]["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_1",
        "name": "weather",
        "arguments": {"city": "Paris"},
    }
    assert messages[2]["parts"] == [{"type": "tool_call_response", "id": "toolu_1", "response": "sunny"}]
    (answer,) = json.loads(claude["gen_ai.output.messages"])
    assert answer["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_2",
        "name": "weather",
        "arguments": {"city": "Nice"},
    }

    tool_span = span_attributes(spans["lookup"], "genai")
    assert json.loads(tool_span["gen_ai.tool.call.arguments"]) == {"order": 7}
    assert json.loads(tool_span["gen_ai.tool.call.result"]) == {"status": "refunded"}
    assert (chat["user.id"], chat["session.id"], chat["gen_ai.conversation.id"]) == ("u-1", "s-1", "conv-1")
    assert not any(key.startswith(("llm.", "input.", "openinference.")) for key in chat)


def test_openinference_kinds_values_messages_tokens_documents(exporter: InMemoryExporter) -> None:
    spans = _trace(exporter)
    attrs = {name: span_attributes(span, "openinference") for name, span in spans.items()}
    kinds = {name: a["openinference.span.kind"] for name, a in attrs.items()}
    assert kinds == {"agent": "AGENT", "chat": "LLM", "messages": "LLM", "lookup": "TOOL",
                     "search": "RETRIEVER", "embed": "EMBEDDING"}  # fmt: skip
    chat = attrs["chat"]
    assert not any(key.startswith("gen_ai.") for key in chat)
    assert chat["llm.input_messages.0.message.role"] == "system"
    assert chat["llm.input_messages.2.message.tool_calls.0.tool_call.function.name"] == "lookup"
    assert chat["llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments"] == '{"order": 7}'
    assert chat["llm.input_messages.3.message.tool_call_id"] == "call_1"
    assert chat["llm.input_messages.3.message.content"] == "shipped"
    assert chat["llm.output_messages.0.message.content"] == "Order 7 shipped."
    assert (
        chat["llm.token_count.prompt"],
        chat["llm.token_count.completion"],
        chat["llm.token_count.total"],
    ) == (20, 5, 25)
    assert chat["llm.token_count.prompt_details.cache_read"] == 8
    assert (chat["llm.model_name"], chat["llm.provider"], chat["llm.system"]) == (
        "gpt-4o-mini",
        "openai",
        "openai",
    )
    assert json.loads(chat["llm.tools.0.tool.json_schema"])["name"] == "lookup"
    assert json.loads(chat["input.value"]) == OPENAI_INPUT and chat["input.mime_type"] == "application/json"
    claude = attrs["messages"]
    assert claude["llm.input_messages.0.message.role"] == "system"  # Anthropic's system prompt first
    assert claude["llm.input_messages.0.message.content"] == "Answer in French."
    assert claude["llm.output_messages.0.message.tool_calls.0.tool_call.id"] == "toolu_2"
    search = attrs["search"]
    assert (search["input.value"], search["input.mime_type"]) == ("Lyon office?", "text/plain")
    assert search["retrieval.documents.0.document.id"] == "d1"
    assert search["retrieval.documents.0.document.content"] == "Lyon office."
    assert search["retrieval.documents.0.document.score"] == 0.9
    assert json.loads(search["retrieval.documents.0.document.metadata"]) == {"source": "a.md"}
    assert attrs["embed"]["embedding.embeddings.0.embedding.text"] == "Lyon office?"
    assert attrs["lookup"]["tool.name"] == "lookup"
    assert (chat["user.id"], chat["session.id"]) == ("u-1", "s-1")


def test_both_is_the_default_and_the_setting_reaches_the_exporter(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="extra 'otlp' not installed")
    from staso_integrations.exporters.otlp import OtlpExporter

    spans = _trace(exporter)
    both = span_attributes(spans["chat"])
    assert "gen_ai.input.messages" in both and "llm.input_messages.0.message.role" in both
    monkeypatch.setenv("STASO_OTLP_CONVENTIONS", "openinference")
    config = st.init(exporter="memory", processor="simple")
    assert config.otlp_conventions == "openinference"
    attrs = dict(OtlpExporter(config).to_readable(spans["chat"]).attributes or {})
    assert "llm.input_messages.0.message.role" in attrs and "gen_ai.input.messages" not in attrs


@pytest.mark.parametrize("conventions", ["genai", "openinference", "both"])
def test_capture_off_emits_no_content_in_any_convention(exporter: InMemoryExporter, conventions: str) -> None:
    spans = _trace(exporter, capture_content=False)
    for span in spans.values():
        attrs = span_attributes(span, conventions)
        text = json.dumps(attrs)
        assert not [word for word in SECRET_WORDS if word in text], (span.name, attrs)
        content = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                   "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "input.value", "output.value")  # fmt: skip
        assert not [key for key in attrs if key in content or ".message." in key or ".document." in key]
        assert attrs["user.id"] == "u-1"  # ids are not content
    chat = span_attributes(spans["chat"], conventions)
    if conventions != "openinference":  # names stay, as capture-off keeps them
        assert json.loads(chat["gen_ai.tool.definitions"]) == [{"type": "function", "name": "lookup"}]


def test_the_redact_hook_decides_what_every_convention_carries(exporter: InMemoryExporter) -> None:
    def redact(span: dict[str, Any]) -> dict[str, Any]:
        if span["kind"] == "llm":
            span["input"] = [{"role": "user", "content": "[hidden]"}]
            span["output"] = {"role": "assistant", "content": "[hidden]"}
            span["metadata"] = {}
            span["tool_calls"] = None
        elif span["input"] is not None or span["output"] is not None:
            span["input"] = span["output"] = "[hidden]"
        return span

    spans = _trace(exporter, redact=redact)
    for span in spans.values():
        text = json.dumps(span_attributes(span, "both"))
        assert not [word for word in SECRET_WORDS if word in text], (span.name, text)
    chat = span_attributes(spans["chat"], "both")
    assert chat["llm.input_messages.0.message.content"] == "[hidden]"
    assert json.loads(chat["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "[hidden]"}]


ODD_SHAPES = [
    (None, None, None),
    ({"messages": None, "system": 5}, [None, 3, {"role": None}], 7),
    (
        [{"role": "user", "content": {"a": 1}, "tool_calls": "x"}],
        {"content": [{"type": "tool_use"}, 4]},
        ["x", None],
    ),
    ("just text", "answer", [{"id": None, "function": "not a dict"}]),
    ([{"type": "function_call_output", "output": [{"type": "text"}]}], [[1, 2]], {"not": "a list"}),
]


@pytest.mark.parametrize(("given", "produced", "calls"), ODD_SHAPES)
def test_odd_shapes_from_sdks_or_a_redact_hook_map_without_raising(
    exporter: InMemoryExporter, given: Any, produced: Any, calls: Any
) -> None:
    st.init(exporter=exporter, processor="simple")
    for kind in ("llm", "tool", "retriever", "embedding", "chain"):
        with st.span(kind, kind=kind) as span:
            span.input, span.output = given, produced
    for span in exporter.spans:
        span.tool_calls = calls
        span.metadata["tools"] = calls
        attrs = span_attributes(span, "both")
        assert attrs["openinference.span.kind"] in ("LLM", "TOOL", "RETRIEVER", "EMBEDDING", "CHAIN")
        assert all(value is not None for value in attrs.values())
