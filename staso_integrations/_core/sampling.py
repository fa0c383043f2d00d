"""Keep-errors sampling: spans of a trace sampled out wait until its root ends.

Head sampling decides per trace when the root opens. With ``keep_errors``, the spans of a
sampled-out trace still reach the pipeline; they are held here and exported only if the
trace turns out to have an error. Bounded by traces, spans and (estimated) bytes: a root that
never ends (a worker loop) must not hold its children forever. The oldest held spans go
first, counted as ``sampling_buffer`` drops.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from .drops import count_drop
from .rollup import TraceSummary
from .sanitize import encoded_size
from .span import Span

MAX_HELD_TRACES = 10_000
MAX_HELD_SPANS = 10_000
MAX_HELD_BYTES = 32 * 1024 * 1024
SPAN_OVERHEAD_BYTES = 1_000  # the Span object, its ids and dicts, beyond its JSON content


class ErrorKeeper:
    def __init__(
        self,
        max_traces: int = MAX_HELD_TRACES,
        max_spans: int = MAX_HELD_SPANS,
        max_bytes: int = MAX_HELD_BYTES,
    ) -> None:
        self._held: OrderedDict[str, deque[tuple[Span, int]]] = OrderedDict()
        self._max_traces = max_traces
        self._max_spans = max_spans
        self._max_bytes = max_bytes
        self.held_spans = 0
        self.held_bytes = 0  # estimate: JSON size of the content plus a fixed overhead per span
        self.sampled_out = 0

    def hold(self, span: Span, summary: TraceSummary | None) -> list[Span]:
        """Take a sampled-out span; returns the spans to export now (the trace had errors)."""
        if summary is None:  # root still open: wait
            size = SPAN_OVERHEAD_BYTES + encoded_size(span)
            held = self._held.get(span.trace_id)
            if held is None:
                held = self._held[span.trace_id] = deque()
            held.append((span, size))
            self.held_spans += 1
            self.held_bytes += size
            self._evict()
            return []
        waiting = self._held.pop(span.trace_id, ())
        spans = [held_span for held_span, _ in waiting]
        self.held_spans -= len(spans)
        self.held_bytes -= sum(size for _, size in waiting)
        spans.append(span)
        if summary.error_count:
            return spans
        self.sampled_out += len(spans)
        return []

    def _evict(self) -> None:
        evicted = 0
        while self._held and self._over_limit():
            trace_id, oldest = next(iter(self._held.items()))
            whole_trace = len(self._held) > self._max_traces
            while oldest and (whole_trace or self._over_limit()):
                _, size = oldest.popleft()
                self.held_spans -= 1
                self.held_bytes -= size
                evicted += 1
            if not oldest:
                del self._held[trace_id]
        if evicted:
            self.sampled_out += evicted
            count_drop("sampling_buffer", evicted, "keep_errors held too many spans of unfinished traces")

    def _over_limit(self) -> bool:
        return (
            self.held_spans > self._max_spans
            or self.held_bytes > self._max_bytes
            or len(self._held) > self._max_traces
        )
