"""Calls into exporters that must never hold the process: bounded shutdown, the after-fork
reset, and one warning per failure incident instead of one per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .drops import count_drop
from .rollup import TraceSummary
from .span import Span

logger = logging.getLogger("staso_integrations")


class Exporter(Protocol):
    """Receives finished spans and the summaries of traces whose root has ended.

    An exporter may also define ``after_fork()`` (no arguments). The processor calls it in a
    child process right after ``os.fork()``, before the child exports anything: it must replace
    the locks, connections, sockets and file handles it holds with fresh ones (a thread of the
    parent may have held them at the fork) and must not flush or close the parent's.
    ``shutdown()`` may be called while an ``export()`` is still running on another thread.
    An exporter that ignores ``traces`` may say so with a class attribute
    ``uses_trace_summaries = False``: with no exporter using them, none are computed. One that
    writes a trace of a single span from that span itself says so with
    ``derives_lone_traces = True`` (the SQLite store): when every exporter using summaries does,
    such a trace is handed without its summary (``TraceAggregator``).
    """

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None: ...

    def shutdown(self) -> None: ...


class FailureLog:
    """Counts failed ``export()`` calls; warns once per incident (first failure after a success)."""

    def __init__(self) -> None:
        self.failures = 0  # failed export() calls, all exporters
        self.failed_spans = 0  # spans an exporter failed to take (counted per exporter)
        self.failing: dict[int, int] = {}  # id(exporter) -> failed calls in its current incident

    def failed(self, exporter: Exporter, exc: Exception, n: int) -> None:
        self.failures += 1
        self.failed_spans += n
        name = type(exporter).__name__
        incident = self.failing.get(id(exporter), 0)
        self.failing[id(exporter)] = incident + 1
        if not incident:
            logger.warning(
                "staso exporter %s failed (%s); its spans count as dropped until it recovers",
                name,
                describe(exc),
            )
        logger.debug("staso exporter %s failed on %d spans", name, n, exc_info=exc)
        count_drop("exporter", n, name)

    def recovered(self, exporter: Exporter) -> None:
        failures = self.failing.pop(id(exporter), None)
        if failures is not None:
            name = type(exporter).__name__
            logger.info("staso exporter %s recovered after %d failed exports", name, failures)


def shutdown_exporters(
    exporters: Sequence[Exporter], deadline: float, *, inline_without_thread: bool
) -> list[str]:
    """Each exporter's ``shutdown()`` on its own daemon thread, joined until ``deadline``.

    Returns the calls not finished (``"Name.shutdown"``). Where no thread can start (Python
    3.12+ at exit) the call runs inline if ``inline_without_thread``, else it is skipped and listed.
    """
    running = [
        (exporter, spawn(shutdown_exporter, exporter, fallback=inline_without_thread))
        for exporter in exporters
    ]
    stuck = []
    for exporter, thread in running:
        if thread is None and inline_without_thread:
            continue
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        if thread is None or thread.is_alive():
            stuck.append(f"{type(exporter).__name__}.shutdown{'' if thread else ' (not started)'}")
    return stuck


def reset_after_fork(exporters: Sequence[Exporter]) -> None:
    for exporter in exporters:
        after_fork: Callable[[], None] | None = getattr(exporter, "after_fork", None)
        if after_fork is not None:
            try:
                after_fork()
            except Exception as exc:
                name = type(exporter).__name__
                logger.warning("staso exporter %s failed to reset after fork (%s)", name, describe(exc))
                logger.debug("staso exporter after_fork failed", exc_info=exc)


def spawn(
    target: Callable[..., None], *args: Any, name: str = "staso-shutdown", fallback: bool = True
) -> threading.Thread | None:
    """``target(*args)`` on a new daemon thread; ``None`` when none can start (Python 3.12+
    refuses new threads at interpreter exit), after running it inline if ``fallback``.
    """
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:
        if fallback:
            target(*args)
        return None
    return thread


def describe(exc: BaseException) -> str:
    """``Type: message`` in one short line, even for an exception whose ``str()`` raises."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__


def shutdown_exporter(exporter: Exporter) -> None:
    """``exporter.shutdown()``; a failure is one warning line (its traceback at DEBUG)."""
    try:
        exporter.shutdown()
    except Exception as exc:
        logger.warning("staso exporter %s failed to shut down (%s)", type(exporter).__name__, describe(exc))
        logger.debug("staso exporter shutdown failed", exc_info=exc)
