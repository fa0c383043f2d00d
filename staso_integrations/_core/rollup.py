"""Trace roll-ups: totals over a trace's spans, emitted when its root span ends."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .span import Resource, Span, TraceAttributes, Usage

_USAGE_FIELDS = ("input", "output", "total", "cache_read", "cache_write", "reasoning")


@dataclass(slots=True)
class TraceSummary:
    """One trace: its root's identity and trace-level fields, plus totals over its spans."""

    trace_id: str
    name: str | None = None
    agent_name: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    turn_index: int | None = None
    environment: str = "default"
    workspace_slug: str | None = None
    source_type: str = "production"
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    status: str = "ok"
    span_count: int = 0
    error_count: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    complete: bool = False

    @property
    def duration_ms(self) -> float | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "name": self.name,
            "agent_name": self.agent_name,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "turn_index": self.turn_index,
            "environment": self.environment,
            "workspace_slug": self.workspace_slug,
            "source_type": self.source_type,
            "tags": self.tags,
            "metadata": self.metadata,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def of_root(cls, root: Span | LoneRoot) -> TraceSummary:
        """The summary of a trace whose root is its first span to end (one span, or children
        still running): each field set once, as ``TraceSummary(trace_id).add(root)`` sets it.
        """
        attrs, resource, usage, cost = root.trace_attrs, root.resource, root.usage, root.cost_usd
        return cls(
            root.trace_id, root.name, root.agent_name, attrs.conversation_id, attrs.user_id,
            attrs.session_id, root.turn_index, resource.environment, resource.workspace_slug,
            resource.source_type, list(attrs.tags), attrs.metadata, root.start_ns, root.end_ns,
            root.status, 1, 1 if root.status == "error" else 0,
            Usage() if usage is None else _first_usage(usage),
            None if cost is None else 0.0 + cost, True,
        )  # fmt: skip

    def add(self, span: Span) -> None:
        self.span_count += 1
        if span.status == "error":
            self.error_count += 1
        start_ns, end_ns = span.start_ns, span.end_ns
        if self.start_ns is None or start_ns < self.start_ns:
            self.start_ns = start_ns
        if end_ns is not None and (self.end_ns is None or end_ns > self.end_ns):
            self.end_ns = end_ns
        usage: Any = span.usage  # its counts may be floats: see _first_usage
        if usage is not None:
            for name in _USAGE_FIELDS:
                value = getattr(usage, name)
                if value is not None:
                    setattr(self.usage, name, (getattr(self.usage, name) or 0) + value)
            if usage.total is None and usage.input is not None:
                self.usage.total = (self.usage.total or 0) + usage.input + (usage.output or 0)
        if span.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + span.cost_usd
        if span.is_root:
            self._take_root(span)

    def _take_root(self, root: Span) -> None:
        attrs, resource = root.trace_attrs, root.resource
        self.name = root.name
        self.agent_name = root.agent_name
        self.conversation_id = attrs.conversation_id
        self.user_id = attrs.user_id
        self.session_id = attrs.session_id
        self.turn_index = root.turn_index
        self.environment = resource.environment
        self.workspace_slug = resource.workspace_slug
        self.source_type = resource.source_type
        self.tags = list(attrs.tags)
        self.metadata = attrs.metadata
        self.status = root.status
        self.complete = True


def _first_usage(usage: Any) -> Usage:
    """``usage`` added to an empty ``Usage`` (as ``TraceSummary.add`` adds it). A ``Usage``,
    but typed ``Any``: a count may be a float (an SDK's or a user's ``3.0``, which sanitize
    keeps and the exporters store as an integer), not the ``int`` its fields declare.
    """
    total = usage.total
    if total is None and usage.input is not None:
        total = usage.input + (usage.output or 0)
    return Usage(usage.input, usage.output, total, usage.cache_read, usage.cache_write, usage.reasoning)


class LoneRoot(NamedTuple):
    """What ``TraceSummary.of_root`` reads of a root span, kept instead of the span (and its content)."""

    trace_id: str
    name: str
    agent_name: str | None
    trace_attrs: TraceAttributes
    turn_index: int | None
    resource: Resource
    start_ns: int
    end_ns: int | None
    status: str
    usage: Usage | None
    cost_usd: float | None


class TraceAggregator:
    """Accumulates spans per trace; returns a summary when the root ends (and on late spans).

    Open traces are bounded (the oldest is dropped, counted in ``evicted``); a finished trace
    is kept only in a short list of recent ones, for spans that end after their root.

    With ``lone_summaries=False``, a trace of one span gets no summary: a root with no parent
    (not one joining a remote trace) that ends before any other span of its trace, and whose
    trace has no tags or metadata. Its exporters derive that trace from the span alone (the
    SQLite store does, in SQL); if a span of the trace ends later, the summary of both is
    returned then, as usual.
    """

    def __init__(self, max_open: int = 10_000, max_recent: int = 256, *, lone_summaries: bool = True) -> None:
        self._open: dict[str, TraceSummary] = {}
        self._recent: OrderedDict[str, TraceSummary] = OrderedDict()
        self._lone: OrderedDict[str, tuple[Any, ...]] = OrderedDict()  # lone roots given no summary
        self._max_open = max_open
        self._max_recent = max_recent
        self._lone_summaries = lone_summaries
        self.evicted = 0

    def add(self, span: Span) -> TraceSummary | None:
        trace_id = span.trace_id
        summary = self._open.get(trace_id) or self._recent.get(trace_id)
        is_root = span.parent_span_id is None or span.remote_parent  # span.is_root, without a property call
        if summary is None and is_root:  # a trace of one span, most often: complete at once
            attrs = span.trace_attrs
            if (
                not self._lone_summaries
                and span.parent_span_id is None
                and not attrs.tags
                and attrs.metadata is None
            ):
                self._lone[trace_id] = (  # a LoneRoot's fields: a plain tuple costs no __new__ call
                    trace_id, span.name, span.agent_name, attrs, span.turn_index, span.resource,
                    span.start_ns, span.end_ns, span.status, span.usage, span.cost_usd,
                )  # fmt: skip
                if len(self._lone) > self._max_recent:
                    self._lone.popitem(last=False)
                return None
            summary = self._recent[trace_id] = TraceSummary.of_root(span)
            if len(self._recent) > self._max_recent:
                self._recent.popitem(last=False)
            return summary
        if summary is None and self._lone and (root := self._lone.pop(trace_id, None)) is not None:
            summary = self._recent[trace_id] = TraceSummary.of_root(LoneRoot._make(root))  # ended after it
        if summary is None:
            summary = self._open[trace_id] = TraceSummary(trace_id)
            if len(self._open) > self._max_open:
                del self._open[next(iter(self._open))]
                self.evicted += 1
        summary.add(span)
        if not summary.complete:
            return None
        if self._open.pop(trace_id, None) is not None:
            self._recent[trace_id] = summary
            if len(self._recent) > self._max_recent:
                self._recent.popitem(last=False)
        return summary
