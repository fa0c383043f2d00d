"""Our traces join the app's active OpenTelemetry span (same trace id, parent = that span)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="extra 'otlp' not installed")

from opentelemetry.sdk.trace import TracerProvider

import staso_integrations as st
from staso_integrations._core.otel_context import active_otel_parent
from staso_integrations.exporters import InMemoryExporter


def test_root_joins_the_active_otel_span(exporter: InMemoryExporter) -> None:
    tracer = TracerProvider().get_tracer("app")  # not the global provider: the app's own setup
    with tracer.start_as_current_span("GET /chat") as request:
        context = request.get_span_context()
        with st.span("handle", kind="agent"), st.span("chat", kind="llm"):
            pass

    root, child = exporter.by_name("handle"), exporter.by_name("chat")
    assert root.trace_id == f"{context.trace_id:032x}" == child.trace_id
    assert root.parent_span_id == f"{context.span_id:016x}"
    assert root.is_root and child.parent_span_id == root.span_id
    assert exporter.traces[root.trace_id].name == "handle"  # the roll-up still sees our root


def test_without_an_active_otel_span_a_new_trace_starts(exporter: InMemoryExporter) -> None:
    assert active_otel_parent() is None
    with st.span("alone"):
        pass
    span = exporter.by_name("alone")
    assert span.parent_span_id is None and span.is_root and len(span.trace_id) == 32


def test_otel_not_imported_means_one_dict_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    tracer = TracerProvider().get_tracer("app")
    with tracer.start_as_current_span("outer"):
        assert active_otel_parent() is not None
        monkeypatch.delitem(sys.modules, "opentelemetry.trace")
        assert active_otel_parent() is None


def test_another_runtime_context_is_asked_through_its_getter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The context is read from OTel's own contextvar when its runtime context is the contextvars
    one; any other (``OTEL_PYTHON_CONTEXT``) is asked through ``get_current()``, as before.
    """
    from opentelemetry import context as context_api

    class Another:  # a runtime context without OTel's contextvar: asked through its methods
        def __init__(self, real: object) -> None:
            self.real = real

        def get_current(self) -> object:
            return self.real.get_current()  # type: ignore[attr-defined]

        def attach(self, context: object) -> object:
            return self.real.attach(context)  # type: ignore[attr-defined]

        def detach(self, token: object) -> None:
            self.real.detach(token)  # type: ignore[attr-defined]

    tracer = TracerProvider().get_tracer("app")
    runtime = Another(context_api._RUNTIME_CONTEXT)
    monkeypatch.setattr(context_api, "_RUNTIME_CONTEXT", runtime)
    assert active_otel_parent() is None
    with tracer.start_as_current_span("outer") as outer:
        context = outer.get_span_context()
        assert active_otel_parent() == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
