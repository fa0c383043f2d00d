"""A hand-made trace with known timings and hostile content, written through the real rollup and
SQLite exporter: an agent whose prompt carries a script tag, an llm call with every usage bucket,
a retriever with scored documents and a tool blocked by the guard that fails."""

from __future__ import annotations

from typing import Any

from staso_integrations._core.rollup import TraceAggregator, TraceSummary
from staso_integrations._core.span import Resource, Span, TraceAttributes, Usage, new_trace_id
from staso_integrations.exporters.sqlite import SqliteExporter

MS = 1_000_000
SCRIPT = '<script>window.__stasoXss = 1</script><img src=x onerror="window.__stasoXss = 2">'
PROMPT = f"Summarize this page: {SCRIPT} <b>not bold</b>"
# (name, kind, parent index, start ms, end ms): durations 800, 100, 400, 200
LAYOUT = [
    ("<b>crafted</b> agent", "agent", None, 0, 800),
    ("kb_search", "retriever", 0, 10, 110),
    ("chat gpt-4o", "llm", 0, 120, 520),
    ("delete_file", "tool", 0, 530, 730),
]
ATTRS = TraceAttributes(
    conversation_id="conv-<i>x</i>", user_id="user-<u>mallory</u>", session_id="sess-crafted"
)
RESOURCE = Resource(environment="test", source_type="test")


def write_crafted_trace(db: str, start_ns: int, agent: str = "xss-bot") -> str:
    """Store the crafted trace starting at ``start_ns``; its trace id."""
    spans = crafted_spans(start_ns, agent)
    write_spans(db, spans, finished=True)
    return spans[0].trace_id


def write_spans(db: str, spans: list[Span], finished: bool) -> None:
    """Export ``spans`` as the pipeline does; with ``finished``, also the trace's roll-up."""
    aggregator = TraceAggregator()
    summaries: list[TraceSummary] = [s for span in spans if (s := aggregator.add(span)) is not None]
    SqliteExporter(db).export(spans, summaries[-1:] if finished else [])


def crafted_spans(start_ns: int, agent: str) -> list[Span]:
    """The crafted trace's spans, root first."""
    trace_id = new_trace_id()
    spans: list[Span] = []
    for name, kind, parent, start_ms, end_ms in LAYOUT:
        span = Span(
            name, kind, trace_id=trace_id,
            parent_span_id=spans[parent].span_id if parent is not None else None,
            agent_name=agent, trace_attrs=ATTRS, turn_index=0, resource=RESOURCE, processor=None,
        )  # fmt: skip
        span.start_ns, span.end_ns = start_ns + start_ms * MS, start_ns + end_ms * MS
        spans.append(span)
    root, retriever, llm, tool = spans
    root.input = {"messages": [{"role": "user", "content": PROMPT}]}
    root.output = "Done: the page is summarized."
    retriever.input = "company policy"
    retriever.output = [
        {"id": "doc-1", "content": "Refunds go back to the original payment method.", "score": 0.92},
        {
            "id": "doc-2",
            "content": f"A note with markup {SCRIPT}",
            "score": 0.41,
            "metadata": {"source": "wiki"},
        },
    ]
    _fill_llm(llm)
    tool.input = {"path": "/etc/passwd"}
    tool.status = "error"
    tool.error = {
        "type": "staso_integrations.guard.ToolBlocked",
        "message": "tool 'delete_file' blocked by guard",
    }
    tool.metadata = {"guard": [_blocked_decision()], "tool_call_id": "call_1"}
    return spans


def _fill_llm(llm: Span) -> None:
    llm.provider, llm.operation = "openai", "chat"
    llm.request_model, llm.response_model = "gpt-4o", "gpt-4o-2024-08-06"
    llm.usage = Usage(input=1200, output=300, cache_read=800, cache_write=100, reasoning=120)
    llm.cost_usd = 0.004321
    llm.ttft_ms = 123.0
    llm.finish_reason = "tool_calls"
    llm.input = [
        {"role": "system", "content": "You are careful."},
        {"role": "user", "content": PROMPT},
    ]
    llm.output = {
        "role": "assistant",
        "content": "I will delete the file.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "delete_file", "arguments": '{"path": "/etc/passwd"}'},
            }
        ],
    }
    llm.tool_calls = [{"id": "call_1", "name": "delete_file", "arguments": '{"path": "/etc/passwd"}'}]


def _blocked_decision() -> dict[str, Any]:
    return {
        "tool": "delete_file",
        "mode": "enforce",
        "decision": "blocked",
        "reason": "no_system_paths: system path",
        "verdicts": [
            {
                "rule": "no_system_paths",
                "passed": False,
                "score": None,
                "reason": "system path",
                "error": None,
                "duration_ms": 0.2,
            }
        ],
    }
