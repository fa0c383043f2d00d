"""Assertions over exported spans as trees."""

from __future__ import annotations

from typing import Any

from staso_integrations._core.span import Span


def tree(spans: list[Span], trace_id: str | None = None) -> list[Any]:
    """The trace as nested ``(kind, name, [children])`` tuples, children in start order."""
    if trace_id is None:
        trace_ids = {span.trace_id for span in spans}
        assert len(trace_ids) == 1, f"{len(trace_ids)} traces"
        trace_id = trace_ids.pop()
    mine = sorted((s for s in spans if s.trace_id == trace_id), key=lambda s: s.start_ns)
    ids = {s.span_id for s in mine}
    assert all(s.parent_span_id is None or s.parent_span_id in ids for s in mine), "orphan span"

    def build(parent_id: str | None) -> list[Any]:
        return [(s.kind, s.name, build(s.span_id)) for s in mine if s.parent_span_id == parent_id]

    return build(None)


def parent_of(spans: list[Span], span: Span) -> Span:
    return next(s for s in spans if s.span_id == span.parent_span_id)
