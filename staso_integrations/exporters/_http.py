"""The exporters' own HTTP/1.1 client over ``socket`` + ``ssl``, and one retry loop for both.

Why not urllib, ``http.client``, requests or httpx: cassette libraries (vcrpy under
pytest-recording) and HTTP instrumentations patch those, so our exports would land in a
user's cassettes or be traced as the app's traffic. They leave sockets alone; a network
block (pytest-recording's ``--block-network`` replaces ``socket.connect``) still applies and
fails a request like a refused connection. Owning the socket also gives one deadline per
request (a server that trickles bytes cannot stretch it) and :meth:`Poster.close`, which
ends a request in flight at once from another thread (shutdown).
"""

from __future__ import annotations

import email.utils
import enum
import random
import socket
import ssl
import threading
import time
from typing import NamedTuple
from urllib.parse import urlsplit

MAX_REPLY_BYTES = 64_000
_MAX_LINE = 65_536
_MAX_HEADERS = 100


class Response(NamedTuple):
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Outcome(enum.Enum):
    SENT = "sent"
    REFUSED = "refused"  # a 4xx other than 408/429: sending it again would get the same answer
    LATER = "later"  # unreachable, too slow or busy: the batch may go through later


class Result(NamedTuple):
    outcome: Outcome
    response: Response | None
    cause: str  # why it was not sent, for a log line ("" when sent)
    retry_after: float | None  # seconds the server asked us to wait (429/503)


class Connection:
    """One keep-alive connection to ``url``'s host; requests run one at a time."""

    def __init__(self, url: str, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"URL {url!r} is not an http(s) URL with a host")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 literal
        default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
        self.host_header = host if default_port else f"{host}:{parts.port}"
        self._tls = (tls or ssl.create_default_context()) if parts.scheme == "https" else None
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._aborted = False

    def post(self, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """Send one POST; raises ``OSError`` (``TimeoutError``, ``ConnectionError``...) on failure."""
        deadline = time.monotonic() + timeout
        reused = self._sock is not None
        try:
            return self._exchange(body, headers, deadline)
        except _NothingReceived:
            self.close()
            if not reused:
                raise ConnectionError("the server closed the connection without an answer") from None
        except BaseException:
            self.close()
            raise
        try:  # a kept-alive connection the server had closed meanwhile: once more on a fresh one
            return self._exchange(body, headers, deadline)
        except BaseException:
            self.close()
            raise

    def abort(self) -> None:
        """End a request in flight on another thread (it raises there); later ones fail at once."""
        self._aborted = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            sock.close()

    def _exchange(self, body: bytes, headers: dict[str, str], deadline: float) -> Response:
        sock = self._sock or self._connect(deadline)
        lines = [f"POST {self.target} HTTP/1.1", f"Host: {self.host_header}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        _settimeout(sock, deadline)
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            status_line = self._readline(deadline)
        except (ConnectionError, ssl.SSLEOFError):
            raise _NothingReceived from None
        if not status_line:
            raise _NothingReceived
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        response_headers = self._read_headers(deadline)
        if status in (204, 304) or status < 200:  # no body, whatever the headers say
            body_out, reusable = b"", True
        else:
            body_out, reusable = self._read_body(response_headers, deadline)
        if not reusable or response_headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, response_headers, body_out)

    def _connect(self, deadline: float) -> socket.socket:
        if self._aborted:
            raise ConnectionAbortedError("the exporter is shutting down")
        sock = _open_socket(self.host, self.port, deadline)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                _settimeout(sock, deadline)
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        if self._aborted:  # shutdown came while we were connecting
            sock.close()
            raise ConnectionAbortedError("the exporter is shutting down")
        self._sock = sock
        return sock

    def _readline(self, deadline: float) -> bytes:
        """One line without its CRLF; ``b""`` for an empty line or when the server closed."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > _MAX_LINE:
                raise ConnectionError("answer line too long")
            if not self._fill(deadline):
                line = bytes(self._buffer)
                self._buffer.clear()
                return line
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line.rstrip(b"\r")

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            if not self._fill(deadline):
                raise ConnectionError("the server closed the connection mid-answer")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self, deadline: float) -> bool:
        sock = self._sock
        if sock is None:
            raise ConnectionAbortedError("the exporter is shutting down")
        _settimeout(sock, deadline)
        chunk = sock.recv(65_536)
        self._buffer += chunk
        return bool(chunk)

    def _read_headers(self, deadline: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = self._readline(deadline)
            if not line:
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ConnectionError("too many header lines in the answer")

    def _read_body(self, headers: dict[str, str], deadline: float) -> tuple[bytes, bool]:
        """(body up to MAX_REPLY_BYTES, whether the connection can carry another request)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self._readline(deadline).split(b";")[0] or b"0", 16)
                if size == 0:
                    while self._readline(deadline):  # trailers
                        pass
                    return bytes(body[:MAX_REPLY_BYTES]), True
                if len(body) + size > MAX_REPLY_BYTES * 4:
                    return bytes(body[:MAX_REPLY_BYTES]), False
                body += self._read_exactly(size, deadline)
                self._readline(deadline)
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            size = int(length)
            if size > MAX_REPLY_BYTES:
                return self._read_exactly(MAX_REPLY_BYTES, deadline), False
            return self._read_exactly(size, deadline), True
        while len(self._buffer) < MAX_REPLY_BYTES and self._fill(deadline):
            pass  # no length: the body runs until the server closes
        return bytes(self._buffer[:MAX_REPLY_BYTES]), False


