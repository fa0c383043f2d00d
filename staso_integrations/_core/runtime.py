"""Process-wide state: the active configuration, processor and exporters.

``init()`` builds it; everything else reads it. Without ``init()``, the first span (or
``instrument_all()``) initialises from ``STASO_*`` environment variables.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .config import Config, load_config, split_exporters
from .context import _agent_name, _current_span, _trace_attrs
from .drops import drop_counts
from .exporting import spawn
from .otel_context import active_otel_parent
from .parts import PARTS
from .processors import BatchProcessor, Processor, SimpleProcessor
from .sessions import session_turns
from .span import SPAN_KINDS, Resource, Span, TraceAttributes, new_trace_id

logger = logging.getLogger("staso_integrations")


class Runtime:
    __slots__ = ("config", "keep_errors", "processor", "resource", "sample_rate", "session_attrs")

    def __init__(self, config: Config, processor: Processor) -> None:
        self.config = config
        self.processor = processor
        self.sample_rate = config.sample_rate
        self.keep_errors = config.keep_errors
        self.resource = Resource(
            environment=config.environment,
            workspace_slug=config.workspace_slug,
            source_type=config.source_type,
            agent_name=config.agent_name,
        )
        self.session_attrs = (
            TraceAttributes(session_id=config.session_id, turns=session_turns(config.session_id))
            if config.session_id
            else None
        )


_runtime: Runtime | None = None
_lock = threading.Lock()
_atexit_registered = False
# Shutdowns of runtimes replaced by a later init(), running on daemon threads: init() never
# waits for a stuck exporter, and exit waits for them within its own budget.
_retiring: list[threading.Thread] = []


def init(
    *,
    agent_name: str | None = None,
    environment: str | None = None,
    workspace_slug: str | None = None,
    source_type: str | None = None,
    session_id: str | None = None,
    exporter: str | Any | Sequence[str | Any] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    allow_insecure_http: bool | None = None,
    capture_content: bool | None = None,
    sample_rate: float | None = None,
    keep_errors: bool | None = None,
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    sqlite_path: str | None = None,
    jsonl_path: str | None = None,
    processor: str | None = None,
    disabled_integrations: str | Sequence[str] | None = None,
    shutdown_timeout: float | None = None,
    llm_content_max_chars: int | None = None,
    otlp_conventions: str | None = None,
) -> Config:
    """Configure tracing for this process; explicit arguments win over ``STASO_*`` variables.

    Args:
        agent_name: default agent for traces not inside ``@agent``.
        environment: logical partition (``prod``, ``staging``...); default ``default``.
        workspace_slug: the workspace traces belong to.
        source_type: where traces come from; one of ``config.SOURCE_TYPES``.
        session_id: a session every trace of this process joins, with increasing ``turn_index``.
        exporter: an exporter name, an exporter object, or a list of them.
        api_key: Staso API key (never logged or exported).
        base_url: Staso API base URL (``https://``; ``http://`` only to this machine).
        allow_insecure_http: allow a plain ``http://`` base_url to another machine (the API
            key then travels in clear).
        capture_content: ``False`` keeps prompts, outputs and arguments out of spans.
        sample_rate: share of traces kept, 0..1, decided once per trace.
        keep_errors: with ``sample_rate`` < 1, still keep every trace that has an error.
        redact: called with each span's dict before export; returns the dict to export
            (change or blank fields). If it raises, the span's content is dropped.
        sqlite_path: file of the local store (default ``.staso/traces.db``).
        jsonl_path: file the ``jsonl`` exporter appends to (default ``.staso/traces.jsonl``).
        processor: ``batch`` (background thread, the default) or ``simple`` (synchronous).
        disabled_integrations: integrations ``instrument_all()`` leaves alone (a name, a
            comma-separated string or a list).
        shutdown_timeout: seconds ``shutdown()`` and the exit flush may take at most, whatever
            an exporter does (default 3); what is still undelivered then is counted as dropped.
        llm_content_max_chars: cap per string of an llm span's messages (default 1,000,000;
            other strings: 16,000); a record whose content was cut is left out of the export.
        otlp_conventions: what the ``otlp`` exporter emits: ``genai`` (OpenTelemetry GenAI
            semantic conventions), ``openinference``, or ``both`` (the default).

    Raises:
        ValueError: a setting is outside its allowed values (the message names them).
    """
    names, objects = split_exporters(exporter)
    config = load_config(
        agent_name=agent_name,
        environment=environment,
        workspace_slug=workspace_slug,
        source_type=source_type,
        session_id=session_id,
        exporters=names if exporter is not None else None,
        api_key=api_key,
        base_url=base_url,
        allow_insecure_http=allow_insecure_http,
        capture_content=capture_content,
        sample_rate=sample_rate,
        keep_errors=keep_errors,
        redact=redact,
        sqlite_path=sqlite_path,
        jsonl_path=jsonl_path,
        processor=processor,
        disabled_integrations=disabled_integrations,
        shutdown_timeout=shutdown_timeout,
        llm_content_max_chars=llm_content_max_chars,
        otlp_conventions=otlp_conventions,
    )
    exporters = [*PARTS.build_exporters(config), *objects]
    pipeline: Processor
    if config.processor == "simple":
        pipeline = SimpleProcessor(exporters, config, PARTS)
    else:
        pipeline = BatchProcessor(exporters, config, PARTS)
    _install(Runtime(config, pipeline))
    return config


def _install(runtime: Runtime) -> None:
    global _runtime, _atexit_registered
    with _lock:
        previous, _runtime = _runtime, runtime
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
    if previous is not None:
        shared = runtime.processor.exporters
        previous.processor.handed_over = [
            e for e in previous.processor.exporters if any(e is s for s in shared)
        ]
        _retire(previous.processor)


def _retire(processor: Processor) -> None:
    thread = spawn(processor.shutdown)
    if thread is not None:
        with _lock:
            _retiring[:] = [t for t in _retiring if t.is_alive()]
            _retiring.append(thread)


def get_runtime() -> Runtime:
    runtime = _runtime
    if runtime is None:
        with _lock:
            runtime = _runtime
        if runtime is None:
            init()
            runtime = _runtime
    assert runtime is not None
    return runtime


def is_initialized() -> bool:
    return _runtime is not None


def flush(timeout: float = 5.0) -> bool:
    """Export every ended span now; ``False`` if ``timeout`` seconds were not enough."""
    runtime = _runtime
    return True if runtime is None else runtime.processor.flush(timeout)


def shutdown(timeout: float | None = None) -> None:
    """Flush, then stop the pipeline and its exporters. Spans after this start a new runtime.

    Args:
        timeout: seconds this may take at most, whatever an exporter does (default: the
            ``shutdown_timeout`` setting). Spans still undelivered then are counted as dropped.
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.processor.shutdown(timeout)


