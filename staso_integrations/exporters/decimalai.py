"""Sends run traces to DecimalAI (``POST {base}/api/v1/traces/batch``, ``Authorization: Bearer``).

The platform stores one run trace per trace and takes a trace id once (a second copy is refused
as a duplicate), so this exporter holds a trace's spans until its root ends, then sends the
whole trace. Delivery is the Staso exporter's: write-ahead spool, own sender thread, retries
with backoff, ``Retry-After``, a resting period while the server is down (see ``staso.py``).
Held spans are bounded: past ``max_held_spans`` the oldest unfinished trace goes out as a
``partial`` run trace, and so does whatever is still held at shutdown. A span that ends after
its trace went out cannot join it: it is counted as dropped (cause ``exporter``), not sent.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._decimalai_payload import encode_run_traces
from ._spooled import Batch, SpooledExporter

logger = logging.getLogger("staso_integrations")

BATCH_PATH = "/api/v1/traces/batch"
DEFAULT_BASE_URL = "https://api.decimal.ai"
SENT_REMEMBERED = 1_024  # trace ids kept to recognise spans that end after their trace was sent


class DecimalAIExporter(SpooledExporter):
    """DecimalAI run traces over HTTP, with the spool and sender the Staso exporter uses."""

    label = "decimalai"
    service = "decimalai ingest"
    path = BATCH_PATH
    key_variable = "DECIMAL_API_KEY"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, max_held_spans: int = 10_000,
                 spool_dir: str = ".staso/spool", **delivery: Any) -> None:  # fmt: skip
        # The platform's batch endpoint takes plain JSON; its own spool directory, so the staso
        # exporter never sends a DecimalAI batch to Staso.
        super().__init__(api_key, base_url, compress=False, spool_dir=os.path.join(spool_dir, "decimalai"),
                         **delivery)  # fmt: skip
        self.max_held_spans = max_held_spans
        self._held: collections.OrderedDict[str, list[Span]] = collections.OrderedDict()
        self._held_count = 0
        self._held_lock = threading.Lock()
        self._sent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.stats["partial_traces"] = 0
        self.stats["late_spans"] = 0

    def encode(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> bytes:
        return encode_run_traces(spans, traces)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        ready: list[Span] = []
        complete: list[TraceSummary] = []
        partial: list[Span] = []
        late = 0
        with self._held_lock:
            for span in spans:
                self._held.setdefault(span.trace_id, []).append(span)
            self._held_count += len(spans)
            for summary in traces:
                sent_before = summary.trace_id in self._sent
                released = self._release(summary.trace_id)
                if sent_before:
                    late += len(released)
                else:
                    ready.extend(released)
                    complete.append(summary)
            while self._held_count > self.max_held_spans and self._held:
                partial.extend(self._release(next(iter(self._held))))
        if late:
            self.stats["late_spans"] += late
            count_drop("exporter", late, "decimalai: spans that ended after their run trace was sent")
        if complete:
            super().export(ready, complete)
        self._send_partial(partial)

    def shutdown(self) -> None:
        with self._held_lock:
            held = [span for trace in self._held.values() for span in trace]
            self._held.clear()
            self._held_count = 0
        self._send_partial(held)
        super().shutdown()

    def after_fork(self) -> None:
        """In a forked child: the traces held before the fork are the parent's to send."""
        self._held_lock = threading.Lock()
        self._held = collections.OrderedDict()
        self._held_count = 0
        self._sent = collections.OrderedDict()
        super().after_fork()

    def _release(self, trace_id: str) -> list[Span]:
        """Take a trace's held spans; from now on the trace counts as sent (under the lock)."""
        spans = self._held.pop(trace_id, [])
        self._held_count -= len(spans)
        self._sent[trace_id] = None
        if len(self._sent) > SENT_REMEMBERED:
            self._sent.popitem(last=False)
        return spans

    def _send_partial(self, spans: list[Span]) -> None:
        if spans:
            self.stats["partial_traces"] += len({span.trace_id for span in spans})
            super().export(spans, [])

    def check_receipt(self, batch: Batch, body: bytes) -> None:
        """The batch answer is ``{"count", "trace_ids", "errors": [...]}``: a per-trace error is a loss."""
        try:
            answer = json.loads(body or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ("count" in answer or "status" in answer):
            self._log_once(
                "receipt", f"{self.service} answered 2xx without a batch result (no 'count' field)"
            )
            return
        errors = answer.get("errors") or []
        if isinstance(errors, list) and errors:
            self.stats["rejected_traces"] += len(errors)
            logger.warning(
                "%s took %s of a batch's traces and refused %d: %s",
                self.service, answer.get("count"), len(errors), self._clean(json.dumps(errors, default=str)),
            )  # fmt: skip
