"""Keep-errors sampling: spans of a trace sampled out wait until its root ends.

Head sampling decides per trace when the root opens. With ``keep_errors``, the spans of a
sampled-out trace still reach the pipeline; they are held here and exported only if the
trace turns out to have an error. Bounded: the oldest held traces are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict

from .rollup import TraceSummary
from .span import Span


class ErrorKeeper:
    def __init__(self, max_traces: int = 10_000) -> None:
        self._held: OrderedDict[str, list[Span]] = OrderedDict()
        self._max_traces = max_traces
        self.sampled_out = 0

    def hold(self, span: Span, summary: TraceSummary | None) -> list[Span]:
        """Take a sampled-out span; returns the spans to export now (the trace had errors)."""
        if summary is None:  # root still open: wait
            held = self._held.setdefault(span.trace_id, [])
            held.append(span)
            if len(self._held) > self._max_traces:
                _, evicted = self._held.popitem(last=False)
                self.sampled_out += len(evicted)
            return []
        spans = self._held.pop(span.trace_id, [])
        spans.append(span)
        if summary.error_count:
            return spans
        self.sampled_out += len(spans)
        return []