def _shutdown_at_exit() -> None:
    try:
        runtime = _runtime
        budget = (runtime.config if runtime is not None else Config()).shutdown_timeout
        deadline = time.monotonic() + budget
        shutdown()
        for thread in _retiring[:]:  # replaced runtimes still shutting down get what is left
            thread.join(max(0.0, deadline - time.monotonic()))
    except Exception:  # never turn a clean interpreter exit into a traceback
        logger.debug("staso shutdown at exit failed", exc_info=True)


def _reset_in_child() -> None:
    # Another thread may have held the lock at the fork; the parent's retiring threads are not ours.
    global _lock
    _lock = threading.Lock()
    _retiring.clear()


os.register_at_fork(after_in_child=_reset_in_child)


def stats() -> dict[str, Any]:
    """What the pipeline of this process has done, for monitoring and ``doctor``.

    Returns:
        ``{"exported": spans every exporter took, "queued": spans waiting for the background
        thread, "exporter_failures": failed ``export()`` calls, "caller_waits": times a thread
        of the app let the background thread catch up (the queue was half full),
        "caller_wait_s": the seconds it spent so, "dropped": {cause: spans}}``. All but
        ``dropped`` count since the last ``init()``; ``dropped`` since the process started
        (causes as in ``staso_integrations._core.drops.DROP_CAUSES``).
    """
    processor = _runtime.processor if _runtime is not None else None
    return {
        "exported": processor.exported if processor else 0,
        "queued": processor.queued if processor else 0,
        "exporter_failures": processor.export_errors if processor else 0,
        "caller_waits": processor.caller_waits if processor else 0,
        "caller_wait_s": processor.caller_wait_ns / 1e9 if processor else 0.0,
        "dropped": drop_counts(),
    }


# Frameworks that track their own current step (LlamaIndex's active span id, set and reset
# by the framework around each step) add a function here: given our context's current span,
# it returns the innermost open span, ours or the framework's. Empty unless one is instrumented.
parent_resolvers: list[Callable[[Span | None], Span | None]] = []


def start_span(name: str, kind: str = "custom") -> Span:
    """Open a span under the current one (a new trace if there is none). Not activated."""
    parent = _current_span.get()
    for resolve in parent_resolvers:
        parent = resolve(parent)
    return open_span(name, kind, parent)


def open_span(name: str, kind: str, parent: Span | None) -> Span:
    """Open a span under ``parent``, or as the root of a new trace when it is ``None``."""
    runtime = _runtime or get_runtime()
    while parent is not None and parent.end_ns is not None:  # left behind in a context (context.py)
        parent = parent.parent
    if parent is not None:
        return Span(
            name,
            kind,
            parent.trace_id,
            parent.span_id,
            _agent_name.get() or parent.agent_name,
            parent.trace_attrs,
            parent.turn_index,
            parent.resource,
            parent._processor,
            parent.sampled,
            False,
            parent,
        )
    attrs = _trace_attrs.get()
    if attrs.session_id is None and runtime.session_attrs is not None:
        attrs = replace(
            attrs,
            session_id=runtime.session_attrs.session_id,
            turns=runtime.session_attrs.turns,
        )
    sampled = runtime.sample_rate >= 1.0 or random.random() < runtime.sample_rate
    otel_parent = active_otel_parent()  # the app's active OpenTelemetry span: join its trace
    trace_id, remote_parent = otel_parent if otel_parent is not None else (new_trace_id(), None)
    return Span(
        name,
        kind,
        trace_id,
        remote_parent,
        _agent_name.get() or runtime.resource.agent_name,
        attrs,
        next(attrs.turns) if attrs.turns is not None else None,
        runtime.resource,
        runtime.processor if sampled or runtime.keep_errors else None,
        sampled,
        remote_parent is not None,
    )


def check_kind(kind: str) -> str:
    if kind not in SPAN_KINDS:
        raise ValueError(f"unknown span kind {kind!r}; allowed: {', '.join(SPAN_KINDS)}")
    return kind