class Poster:
    """POSTs a body with retries: timeouts, connection errors, 408, 429 and 5xx are tried again
    with exponential backoff and jitter within ``retry_budget_s``; ``close()`` stops it all.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        backoff_max_s: float,
        retry_budget_s: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.retry_budget_s = retry_budget_s
        self.closing = threading.Event()
        self.retries = 0
        self._tls = tls
        self._connection = Connection(url, tls)  # also checks the URL at construction
        self._lock = threading.Lock()

    def post(self, body: bytes, headers: dict[str, str], attempts: int | None = None) -> Result:
        """Try up to ``attempts`` (default ``max_attempts``) times; never raises ``OSError``."""
        with self._lock:
            return self._post(body, headers, attempts or self.max_attempts)

    def close(self) -> None:
        """Abort a request in flight and the backoff; every later ``post`` answers LATER at once."""
        self.closing.set()
        self._connection.abort()
        if self._lock.acquire(blocking=False):  # idle: close now (a request in flight closes itself)
            try:
                self._connection.close()
            finally:
                self._lock.release()

    def after_fork(self) -> None:
        """In a forked child: a fresh lock and connection (closing our copy of the parent's
        socket leaves the parent's connection open; only ``shutdown()`` would end it).
        """
        self._lock = threading.Lock()
        self._connection.close()
        self._connection = Connection(self.url, self._tls)

    def _post(self, body: bytes, headers: dict[str, str], attempts: int) -> Result:
        deadline = time.monotonic() + self.retry_budget_s
        cause = "shutting down"
        retry_after: float | None = None
        for attempt in range(attempts):
            if self.closing.is_set():
                break
            if attempt:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if time.monotonic() + wait > deadline or self.closing.wait(wait):
                    break
                self.retries += 1
            retry_after = None
            try:
                response = self._connection.post(body, headers, min(self.timeout_s, _remaining(deadline)))
            except (OSError, ValueError) as exc:  # ValueError: a malformed answer (bad chunk size)
                cause = _describe(exc) if not self.closing.is_set() else "shutting down"
                continue
            status = response.status
            if 200 <= status < 300:
                return Result(Outcome.SENT, response, "", None)
            cause = f"HTTP {status}"
            if status not in (408, 429) and status < 500:
                return Result(Outcome.REFUSED, response, cause, None)
            if status in (429, 503):
                retry_after = _retry_after(response.headers.get("retry-after"))
        return Result(Outcome.LATER, None, cause, retry_after)

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)  # jitter: processes that failed together spread out


class _NothingReceived(Exception):
    """The server closed before a single byte of answer (a stale kept-alive connection)."""


def _open_socket(host: str, port: int, deadline: float) -> socket.socket:
    """``socket.create_connection``, but a socket whose ``connect`` raises something other than
    ``OSError`` (a test suite's network block: pytest-recording, pytest-socket) is closed too.
    """
    error: OSError = ConnectionError(f"no address for {host}")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            _settimeout(sock, deadline)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except Exception as exc:
            sock.close()
            raise ConnectionRefusedError(str(exc)) from exc
    raise error


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _settimeout(sock: socket.socket, deadline: float) -> None:
    sock.settimeout(_remaining(deadline))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retry_after(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Availability:
    """Whether a server is taking requests: after a failure it is left alone for
    ``probe_interval_s`` (or as long as its ``Retry-After`` asked), then probed once.
    """

    def __init__(self, probe_interval_s: float) -> None:
        self.probe_interval_s = probe_interval_s
        self.down = False
        self.until = 0.0  # monotonic time before which we do not try

    def resting(self) -> bool:
        return self.down and time.monotonic() < self.until

    def mark_down(self, retry_after: float | None = None) -> bool:
        """Returns ``True`` when this starts an incident (the one to log)."""
        wait = max(self.probe_interval_s, retry_after or 0.0)  # Retry-After is respected past our budget
        self.until = max(self.until, time.monotonic() + wait)
        started, self.down = not self.down, True
        return started

    def mark_up(self) -> bool:
        """Returns ``True`` when this ends an incident."""
        ended, self.down, self.until = self.down, False, 0.0
        return ended
