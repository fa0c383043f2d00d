"""Datasets from the local store: LLM calls as fine-tuning records, or whole traces.

``sft``: one record per LLM call at full fidelity, the messages sent plus the assistant
message received, with the tool definitions, in OpenAI's chat fine-tuning format
(``{"messages": [...], "tools": [...]}``, see ``_sft.py``); with ``provenance`` the call's
trace, model, usage and cost under ``metadata`` (a key the trainer does not take: for your
own filtering). Failed calls, cut calls (at capture, by a stream closed early or by the
token limit) and calls with no faithful record are left out, each counted by reason.
``jsonl``: one record per trace, its summary and all its spans.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from ._core.sanitize import safe_value
from ._sft import Unconvertible, convert, was_cut
from .store import TraceFilter, TraceStore

FORMATS = ("sft", "jsonl")
_TOKEN_LIMIT = ("length", "max_tokens", "max_output_tokens")  # OpenAI chat, Anthropic, Responses
_PROVENANCE = (
    "trace_id", "span_id", "provider", "response_model", "agent_name", "conversation_id", "session_id",
    "turn_index", "environment", "source_type", "usage", "cost_usd", "finish_reason", "start_ns",
)  # fmt: skip


def _cut(span: dict[str, Any]) -> str | None:
    """How the call's content is incomplete, if it is."""
    if any(was_cut(span.get(field)) for field in ("input", "output", "tool_calls")):
        return "content cut at capture"
    if (span.get("metadata") or {}).get("stream_closed_early"):
        return "stream closed before the answer ended"
    if span.get("finish_reason") in _TOKEN_LIMIT:
        return "answer cut at the token limit"
    return None


def sft_record(
    span: dict[str, Any], *, include_truncated: bool = False, provenance: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for one stored llm span, or ``(None, why it has no record)``."""
    cut = _cut(span)
    if cut and not include_truncated:
        return None, f"{cut} (--include-truncated keeps it)"
    try:
        record = convert(span)
    except Unconvertible as reason:
        return None, str(reason)
    if provenance:
        record["metadata"] = {key: span.get(key) for key in _PROVENANCE}
        record["metadata"]["model"] = span.get("response_model") or span.get("request_model")
        record["metadata"]["content_truncated"] = cut is not None
    return record, None


def sft_records(
    store: TraceStore,
    where: TraceFilter,
    include_errors: bool = False,
    *,
    include_truncated: bool = False,
    provenance: bool = False,
    skipped: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Fine-tuning records of the stored llm spans; why the others have none is counted in ``skipped``."""
    for span in store.llm_spans(where):
        if span["status"] == "error" and not include_errors:
            reason: str | None = "the call failed (--include-errors keeps it)"
            record = None
        else:
            record, reason = sft_record(span, include_truncated=include_truncated, provenance=provenance)
        if record is not None:
            yield record
        elif skipped is not None:
            skipped[reason or ""] += 1


def trace_records(store: TraceStore, where: TraceFilter) -> Iterator[dict[str, Any]]:
    for trace in reversed(store.list_traces(where)):
        _, spans = store.get_trace(trace["trace_id"])
        yield {"trace": trace, "spans": spans}


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """One strict JSON line per record (a store from an older version may hold NaN: made safe)."""
    count = 0
    for record in records:
        try:
            line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError):
            line = json.dumps(safe_value(record), ensure_ascii=False)
        out.write(line + "\n")
        count += 1
    return count
