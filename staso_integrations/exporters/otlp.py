"""OpenTelemetry OTLP/HTTP export (extra ``otlp``): the way to any collector and backend.

Each of our spans becomes a ``ReadableSpan`` with our own ids and times, encoded to protobuf by
the OTLP exporter package's encoder. No tracer, no span processor, no global provider: the
app's own OpenTelemetry setup is left alone. The request goes through our own client
(``_http``), not the SDK's ``requests`` session, so cassette libraries and HTTP
instrumentations never see it. Endpoint, headers, timeout, compression and certificates come
from the standard ``OTEL_EXPORTER_OTLP_*`` variables unless given here.

A collector that is down, hangs or refuses costs one bounded attempt (a few retries within
the timeout), then spans are counted as dropped (``count_drop``, one log line per incident)
without waiting until ``probe_interval_s`` has passed. ``shutdown()`` ends a request in flight.
"""

from __future__ import annotations

import gzip
import logging
import os
import ssl
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._http import Availability, Outcome, Poster
from ._otel_attributes import span_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from .._core.config import Config

logger = logging.getLogger("staso_integrations")

INSTALL_HINT = "pip install 'staso-integrations[otlp]'"
SCOPE_NAME = "staso_integrations"
SCOPE_VERSION = "0.1.0"
DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT_S = 10.0
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}


class OtlpExporter:
    """Sends spans over OTLP/HTTP protobuf, mapped to the GenAI semantic conventions."""

    uses_trace_summaries = False  # OTLP has no trace object: its backends roll up themselves

    def __init__(
        self,
        config: Config | None = None,
        *,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        max_attempts: int = 3,
        probe_interval_s: float = 5.0,
    ) -> None:
        """Build the exporter.

        Raises:
            ImportError: the OpenTelemetry SDK or the OTLP exporter package is not installed.
        """
        try:
            from opentelemetry import trace as trace_api
            from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import ReadableSpan
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
            from opentelemetry.trace.status import Status, StatusCode
            from opentelemetry.util.re import parse_env_headers
        except ImportError as exc:
            raise ImportError(
                f"exporter 'otlp' needs the OpenTelemetry SDK and OTLP/HTTP exporter: {INSTALL_HINT}"
            ) from exc
        self._api = trace_api
        self._encode = encode_spans
        self._readable_span = ReadableSpan
        self._status, self._status_code = Status, StatusCode
        self._scope = InstrumentationScope(SCOPE_NAME, SCOPE_VERSION)
        self._resource = Resource.create(_resource_attributes(config))
        self.endpoint = (
            endpoint
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or (
                (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/") + "/v1/traces"
            )
        )
        self._headers = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"{SCOPE_NAME}/{SCOPE_VERSION}",
        }
        self._headers.update(parse_env_headers(_env("HEADERS") or "", liberal=True))
        self._headers.update(headers or {})
        self._compression = (_env("COMPRESSION") or "none").strip().lower()
        if self._compression in _COMPRESSORS:
            self._headers["Content-Encoding"] = self._compression
        timeout = timeout_s if timeout_s is not None else float(_env("TIMEOUT") or DEFAULT_TIMEOUT_S)
        self._poster = Poster(
            self.endpoint,
            timeout_s=timeout,
            max_attempts=max_attempts,
            backoff_s=0.25,
            backoff_max_s=2.0,
            retry_budget_s=timeout,
            tls=_tls_context(self.endpoint),
        )
        self._collector = Availability(probe_interval_s)
        self._conventions = config.otlp_conventions if config is not None else "both"
        self.exported = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"OtlpExporter(endpoint={self.endpoint!r})"

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if not spans:
            return
        if self._poster.closing.is_set() or self._collector.resting():
            self._lose(
                len(spans),
                "exporter",
                "the collector is not taking spans" if self._collector.down else "the exporter is shut down",
            )
            return
        try:
            body = self._encode([self.to_readable(span) for span in spans]).SerializePartialToString()
            if self._compression in _COMPRESSORS:
                body = _COMPRESSORS[self._compression](body)
        except Exception as exc:
            logger.debug("staso otlp: encoding failed", exc_info=True)
            self._lose(len(spans), "serialization", f"a batch could not be encoded ({exc!r})")
            return
        result = self._poster.post(body, self._headers, attempts=1 if self._collector.down else None)
        if result.outcome is Outcome.SENT:
            self.exported += len(spans)
            if self._collector.mark_up():
                logger.info("staso otlp: the collector at %s takes spans again", self.endpoint)
        elif result.outcome is Outcome.REFUSED:
            self._lose(len(spans), "rejected", f"the collector refused a batch ({result.cause})")
        elif self._poster.closing.is_set():  # shutdown cut the request off: the pipeline counts
            self.failed += len(spans)  # these spans as its own loss, so they are not counted twice
        else:
            self._collector.mark_down(result.retry_after)
            self._lose(
                len(spans),
                "exporter",
                f"the collector did not answer ({result.cause}); "
                f"spans are dropped for {self._collector.probe_interval_s:g} s, then it is tried again",
            )

    def shutdown(self) -> None:
        """Ends a request in flight at once; later batches are counted as dropped."""
        self._poster.close()

    def after_fork(self) -> None:
        """In a forked child: a fresh lock and connection."""
        self._poster.after_fork()

    def _lose(self, n: int, cause: str, why: str) -> None:
        # The drop counter logs the first loss of each cause, then one line a minute with the total.
        self.failed += n
        count_drop(cause, n, f"staso otlp at {self.endpoint}: {why}")

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


def _env(name: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``."""
    return os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(f"OTEL_EXPORTER_OTLP_{name}")


def _tls_context(endpoint: str) -> ssl.SSLContext | None:
    if not endpoint.startswith("https:"):
        return None
    context = ssl.create_default_context(cafile=_env("CERTIFICATE") or None)
    client_certificate = _env("CLIENT_CERTIFICATE")
    if client_certificate:
        context.load_cert_chain(client_certificate, _env("CLIENT_KEY") or None)
    return context
