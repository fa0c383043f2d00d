"""Prints each finished trace as a readable tree."""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence
from typing import IO, Any

from .._core.rollup import TraceSummary
from .._core.span import Span
from ._render import render_trace

MAX_PENDING_TRACES = 1_000


class ConsoleExporter:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._pending: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        for span in spans:
            self._pending.setdefault(span.trace_id, []).append(span.to_dict())
        while len(self._pending) > MAX_PENDING_TRACES:
            self._pending.popitem(last=False)
        stream = self._stream or sys.stderr
        for summary in traces:
            spans_of_trace = self._pending.pop(summary.trace_id, [])
            stream.write(render_trace(summary.to_dict(), spans_of_trace) + "\n")
        stream.flush()

    def shutdown(self) -> None:
        self._pending.clear()
