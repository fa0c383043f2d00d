"""Join the application's OpenTelemetry trace, when it has one.

When the app already runs inside an OTel span (a web request, say), a trace we start becomes
part of it: same trace id, our root's parent is the OTel span. We never import OpenTelemetry
ourselves: if the app has not imported it, there is no OTel span to join, and the check is
one dictionary lookup.
"""

from __future__ import annotations

import sys


def active_otel_parent() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the app's active OTel span, or ``None``."""
    trace_api = sys.modules.get("opentelemetry.trace")
    context_api = sys.modules.get("opentelemetry.context")
    if trace_api is None or context_api is None:
        return None
    try:
        try:  # OTel's contextvars runtime context, read without its two Python-level getters
            current = context_api._RUNTIME_CONTEXT._current_context.get()
        except AttributeError:  # another runtime context (``OTEL_PYTHON_CONTEXT``)
            current = context_api.get_current()
        if not current:  # an empty context holds no span (the usual case)
            return None
        context = trace_api.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    except Exception:  # a broken or half-imported OTel must not stop our span from opening
        return None
