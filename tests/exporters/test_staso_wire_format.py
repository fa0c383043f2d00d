"""Contract: each span of a Staso ingest batch speaks the public ``staso`` SDK's wire format.

Names, types and encodings were read from the SDK's transport (``staso`` 0.5.25 on the index):
strings ``""`` and token counts ``0`` when unknown, ``input``/``output``/``attributes`` as JSON
text, ``error_message``/``parent_span_id``/``usage_available`` nullable, ``agent_id`` the uuid5
of the agent name. Our own fields ride beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from staso_integrations._core.rollup import TraceAggregator
from staso_integrations._core.span import Resource, Span, TraceAttributes, Usage
from staso_integrations.exporters._staso_payload import build_payload

from .conftest import Server
from .test_staso_exporter import make_exporter

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
TRACE = "0af7651916cd43dd8448eb211c80319c"
# uuid5 of "support-bot" in the SDK's namespace, computed once and pinned here.
SUPPORT_BOT_ID = "db9640e0-b131-55a4-a5cd-0ded511b7f92"

# Every field the SDK sends per span, and its type on the wire (None: the SDK sends null).
SDK_FIELDS: dict[str, tuple[type, ...]] = {
    "span_id": (str,),
    "parent_span_id": (str, type(None)),
    "name": (str,),
    "kind": (str,),
    "timestamp": (str,),
    "duration_ms": (float,),
    "status": (str,),
    "model": (str,),
    "provider": (str,),
    "requested_model": (str,),
    "usage_available": (bool, type(None)),
    "input_tokens": (int,),
    "output_tokens": (int,),
    "total_tokens": (int,),
    "input": (str,),
    "output": (str,),
    "attributes": (str,),
    "error_message": (str, type(None)),
    "session_id": (str,),
    "agent_name": (str,),
    "agent_id": (str,),
    "user_id": (str,),
}
OUR_FIELDS = ("trace_id", "usage", "cost_usd", "ttft_ms", "turn_index", "source_type", "conversation_id",
              "tool_calls", "stream", "finish_reason", "error", "start_time", "end_time")  # fmt: skip


def _span(
    name: str, kind: str, parent: str | None, attrs: TraceAttributes, start_ms: int, end_ms: int
) -> Span:
    span = Span(name, kind, trace_id=TRACE, parent_span_id=parent, agent_name="support-bot", trace_attrs=attrs,
                turn_index=3, resource=Resource(environment="prod", source_type="test"), processor=None)  # fmt: skip
    span.start_ns, span.end_ns = T0 + start_ms * 1_000_000, T0 + end_ms * 1_000_000
    return span


def known_trace() -> tuple[Span, Span, Span]:
    attrs = TraceAttributes(conversation_id="conv-42", user_id="user-alice", session_id="sess-1")
    root = _span("run", "agent", None, attrs, 0, 2000)
    root.input, root.output = {"question": "weather?"}, "sunny"
    llm = _span("chat", "llm", root.span_id, attrs, 10, 1510)
    llm.provider, llm.request_model, llm.response_model = "openai", "gpt-4o", "gpt-4o-2024-08-06"
    llm.usage = Usage(input=10, output=5, cache_read=0, reasoning=2)
    llm.input = [{"role": "user", "content": "weather?"}]
    llm.metadata = {"temperature": 0.2}
    llm.cost_usd, llm.ttft_ms, llm.stream = 0.00012, 120.0, True
    llm.tool_calls = [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]
    tool = _span("get_weather", "tool", root.span_id, attrs, 1600, 1700)
    tool.record_error(ValueError("no such city"))
    return root, llm, tool


def spans_by_name(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for trace in payload["traces"] for span in trace["spans"]}


def test_every_sdk_field_is_present_with_the_sdk_type() -> None:
    payload = json.loads(json.dumps(build_payload(known_trace(), [])))
    for name, span in spans_by_name(payload).items():
        for field, types in SDK_FIELDS.items():
            assert field in span, f"{name}: no {field}"
            value = span[field]
            assert isinstance(value, types) and not (int in types and isinstance(value, bool)), (
                f"{name}.{field}={value!r} is not {types}"
            )
        assert set(OUR_FIELDS) <= set(span), f"{name}: our fields missing"


def test_values_of_a_known_llm_span_and_its_neighbours() -> None:
    root, llm_span, tool_span = known_trace()
    spans = spans_by_name(build_payload([root, llm_span, tool_span], []))
    llm, agent, tool = spans["chat"], spans["run"], spans["get_weather"]
    assert llm["span_id"] == llm_span.span_id and llm["parent_span_id"] == root.span_id
    assert llm["kind"] == "llm" and llm["status"] == "ok"
    assert llm["timestamp"] == "2026-01-01T00:00:00.010000Z" and llm["duration_ms"] == 1500.0
    assert (llm["model"], llm["requested_model"], llm["provider"]) == (
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "openai",
    )
    assert llm["usage_available"] is True
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (10, 5, 15)
    assert json.loads(llm["input"]) == [{"role": "user", "content": "weather?"}]
    assert llm["output"] == "" and json.loads(llm["attributes"]) == {"temperature": 0.2}
    assert llm["error_message"] is None
    assert (llm["session_id"], llm["user_id"]) == ("sess-1", "user-alice")
    assert (llm["agent_name"], llm["agent_id"]) == ("support-bot", SUPPORT_BOT_ID)
    # ours, alongside: cache reads of 0 stay 0, what nobody measured stays null
    assert llm["usage"]["cache_read"] == 0 and llm["usage"]["cache_write"] is None
    assert llm["usage"]["reasoning"] == 2 and llm["cost_usd"] == 0.00012 and llm["ttft_ms"] == 120.0
    assert (llm["turn_index"], llm["source_type"], llm["conversation_id"]) == (3, "test", "conv-42")
    assert llm["tool_calls"][0]["name"] == "get_weather" and llm["stream"] is True
    # a span without usage: null outside model calls; tokens 0 as the SDK sends them
    assert agent["usage_available"] is None and agent["input_tokens"] == 0
    assert agent["parent_span_id"] is None and json.loads(agent["output"]) == "sunny"
    assert agent["attributes"] == "{}"
    assert tool["status"] == "error" and tool["error_message"] == "no such city"
    assert tool["error"]["type"] == "ValueError"


def test_a_model_call_without_usage_says_so() -> None:
    attrs = TraceAttributes()
    llm = _span("chat", "llm", None, attrs, 0, 5)
    llm.agent_name = None
    (span,) = spans_by_name(build_payload([llm], [])).values()
    assert span["usage_available"] is False and span["total_tokens"] == 0
    assert (span["agent_name"], span["agent_id"], span["session_id"], span["user_id"]) == ("", "", "", "")


def test_trace_envelope_of_the_sdk(ingest_server: Server, tmp_path: Path) -> None:
    spans = known_trace()
    aggregator = TraceAggregator()
    summaries = [summary for span in spans if (summary := aggregator.add(span)) is not None]
    exporter = make_exporter(ingest_server.url, tmp_path / "spool")
    exporter.export(spans, summaries)
    assert exporter.flush(5.0)
    exporter.shutdown()
    (request,) = ingest_server.received
    (trace,) = request.payload["traces"]
    assert trace["trace_id"] == TRACE and trace["timestamp"] == "2026-01-01T00:00:00.000000Z"
    assert trace["environment"] == "prod" and trace["workspace_slug"] == ""  # the SDK's "" when unset
    assert trace["agent_name"] == "support-bot" and trace["user_id"] == "user-alice"
    assert len(trace["spans"]) == 3 and exporter.stats["spans_sent"] == 3
