"""Export to an OpenTelemetry collector over OTLP/HTTP (GenAI semantic conventions).

    python examples/otlp_export.py           # offline: replayed OpenAI call, local receiver
    python examples/otlp_export.py --live    # real API (OPENAI_API_KEY); OTEL_EXPORTER_OTLP_ENDPOINT
                                             # is used when set, else the local receiver

Offline there is no collector to send to, so this starts a tiny OTLP/HTTP receiver on
127.0.0.1 (the same protobuf a Jaeger, Tempo or OTel Collector would receive) and prints
what arrived: span names and their ``gen_ai.*`` attributes.
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _replay import offline_unless_live
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import staso_integrations as st

RECEIVED: list[Any] = []


class Receiver(BaseHTTPRequestHandler):
    """Accepts ``POST /v1/traces`` (protobuf), keeps the spans, answers like a collector."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                RECEIVED.extend(scope_spans.spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:  # keep the example's output readable
        pass


def _plain(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a Python value."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


receiver = None
if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_address[1]}"

st.init(agent_name="otlp-demo", exporter=["otlp", "console"], source_type="sandbox")
st.instrument_all()

from openai import OpenAI

with offline_unless_live("otlp_export"):
    client = OpenAI(max_retries=0)
    with st.span("summarize", kind="chain"):
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Summarize OpenTelemetry in one sentence."}],
        )
    print(reply.choices[0].message.content)

st.flush(timeout=30)  # delivered before we read the receiver, however busy the machine is
st.shutdown()
if receiver is not None:
    receiver.shutdown()
    print(f"local OTLP receiver got {len(RECEIVED)} spans:")
    for span in RECEIVED:
        gen_ai = {a.key: _plain(a.value) for a in span.attributes if a.key.startswith("gen_ai.")}
        print(f"  {span.name}: {gen_ai}")
