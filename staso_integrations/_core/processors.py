"""The pipeline between an ended span and the exporters.

``on_end`` is the only part that runs on the caller's thread: it appends to a bounded deque
and returns. Pricing, content rules, roll-ups and export happen on the processor's thread
(``BatchProcessor``) or inline (``SimpleProcessor``, for tests and short scripts).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ..pricing import cost_for
from .content import apply_redact, normalize_tool_calls, strip_content
from .rollup import TraceAggregator, TraceSummary
from .sampling import ErrorKeeper
from .sanitize import sanitize_span
from .span import Span

if TYPE_CHECKING:
    from .config import Config

logger = logging.getLogger("staso_integrations")


class Exporter(Protocol):
    """Receives finished spans and the summaries of traces whose root has ended."""

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None: ...

    def shutdown(self) -> None: ...


class Processor:
    """Shared work of both processors: enrich a batch, roll it up, hand it to exporters."""

    def __init__(self, exporters: Sequence[Exporter], config: Config) -> None:
        self.exporters = list(exporters)
        self.capture_content = config.capture_content
        self.redact = config.redact
        self.aggregator = TraceAggregator()
        self.error_keeper = ErrorKeeper()
        self.exported = 0
        self.dropped = 0
        self.export_errors = 0  # failed export() calls, all exporters
        self.failed_spans = 0  # spans an exporter failed to take
        self._export_lock = threading.Lock()

    def on_end(self, span: Span) -> None:
        raise NotImplementedError

    def flush(self, timeout: float = 5.0) -> bool:
        raise NotImplementedError

    def shutdown(self, timeout: float = 5.0) -> None:
        raise NotImplementedError

    def _process(self, batch: Sequence[Span]) -> None:
        with self._export_lock:
            spans: list[Span] = []
            traces: dict[str, TraceSummary] = {}
            for span in batch:
                self._enrich(span)
                summary = self.aggregator.add(span)
                kept = [span] if span.sampled else self.error_keeper.hold(span, summary)
                spans.extend(kept)
                if summary is not None and kept:
                    traces[summary.trace_id] = summary
            if not spans:
                return
            batch_traces = list(traces.values())
            for exporter in self.exporters:
                try:
                    exporter.export(spans, batch_traces)
                except Exception:
                    self.export_errors += 1
                    self.failed_spans += len(spans)
                    logger.warning(
                        "staso exporter %s failed; %d spans not exported by it",
                        type(exporter).__name__,
                        len(spans),
                        exc_info=True,
                    )
            self.exported += len(spans)

    def _enrich(self, span: Span) -> None:
        sanitize_span(span)  # first: the steps below and every exporter need encodable values
        if span.cost_usd is None and span.usage is not None:
            span.cost_usd = cost_for(span.provider, span.response_model or span.request_model, span.usage)
        if span.tool_calls:
            normalize_tool_calls(span)
        if span.tool_calls and span.kind == "llm":
            from ..guard._engine import has_rules, judge_proposed  # the guard imports the runtime

            if has_rules():
                judge_proposed(span)
        if not self.capture_content:
            strip_content(span)
        if self.redact is not None:
            apply_redact(span, self.redact)

    def _shutdown_exporters(self) -> None:
        for exporter in self.exporters:
            try:
                exporter.shutdown()
            except Exception:
                logger.warning("staso exporter %s failed to shut down", type(exporter).__name__, exc_info=True)


class SimpleProcessor(Processor):
    """Exports each span synchronously as it ends (tests, scripts that want no thread)."""

    def on_end(self, span: Span) -> None:
        try:
            self._process([span])
        except Exception:
            logger.warning("staso processor failed", exc_info=True)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        self._shutdown_exporters()


class BatchProcessor(Processor):
    """Bounded queue + background thread. Never blocks the caller; counts what it drops."""

    def __init__(self, exporters: Sequence[Exporter], config: Config) -> None:
        super().__init__(exporters, config)
        self.max_queue_size = config.max_queue_size
        self.batch_size = config.batch_size
        self.interval = config.flush_interval_s
        self._queue: collections.deque[Span] = collections.deque()
        self._wake = threading.Event()
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopping = False
        self._closed = False
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_after_fork(ref))

    def on_end(self, span: Span) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue_size or self._closed:
            self.dropped += 1
            return
        queue.append(span)
        if self._thread is None:
            self._start()
        elif len(queue) >= self.batch_size:
            self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        if self._thread is None or not self._thread.is_alive():
            self._drain()
            return True
        done = threading.Event()
        with self._waiters_lock:
            self._waiters.append(done)
        self._wake.set()
        return done.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        flushed = self.flush(timeout)
        self._closed = True
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if flushed else 0.1)
        if self._queue:
            logger.warning("staso: %d spans not exported at shutdown", len(self._queue))
        self._shutdown_exporters()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="staso-processor", daemon=True)
            thread.start()
            self._thread = thread

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            self._drain()
            for waiter in waiters:
                waiter.set()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch: list[Span] = []
            while queue and len(batch) < self.batch_size:
                batch.append(queue.popleft())
            try:
                self._process(batch)
            except Exception:
                logger.warning("staso processor failed on a batch of %d spans", len(batch), exc_info=True)

    def _after_fork_in_child(self) -> None:
        self._queue = collections.deque()
        self._wake = threading.Event()
        self._waiters = []
        self._waiters_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._thread = None


def _reset_after_fork(ref: weakref.ref[BatchProcessor]) -> None:
    # The parent's queue and thread belong to the parent: the child exports only its own.
    processor = ref()
    if processor is not None:
        processor._after_fork_in_child()
