"""Plain-text trace trees, shared by the console exporter and ``traces show``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def format_tokens(usage: Mapping[str, Any] | None) -> str:
    if not usage or (usage.get("input") is None and usage.get("output") is None):
        return ""
    text = f"{usage.get('input') or 0}→{usage.get('output') or 0} tok"
    if usage.get("cache_read"):
        text += f" (cache {usage['cache_read']})"
    return text


def format_cost(cost: float | None) -> str:
    return "" if cost is None else f"${cost:.6f}"


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "open"
    return f"{ms:.0f}ms" if ms >= 10 else f"{ms:.1f}ms"


def render_trace(trace: Mapping[str, Any], spans: Sequence[Mapping[str, Any]]) -> str:
    """The trace header and one indented line per span: kind, name, latency, tokens, cost."""
    header = (
        f"trace {trace['trace_id']}  {trace.get('name') or ''}  "
        f"agent={trace.get('agent_name') or '-'}  {trace.get('status', 'ok')}  "
        f"{format_ms(trace.get('duration_ms'))}  {trace.get('span_count', len(spans))} spans  "
        f"{format_tokens(trace.get('usage'))}  {format_cost(trace.get('cost_usd'))}"
    )
    extra = [
        f"{key}={trace[key]}"
        for key in ("conversation_id", "user_id", "session_id", "turn_index")
        if trace.get(key) is not None
    ]
    lines = [header.rstrip() + ("\n  " + "  ".join(extra) if extra else "")]
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(span)

    def walk(parent: str | None, prefix: str) -> None:
        siblings = children.get(parent, [])
        for index, span in enumerate(siblings):
            last = index == len(siblings) - 1
            lines.append(prefix + ("└─ " if last else "├─ ") + _span_line(span))
            walk(span["span_id"], prefix + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines)


def _span_line(span: Mapping[str, Any]) -> str:
    parts = [f"[{span['kind']}]", span["name"]]
    model = span.get("response_model") or span.get("request_model")
    if model:
        parts.append(f"({model})")
    parts.append(format_ms(span.get("duration_ms")))
    parts.append(format_tokens(span.get("usage")))
    parts.append(format_cost(span.get("cost_usd")))
    if span.get("ttft_ms") is not None:
        parts.append(f"ttft {format_ms(span['ttft_ms'])}")
    parts.extend(
        f"guard[{decision.get('mode')}]: {decision.get('decision')} ({decision.get('reason')})"
        for decision in (span.get("metadata") or {}).get("guard", [])
    )
    if span.get("status") == "error":
        error = span.get("error") or {}
        parts.append(f"ERROR {error.get('type', '')}: {str(error.get('message', ''))[:120]}")
    return " ".join(part for part in parts if part)
