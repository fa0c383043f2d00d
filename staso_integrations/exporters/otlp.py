"""OpenTelemetry OTLP/HTTP export (extra ``otlp``): the way to any collector and backend.

Each of our spans becomes a ``ReadableSpan`` with our own ids and times, handed straight to
the SDK's ``OTLPSpanExporter``. No tracer, no span processor, no global provider: the app's own
OpenTelemetry setup is left alone. Endpoint, headers, timeout and compression come from the
standard ``OTEL_EXPORTER_OTLP_*`` variables unless given here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._core.rollup import TraceSummary
from .._core.span import Span
from ._otel_attributes import span_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from .._core.config import Config

logger = logging.getLogger("staso_integrations")

INSTALL_HINT = "pip install 'staso-integrations[otlp]'"
SCOPE_NAME = "staso_integrations"
SCOPE_VERSION = "0.1.0"


class OtlpExporter:
    """Sends spans over OTLP/HTTP protobuf, mapped to the GenAI semantic conventions."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Build the SDK exporter.

        Raises:
            ImportError: the OpenTelemetry SDK or its OTLP/HTTP exporter is not installed.
        """
        try:
            from opentelemetry import trace as trace_api
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import ReadableSpan
            from opentelemetry.sdk.trace.export import SpanExportResult
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
            from opentelemetry.trace.status import Status, StatusCode
        except ImportError as exc:
            raise ImportError(
                f"exporter 'otlp' needs the OpenTelemetry SDK and OTLP/HTTP exporter: {INSTALL_HINT}"
            ) from exc
        self._api = trace_api
        self._readable_span = ReadableSpan
        self._status, self._status_code = Status, StatusCode
        self._success = SpanExportResult.SUCCESS
        self._scope = InstrumentationScope(SCOPE_NAME, SCOPE_VERSION)
        self._resource = Resource.create(_resource_attributes(config))
        self._conventions = config.otlp_conventions if config is not None else "both"
        self._exporter: Any = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout_s)
        self.exported = 0
        self.failed = 0

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if not spans:
            return
        result = self._exporter.export([self.to_readable(span) for span in spans])
        if result is self._success:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
            logger.warning("staso otlp: the collector did not take %d spans (see the SDK's log)", len(spans))

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def to_readable(self, span: Span) -> ReadableSpan:
        api = self._api
        flags = api.TraceFlags(api.TraceFlags.SAMPLED)
        trace_id = int(span.trace_id, 16)
        context = api.SpanContext(trace_id, int(span.span_id, 16), is_remote=False, trace_flags=flags)
        parent = None
        if span.parent_span_id is not None:
            parent = api.SpanContext(
                trace_id, int(span.parent_span_id, 16), is_remote=span.is_root, trace_flags=flags
            )
        if span.status == "error":
            error = span.error or {}
            status = self._status(self._status_code.ERROR, f"{error.get('type')}: {error.get('message')}")
        else:
            status = self._status(self._status_code.UNSET)
        return self._readable_span(
            name=span.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=span_attributes(span, self._conventions),
            kind=api.SpanKind.CLIENT if span.kind in ("llm", "embedding") else api.SpanKind.INTERNAL,
            status=status,
            start_time=span.start_ns,
            end_time=span.end_ns,
            instrumentation_scope=self._scope,
        )


def _resource_attributes(config: Config | None) -> dict[str, Any]:
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES are read by Resource.create and win over
    # service.name; our defaults only fill what the app did not set.
    out: dict[str, Any] = {}
    if config is not None:
        named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""
        )
        if config.agent_name and not named:
            out["service.name"] = config.agent_name
        out["deployment.environment.name"] = config.environment
        if config.workspace_slug:
            out["staso.workspace_slug"] = config.workspace_slug
    return out
