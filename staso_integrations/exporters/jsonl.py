"""Appends one JSON object per line: ``{"type": "span", ...}`` and ``{"type": "trace", ...}``.

The file (and any folder made for it) is owner-only. A span that cannot be encoded is
counted and skipped; the rest of the batch is written.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._owner_only import make_private_dirs, open_private

logger = logging.getLogger("staso_integrations")


class JsonlExporter:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        lines = [line for span in spans if (line := _line("span", span)) is not None]
        lines += [line for summary in traces if (line := _line("trace", summary)) is not None]
        if not lines:
            return
        make_private_dirs(os.path.dirname(os.path.abspath(self.path)))
        data = memoryview(("\n".join(lines) + "\n").encode())  # ASCII: json.dumps escapes the rest
        # One write per batch on an O_APPEND file keeps lines whole across processes.
        with self._lock:
            fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's thread may have held it at fork)."""
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        return None


def _line(record_type: str, item: Span | TraceSummary) -> str | None:
    try:
        data: dict[str, Any] = {"type": record_type, **item.to_dict()}
        return json.dumps(data, default=str)
    except Exception:  # a value the pipeline could not make safe: lose this record only
        if record_type == "span":
            count_drop("serialization", 1, "a span could not be encoded for the jsonl file")
        logger.debug("staso: jsonl line failed", exc_info=True)
        return None
