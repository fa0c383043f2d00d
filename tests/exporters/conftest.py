"""Real HTTP servers on 127.0.0.1 for the exporter tests: a Staso ingest server and an OTLP receiver."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_SOURCE_TYPES = {"production", "sandbox", "test", "eval_replay", "evaluation", "sdk", "manual",
                 "synthetic", "development", "sample", "demo"}  # fmt: skip


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes  # as it came over the wire
    payload: Any = None  # decoded


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; bytes as is; None -> a receipt (ingest) / empty (otlp)
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0  # wait this long before answering


class Server:
    """A ThreadingHTTPServer in a thread; answers from ``script`` in order, then ``default``."""

    def __init__(self, decode: Any, default: Reply, port: int = 0) -> None:
        self.decode = decode
        self.default = default
        self.script: list[Reply] = []
        self.received: list[Received] = []
        self.port = port
        self._httpd: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                reply = server.script.pop(0) if server.script else server.default
                if reply.hang_s:
                    time.sleep(reply.hang_s)
                try:
                    body = raw
                    if item.headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(raw)
                    item.payload = server.decode(body)
                except Exception as exc:  # a schema error is the client's bug: 422 like the real server
                    reply = Reply(422, {"detail": f"invalid payload: {exc}"})
                server.received.append(item)
                self._answer(reply, item)

            def _answer(self, reply: Reply, item: Received) -> None:
                body = reply.body
                if body is None and reply.status < 300 and isinstance(item.payload, dict):
                    traces = item.payload["traces"]
                    body = {"accepted": len(traces), "rejected": 0, "spans_dropped": 0,
                            "receipt_id": f"rcpt-{len(server.received)}"}  # fmt: skip
                elif (
                    body is None and reply.status < 300 and isinstance(item.payload, list)
                ):  # a DecimalAI batch
                    body = {
                        "count": len(item.payload),
                        "trace_ids": [t["id"] for t in item.payload],
                        "errors": [],
                    }
                data = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self._httpd = _QuietServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def payloads(self) -> list[Any]:
        return [item.payload for item in self.received if item.payload is not None]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that timed out and left: expected in the hang tests


def validate_ingest(body: bytes) -> dict[str, Any]:
    """The ingest schema of DESIGN.md section 3, checked the way the server would."""
    payload = json.loads(body)
    assert isinstance(payload["traces"], list) and payload["traces"], "traces must be a non-empty list"
    for trace in payload["traces"]:
        assert _HEX32.match(trace["trace_id"]), f"bad trace_id {trace['trace_id']!r}"
        assert isinstance(trace["timestamp"], str) and trace["timestamp"].endswith("Z")
        assert isinstance(trace["environment"], str)
        assert "workspace_slug" in trace
        if trace["source_type"] not in _SOURCE_TYPES:
            raise ValueError(f"source_type {trace['source_type']!r} is not allowed")
        for span in trace["spans"]:
            assert span["trace_id"] == trace["trace_id"]
            assert _HEX16.match(span["span_id"])
            assert span["parent_span_id"] is None or _HEX16.match(span["parent_span_id"])
            assert span["name"] and span["kind"] and isinstance(span["start_ns"], int)
    return payload


def decode_otlp(body: bytes) -> Any:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return request


@pytest.fixture
def ingest_server() -> Iterator[Server]:
    server = Server(validate_ingest, Reply(200))
    yield server
    server.stop()


@pytest.fixture
def otlp_receiver() -> Iterator[Server]:
    server = Server(decode_otlp, Reply(200, b""))
    yield server
    server.stop()
