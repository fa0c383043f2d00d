"""Keeps everything in memory: for tests and for inspecting spans in a notebook."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .._core.rollup import TraceSummary
from .._core.span import Span


class InMemoryExporter:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.traces: dict[str, TraceSummary] = {}
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        with self._lock:
            self.spans.extend(spans)
            for summary in traces:
                self.traces[summary.trace_id] = summary

    def shutdown(self) -> None:
        return None

    def span_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [span.to_dict() for span in self.spans]

    def by_name(self, name: str) -> Span:
        """The one exported span called ``name`` (raises if there are none or several)."""
        matches = [span for span in self.spans if span.name == name]
        if len(matches) != 1:
            raise LookupError(f"{len(matches)} spans named {name!r}: {[s.name for s in self.spans]}")
        return matches[0]

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.traces.clear()
