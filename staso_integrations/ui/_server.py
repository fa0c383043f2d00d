"""The viewer's HTTP server: static pages and a small read-only JSON API, on loopback only.

Safety: the socket binds 127.0.0.1; a request whose Host header is not this server (a DNS
rebinding page, another machine's name) is refused; only GET and HEAD exist; every page carries a
Content-Security-Policy that allows no inline script, and the pages build their DOM from text
nodes, so nothing stored in a trace is ever parsed as HTML.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import _queries
from ._queries import StoreUnavailable, TraceQuery

HOST = "127.0.0.1"
PAGES = ("/", "/trace/", "/session/", "/conversation/")
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STORE_ERROR_STATUS = {"missing": HTTPStatus.SERVICE_UNAVAILABLE, "locked": HTTPStatus.SERVICE_UNAVAILABLE}


def _static(name: str) -> bytes | None:
    resource = resources.files(__package__).joinpath("static", name)
    return resource.read_bytes() if resource.is_file() else None


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, db: str, port: int) -> None:
        self.db = db
        super().__init__((HOST, port), ViewerHandler)
        self.allowed_hosts = {f"{HOST}:{self.server_port}", f"localhost:{self.server_port}"}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_port}/"


class ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "staso-ui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would bury the URL the user needs

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            self._send(
                HTTPStatus.FORBIDDEN,
                b"refused: this viewer answers only to "
                + " or ".join(sorted(self.server.allowed_hosts)).encode(),
                "text/plain; charset=utf-8",
            )
            return
        url = urlsplit(self.path)
        path = unquote(url.path)
        params = dict(parse_qsl(url.query))
        if path.startswith("/api/"):
            self._api(path[len("/api/") :], params)
        elif path.startswith("/static/") and "/" not in path[len("/static/") :]:
            self._file(path[len("/static/") :])
        elif path == "/" or any(path.startswith(page) and len(path) > len(page) for page in PAGES[1:]):
            self._file("index.html")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"no page at {path}"})

    def _other_method(self) -> None:
        self._json(
            HTTPStatus.METHOD_NOT_ALLOWED, {"error": "read_only", "message": "the viewer is read-only"}
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _other_method  # noqa: N815 - http.server's method names

    def _api(self, route: str, params: dict[str, str]) -> None:
        name, _, rest = route.partition("/")
        handler = API.get(name)
        if handler is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"no API /api/{route}"})
            return
        try:
            conn = _queries.open_readonly(self.server.db)
            try:
                status, body = handler(conn, rest, params)
            except sqlite3.Error as exc:
                raise _queries.classify(self.server.db, exc) from None
            finally:
                conn.close()
        except StoreUnavailable as exc:
            status = STORE_ERROR_STATUS.get(exc.kind, HTTPStatus.INTERNAL_SERVER_ERROR)
            body = {"error": exc.kind, "message": exc.message, "hint": exc.hint, "db": self.server.db}
        except ValueError as exc:
            status, body = HTTPStatus.BAD_REQUEST, {"error": "bad_request", "message": str(exc)}
        self._json(status, body)

    def _file(self, name: str) -> None:
        suffix = name[name.rfind(".") :]
        content = _static(name) if suffix in STATIC_TYPES and not name.startswith(".") else None
        if content is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"no file {name}"})
            return
        self._send(HTTPStatus.OK, content, STATIC_TYPES[suffix])

    def _json(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body, default=str, ensure_ascii=False).encode()
        self._send(status, data, "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for header, value in SECURITY_HEADERS.items():
            self.send_header(header, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


Response = tuple[HTTPStatus, Any]


def _traces(conn: sqlite3.Connection, rest: str, params: dict[str, str]) -> Response:
    return HTTPStatus.OK, _queries.list_traces(conn, TraceQuery.from_params(params))


def _facets(conn: sqlite3.Connection, rest: str, params: dict[str, str]) -> Response:
    return HTTPStatus.OK, _queries.facets(conn)


def _trace(conn: sqlite3.Connection, trace_id: str, params: dict[str, str]) -> Response:
    found = _queries.get_trace(conn, trace_id)
    if found is None:
        return HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"no trace {trace_id} in the store"}
    return HTTPStatus.OK, found


def _turns(group: str) -> Callable[[sqlite3.Connection, str, dict[str, str]], Response]:
    def handler(conn: sqlite3.Connection, group_id: str, params: dict[str, str]) -> Response:
        return HTTPStatus.OK, {"turns": _queries.turns(conn, group, group_id)}

    return handler


API: dict[str, Callable[[sqlite3.Connection, str, dict[str, str]], Response]] = {
    "traces": _traces,
    "facets": _facets,
    "trace": _trace,
    "session": _turns("session"),
    "conversation": _turns("conversation"),
}


def serve(db: str, port: int, open_browser: bool = False) -> int:
    """Serve the viewer until interrupted; the exit status for the CLI."""
    try:
        server = ViewerServer(db, port)
    except OSError as exc:
        print(
            f"error: cannot listen on {HOST}:{port} ({exc.strerror}): pass --port N (0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    try:  # from here on, Ctrl+C at any moment is a clean stop
        print(f"staso trace viewer on {server.url} (store {db}, read-only); Ctrl+C stops it", flush=True)
        if open_browser:  # a browser command may block until it exits: never on the serving thread
            threading.Thread(
                target=_open_browser, args=(server.url,), name="staso-ui-open", daemon=True
            ).start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _open_browser(url: str) -> None:
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except (webbrowser.Error, OSError):
        opened = False
    if not opened:
        print(f"no browser could be started: open {url} yourself", file=sys.stderr, flush=True)
