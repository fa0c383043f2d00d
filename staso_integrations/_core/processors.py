"""The pipeline between an ended span and the exporters.

``on_end`` is the only part that runs on the caller's thread: it appends to a bounded deque
and returns. Pricing, content rules, roll-ups and export happen on the processor's thread
(``BatchProcessor``) or inline (``SimpleProcessor``, for tests and short scripts).

Lifecycle: ``shutdown()`` never takes longer than its budget (``shutdown_timeout``) whatever an
exporter does, and counts what it could not deliver as ``shutdown`` drops; after ``os.fork()``
the child's processors start over with fresh locks, an empty queue and zero counts, and call
each exporter's ``after_fork()``.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .content import ContentRules, normalize_tool_calls
from .drops import count_drop
from .exporting import (
    Exporter,
    FailureLog,
    describe,
    reset_after_fork,
    shutdown_exporter,
    shutdown_exporters,
    spawn,
)
from .internal_errors import strict_mode
from .parts import PARTS, Parts
from .rollup import TraceAggregator, TraceSummary
from .sampling import ErrorKeeper
from .sanitize import content_json, sanitize_span
from .span import Span

if TYPE_CHECKING:
    from .config import Config

logger = logging.getLogger("staso_integrations")

# Part of the budget kept for the exporters' own shutdown() when the final drain is slow.
_EXPORTER_SHUTDOWN_RESERVE_S = 0.5
# How long a caller lets go of the GIL when the queue is half full: long enough for the
# processor's thread to be scheduled and take the GIL (it then keeps it for a switch interval).
_CATCH_UP_S = 0.0005
_MORE_POLLS = 10  # further 0.5 ms sleeps while the thread has not started running (CPU clock)
# A batch that has used this much of the thread's CPU is stuck (an exporter in a loop): 256
# spans with the store's writes take ~25 ms. Not wall time: a batch short of the GIL (the first
# priced span loading the price data, ~100 ms of CPU) lasts seconds under a busy caller. Where
# other threads cannot read the thread's CPU clock (macOS, Windows), wall time it is.
_STUCK_AFTER_S = 1.0
_MAX_PROBE_GAP = 1024  # calls between two waits for a stuck batch


class Processor:
    """Shared work of both processors: enrich a batch, roll it up, hand it to exporters."""

    def __init__(self, exporters: Sequence[Exporter], config: Config, parts: Parts = PARTS) -> None:
        self.exporters = list(exporters)
        self.parts = parts  # pricing and the guard's stage (outside _core: they import it)
        self.handed_over: list[Exporter] = []  # also used by the next runtime: not shut down
        self.content = ContentRules(config.capture_content, config.redact, config.api_key)
        self.shutdown_timeout = config.shutdown_timeout
        self.error_keeper = ErrorKeeper()
        # Roll-ups are work only an exporter (or the error keeper's sampling) can use; a trace of
        # one span needs none when every exporter using them derives it from the span.
        summarized = [e for e in self.exporters if getattr(e, "uses_trace_summaries", True)]
        self._rolls_up = config.sample_rate < 1.0 or bool(summarized)
        self.aggregator = TraceAggregator(
            lone_summaries=config.sample_rate < 1.0
            or not all(getattr(e, "derives_lone_traces", False) for e in summarized)
        )
        self._export_lock = threading.Lock()
        self._closed = False
        self._reset_counts()
        _live.add(self)

    def _reset_counts(self) -> None:
        self.exported = 0  # spans every exporter took
        self.dropped = 0  # spans this processor refused: queue full, or ended after shutdown
        self.failure_log = FailureLog()
        self.caller_waits = 0  # times a caller let go of the GIL for the thread (``_let_thread_catch_up``)
        self.caller_wait_ns = 0  # and the wall time it spent so
        self._busy: tuple[Exporter, str] | None = None  # (exporter, "export" | "shutdown") running now

    @property
    def queued(self) -> int:
        """Spans ended but not yet handed to the exporters."""
        return 0

    @property
    def export_errors(self) -> int:
        """Failed ``export()`` calls, all exporters."""
        return self.failure_log.failures

    @property
    def failed_spans(self) -> int:
        """Spans an exporter failed to take (counted once per exporter)."""
        return self.failure_log.failed_spans

    def on_end(self, span: Span) -> None:
        raise NotImplementedError

    def flush(self, timeout: float = 5.0) -> bool:
        raise NotImplementedError

    def shutdown(self, timeout: float | None = None) -> None:
        raise NotImplementedError

    def _flush_exporters(self, deadline: float) -> bool:
        """Exporters that deliver on their own thread (``staso``) confirm what they were given."""
        flushed = True
        for exporter in self.exporters:
            flush = getattr(exporter, "flush", None)
            if flush is not None:
                try:
                    flushed = bool(flush(max(0.0, deadline - time.monotonic()))) and flushed
                except Exception as exc:  # an exporter's bug: counted like its export failures
                    self.failure_log.failed(exporter, exc, 0)
                    flushed = False
        return flushed

    def _refuse(self) -> None:
        self.dropped += 1
        count_drop("shutdown" if self._closed else "queue_full")

    def _process(self, batch: Sequence[Span]) -> None:
        with self._export_lock:
            spans, traces = self._prepare(batch)
            if not spans:
                return
            delivered = True
            for exporter in self.exporters:
                self._busy = (exporter, "export")
                try:
                    exporter.export(spans, traces)
                except Exception as exc:
                    delivered = False
                    self.failure_log.failed(exporter, exc, len(spans))
                else:
                    if self.failure_log.failing:
                        self.failure_log.recovered(exporter)
            self._busy = None
            if delivered:
                self.exported += len(spans)

    def _prepare(self, batch: Sequence[Span]) -> tuple[list[Span], list[TraceSummary]]:
        """Enrich and roll up each span; one that fails is dropped alone, not with its batch."""
        spans: list[Span] = []
        traces: dict[str, TraceSummary] = {}
        for span in batch:
            try:
                self._enrich(span)
                summary = self.aggregator.add(span) if self._rolls_up else None
                kept = [span] if span.sampled else self.error_keeper.hold(span, summary)
            except Exception as exc:
                if strict_mode():
                    raise  # the caller counts the drop
                _lost("processor", 1, exc, f"span {span.name!r}")
                continue
            spans.extend(kept)
            if summary is not None and kept:
                traces[summary.trace_id] = summary
        return spans, list(traces.values())

    def _enrich(self, span: Span) -> None:
        # First: the steps below and every exporter need encodable values. ``encoded`` (the
        # content as JSON) lets the secret scan skip content without a secret's marker, as long
        # as nothing adds content in between.
        encoded = sanitize_span(span)
        if span.usage is not None:
            noted = len(span.metadata)
            self.parts.price(span)
            if len(span.metadata) != noted:
                encoded = None  # the price stage added a note (``priced_as``) the encode lacks
        if span.tool_calls:
            if normalize_tool_calls(span):
                encoded = None  # arguments encoded as JSON text
            if span.kind == "llm" and self.parts.judge_proposed(span):
                encoded = None  # guard verdicts added
        if encoded is None:  # encoded again (orjson): cheaper than a secret scan walking every string
            encoded = content_json(span)
        # Capture off, redact hook, then secrets masked in every string.
        span.encoded_content = self.content.apply(span, encoded)

    def _to_close(self) -> list[Exporter]:
        return [e for e in self.exporters if not any(e is kept for kept in self.handed_over)]

    def _busy_call(self) -> str:
        busy = self._busy
        return "span processing" if busy is None else f"{type(busy[0]).__name__}.{busy[1]}"

    def _report_shutdown(self, budget: float, lost: int, stuck: list[str]) -> None:
        """What shutdown could not do, in one line (the drop count's own when spans were lost)."""
        if stuck:
            what = f"shutdown_timeout {budget:g} s reached; not finished: {', '.join(stuck)}"
        else:
            what = "ended while the pipeline shut down"
        if lost:
            count_drop("shutdown", lost, what)
        elif stuck:
            logger.warning("staso: %s; not waiting for it", what)

    def _after_fork_in_child(self) -> None:
        self._export_lock = threading.Lock()
        self._reset_counts()
        if self._closed:
            return
        reset_after_fork(self.exporters)


class SimpleProcessor(Processor):
    """Exports each span synchronously as it ends (tests, scripts that want no thread)."""

    def on_end(self, span: Span) -> None:
        if self._closed:
            self._refuse()
            return
        try:
            self._process([span])
        except Exception as exc:
            _lost("processor", 1, exc, f"span {span.name!r}")
            if strict_mode():
                raise

    def flush(self, timeout: float = 5.0) -> bool:
        return self._flush_exporters(time.monotonic() + timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        budget = self.shutdown_timeout if timeout is None else timeout
        stuck = shutdown_exporters(self._to_close(), time.monotonic() + budget, inline_without_thread=True)
        self._report_shutdown(budget, 0, stuck)


class BatchProcessor(Processor):
    """Bounded queue + background thread; counts what it drops.

    The caller does not wait for an exporter. When the queue is half full, it lets go of the
    GIL for a moment (``_let_thread_catch_up``): CPython hands the GIL to a waiting thread only
    after a whole switch interval without the holder letting go, and a caller that lets go
    briefly and often (``os.urandom``, which every ``uuid4()`` calls) restarts that wait,
    starving the thread until the queue overflows.
    """

    def __init__(self, exporters: Sequence[Exporter], config: Config, parts: Parts = PARTS) -> None:
        super().__init__(exporters, config, parts)
        self.max_queue_size = config.max_queue_size
        self.high_water = max(1, config.max_queue_size // 2)
        # A full batch wakes the thread: one larger than half the queue (a small queue bound with
        # the default batch) would leave it asleep until the interval while the queue overflows.
        self.batch_size = min(config.batch_size, self.high_water)
        self.interval = config.flush_interval_s
        self._init_thread_state()

    def _init_thread_state(self) -> None:
        self._queue: collections.deque[Span] = collections.deque()
        self._wake = threading.Event()
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._abandon = False  # shutdown ran out of time: take no further batch
        self._drained = threading.Event()  # the thread's final drain is done
        self._close_claim = threading.Lock()  # whoever takes it calls the exporters' shutdown()
        self._in_flight = 0
        self._thread_clock: tuple[int | None, int | None] = (None, None)  # its ident and CPU clock
        self._thread_cpu_seen: int | None = -1  # its CPU time (ns) at a caller's last wait
        self._batch_began = 0  # ``_batch_clock()`` when the batch in progress was taken
        self._probe_gap = self._calls_to_probe = 1  # while it needs no GIL: calls between waits

    @property
    def queued(self) -> int:
        return len(self._queue)

    def on_end(self, span: Span) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue_size or self._closed:
            self._refuse()
            return
        queue.append(span)
        if self._thread is None:
            self._start()
        if len(queue) >= self.batch_size:  # the first span too, when it fills a batch on its own
            self._wake.set()
            if len(queue) >= self.high_water:
                self._let_thread_catch_up()

    def _let_thread_catch_up(self) -> None:
        """Let go of the GIL for a moment while the thread needs it: it used CPU since the last
        wait (where another thread's CPU clock can be read) on a batch that has used less than
        ``_STUCK_AFTER_S`` of it. Otherwise it waits on I/O or a lock, is stuck in an exporter, or
        was not even scheduled: it is asked again after 2, 4, ... 1,024 calls.
        """
        ident, clock = self._thread_clock
        if ident == threading.get_ident():  # a span ended on the thread itself (an exporter's)
            return
        try:
            used = None if clock is None else time.clock_gettime_ns(clock)
        except OSError:  # the thread has ended
            return
        batch_age = (time.monotonic_ns() if used is None else used) - self._batch_began
        if (used is None or used != self._thread_cpu_seen) and batch_age < _STUCK_AFTER_S * 1e9:
            self._probe_gap = self._calls_to_probe = 1
        else:
            self._calls_to_probe -= 1
            if self._calls_to_probe > 0:
                return
            self._probe_gap = self._calls_to_probe = min(2 * self._probe_gap, _MAX_PROBE_GAP)
        self._thread_cpu_seen = used
        began = time.perf_counter_ns()
        _wait_for_thread(clock, used)
        self.caller_waits += 1
        self.caller_wait_ns += time.perf_counter_ns() - began

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        if self._thread is None and not self._queue:
            return self._flush_exporters(deadline)
        if not self._start():
            self._drain()  # no thread can be started (the interpreter is exiting)
            return self._flush_exporters(deadline)
        done = threading.Event()
        with self._waiters_lock:
            self._waiters.append(done)
        self._wake.set()
        return done.wait(timeout) and self._flush_exporters(deadline)

    def shutdown(self, timeout: float | None = None) -> None:
        """Drain and stop within ``timeout`` (default ``shutdown_timeout``) seconds, whatever hangs."""
        if self._closed:
            return
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._closed = True
        self._stopping = True
        thread = self._thread if self._start() else None
        if thread is None:  # no thread can start (Python 3.12+ at exit, none running): inline
            self._drain()
            self._close_exporters()
            return
        if thread is threading.current_thread():
            return  # called by an exporter or hook on our own thread: it stops once that returns
        # The thread drains, then calls the exporters' shutdown() itself (no new thread needed,
        # which Python 3.12+ refuses at exit). If it is stuck, they are called from here.
        self._wake.set()
        reserve = min(_EXPORTER_SHUTDOWN_RESERVE_S, budget / 5)
        if self._drained.wait(max(0.0, deadline - reserve - time.monotonic())):
            lost = self._take_queue()  # ended while the final drain ran
            thread.join(max(0.0, deadline - time.monotonic()))  # it shuts the exporters down
            stuck = [self._busy_call()] if thread.is_alive() else []
        else:
            self._abandon = True
            lost = self._take_queue() + self._in_flight
            stuck = [self._busy_call()]
            if self._close_claim.acquire(blocking=False):
                stuck += shutdown_exporters(self._to_close(), deadline, inline_without_thread=False)
            if self._drained.is_set():  # the stuck call returned meanwhile
                stuck.pop(0)
        self._report_shutdown(budget, lost, stuck)

    def _start(self) -> bool:
        """Start the thread unless it runs; ``False`` if it cannot (interpreter exiting)."""
        with self._start_lock:
            if self._thread is not None:
                return self._thread.is_alive()
            self._thread = spawn(self._run, name="staso-processor", fallback=False)
            return self._thread is not None

    def _run(self) -> None:
        self._thread_clock = _own_cpu_clock()
        while True:
            stopping = self._stopping
            if not stopping:
                self._wake.wait(self.interval)
                self._wake.clear()
            with self._waiters_lock:
                waiters, self._waiters = self._waiters, []
            self._drain()
            for waiter in waiters:
                waiter.set()
            if stopping:
                break
        self._drained.set()
        self._close_exporters()

    def _close_exporters(self) -> None:
        if not self._close_claim.acquire(blocking=False):
            return  # shutdown() already called them from its own threads
        for exporter in self._to_close():
            self._busy = (exporter, "shutdown")
            shutdown_exporter(exporter)
        self._busy = None

    def _drain(self) -> None:
        while not self._abandon:
            batch = self._take_batch()
            if not batch:
                return
            self._in_flight = len(batch)
            self._batch_began = self._batch_clock()
            try:
                self._process(batch)
            except Exception as exc:
                _lost("processor", len(batch), exc, f"a batch of {len(batch)} spans")
            finally:
                self._in_flight = 0

    def _batch_clock(self) -> int:
        """On the thread: its CPU time in ns (the clock callers read), else wall time."""
        return time.monotonic_ns() if self._thread_clock[1] is None else time.thread_time_ns()

    def _take_batch(self) -> list[Span]:
        queue = self._queue
        batch: list[Span] = []
        try:
            while len(batch) < self.batch_size:
                batch.append(queue.popleft())
        except IndexError:  # empty (shutdown may be emptying it at the same time)
            pass
        return batch

    def _take_queue(self) -> int:
        taken = 0
        while True:
            batch = self._take_batch()
            if not batch:
                return taken
            taken += len(batch)

    def _after_fork_in_child(self) -> None:
        # The parent's queue and thread belong to the parent: the child exports only its own.
        self._init_thread_state()
        super()._after_fork_in_child()


def _wait_for_thread(clock: int | None, used: int | None) -> None:
    """Sleep a moment; while the thread's CPU ``clock`` still reads ``used``, a little more."""
    time.sleep(_CATCH_UP_S)
    if clock is None:
        return
    # The cores may all be busy: the thread, woken by the GIL's release, may not run at once.
    # Wait a little more for it to start (its CPU clock moves), at most ~5 ms in all.
    try:
        for _ in range(_MORE_POLLS):
            if time.clock_gettime_ns(clock) != used:
                return
            time.sleep(_CATCH_UP_S)
    except OSError:  # the thread has ended
        return


def _own_cpu_clock() -> tuple[int, int | None]:
    """The calling thread's ident, and the clock of its CPU time where other threads can read it
    (Linux, BSD; ``None`` on macOS and Windows).
    """
    ident = threading.get_ident()
    try:
        return ident, time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):
        return ident, None


def _lost(cause: str, n: int, exc: Exception, what: str) -> None:
    logger.debug("staso processor failed on %s", what, exc_info=exc)
    count_drop(cause, n, f"{what}: {describe(exc)}")


_live: weakref.WeakSet[Processor] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for processor in list(_live):
        processor._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)
