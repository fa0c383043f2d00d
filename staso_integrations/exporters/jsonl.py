"""Appends one JSON object per line: ``{"type": "span", ...}`` and ``{"type": "trace", ...}``."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from .._core.rollup import TraceSummary
from .._core.span import Span


class JsonlExporter:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        lines = [json.dumps({"type": "span", **span.to_dict()}, default=str) for span in spans]
        lines += [json.dumps({"type": "trace", **t.to_dict()}, default=str) for t in traces]
        if not lines:
            return
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # One write per batch on an O_APPEND file keeps lines whole across processes.
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")

    def shutdown(self) -> None:
        return None
