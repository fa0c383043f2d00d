"""Sends batches to Staso ingest (``POST {base}/v1/traces/ingest``), standard library only.

Runs on the processor's thread, never the caller's. A batch is tried a few times with
exponential backoff and jitter (timeouts, connection errors, 408/5xx; 429 waits as long as
``Retry-After`` says), within ``retry_budget_s``. If the server is still unreachable the batch
goes to the on-disk spool and the exporter stops retrying: until ``probe_interval_s`` has
passed, new batches go straight to the spool, then a single attempt probes the server. Once a
batch is accepted again, the spool (also one left by an earlier process) is resent, oldest first.
401/403/422 and other 4xx are terminal: one log line naming the cause, the batch is dropped.
"""

from __future__ import annotations

import email.utils
import enum
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from email.message import Message
from typing import Any

from .._core.rollup import TraceSummary
from .._core.span import Span
from ._spool import Spool, SpoolEntry, gunzip_body, gzip_body
from ._staso_payload import encode_batch

logger = logging.getLogger("staso_integrations")

INGEST_PATH = "/v1/traces/ingest"
USER_AGENT = "staso-integrations/0.1.0"
MAX_REPLY_BYTES = 64_000
MAX_MESSAGE = 300
_TRANSIENT = (OSError, http.client.HTTPException, urllib.error.URLError)  # timeouts are OSError


class Outcome(enum.Enum):
    SENT = "sent"
    DROPPED = "dropped"  # terminal answer: resending would get the same one
    LATER = "later"  # server unreachable or busy: keep the batch


class _Batch:
    """One request body and its idempotency key, kept across retries and in the spool."""

    __slots__ = ("_gzipped", "_plain", "key", "span_count", "spooled")

    def __init__(self, key: str, span_count: int, plain: bytes | None = None, gzipped: bytes | None = None):
        self.key = key
        self.span_count = span_count
        self._plain = plain
        self._gzipped = gzipped
        self.spooled = False

    def plain(self) -> bytes:
        if self._plain is None:
            assert self._gzipped is not None
            self._plain = gunzip_body(self._gzipped)
        return self._plain

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip_body(self.plain())
        return self._gzipped


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would turn the POST into a GET and send the API key elsewhere.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class StasoExporter:
    """Staso ingest over HTTP, with retries and a spool for when the server is down."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        compress: bool = True,
        spool_dir: str = ".staso/spool",
        spool_max_bytes: int = 50_000_000,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_budget_s: float = 15.0,
        probe_interval_s: float = 10.0,
        drain_budget_s: float = 5.0,
        shutdown_wait_s: float = 1.0,
    ) -> None:
        self.url = base_url.rstrip("/") + INGEST_PATH
        self._api_key = api_key
        self.compress = compress
        self.spool = Spool(spool_dir, spool_max_bytes)
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.retry_budget_s = retry_budget_s
        self.probe_interval_s = probe_interval_s
        self.drain_budget_s = drain_budget_s
        self.shutdown_wait_s = shutdown_wait_s
        self.stats: dict[str, int] = dict.fromkeys(
            ("batches_sent", "spans_sent", "retries", "spooled_batches", "spooled_spans",
             "resent_batches", "dropped_batches", "dropped_spans", "rejected_traces",
             "receipt_spans_dropped"),
            0,
        )  # fmt: skip
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: _Batch | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._down = False
        self._down_until = 0.0
        self._spool_pending = True  # an earlier process may have left batches behind
        self._logged: set[str] = set()

    def __repr__(self) -> str:
        return f"StasoExporter(url={self.url!r})"

    # -- Exporter protocol ------------------------------------------------------------------

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if not spans and not traces:
            return
        batch = _Batch(uuid.uuid4().hex, len(spans), plain=encode_batch(spans, traces))
        if self._deliver(batch) is Outcome.SENT and self._spool_pending:
            self.drain_spool()

    def shutdown(self) -> None:
        """Stop retrying; a batch still in flight after ``shutdown_wait_s`` goes to the spool."""
        self._closing.set()
        if self._idle.wait(self.shutdown_wait_s):
            return
        with self._lock:
            batch = self._in_flight
        if batch is not None:
            # Its request may still succeed: the server drops the resent copy by its key.
            self._spool_batch(batch)

    # -- sending ----------------------------------------------------------------------------

    def _deliver(self, batch: _Batch) -> Outcome:
        if self._closing.is_set() or time.monotonic() < self._down_until:
            self._spool_batch(batch)
            return Outcome.LATER
        with self._lock:
            self._in_flight = batch
            self._idle.clear()
        try:
            outcome, cause = self._send(batch, attempts=1 if self._down else self.max_attempts)
        finally:
            with self._lock:
                self._in_flight = None
                self._idle.set()
        if outcome is Outcome.LATER:
            self._spool_batch(batch)
            self._mark_down(cause)
        elif outcome is Outcome.SENT:
            self._mark_up()
        return outcome

    def drain_spool(self) -> int:
        """Resend spooled batches, oldest first, within ``drain_budget_s``; returns how many went."""
        deadline = time.monotonic() + self.drain_budget_s
        sent = 0
        entries = self.spool.entries()
        for entry in entries:
            if self._closing.is_set() or time.monotonic() > deadline:
                return sent
            outcome = self._resend(entry)
            if outcome is Outcome.LATER:
                return sent
            sent += outcome is Outcome.SENT
        self._spool_pending = False
        if entries:
            logger.info("staso ingest: resent %d spooled batches", sent)
        return sent

    def _resend(self, entry: SpoolEntry) -> Outcome:
        try:
            batch = _Batch(entry.key, entry.span_count, gzipped=self.spool.read(entry))
            batch.plain()  # a damaged file fails here, not in the middle of a request
        except OSError:  # gone: another process sent it
            return Outcome.DROPPED
        except Exception:
            self.spool.drop(entry, "damaged spool file")
            return Outcome.DROPPED
        outcome, cause = self._send(batch, attempts=1)
        if outcome is Outcome.LATER:
            self._mark_down(cause)
            return outcome
        self.spool.remove(entry)
        if outcome is Outcome.SENT:
            self.stats["resent_batches"] += 1
        return outcome

    def _send(self, batch: _Batch, attempts: int) -> tuple[Outcome, str]:
        """Try ``batch`` up to ``attempts`` times within the retry budget."""
        deadline = time.monotonic() + self.retry_budget_s
        cause = ""
        wait = 0.0
        for attempt in range(attempts):
            if attempt:
                wait = wait or self._backoff(attempt)
                if time.monotonic() + wait > deadline or self._closing.wait(wait):
                    break
                self.stats["retries"] += 1
            wait = 0.0
            try:
                status, headers, body = self._post(
                    batch, max(0.05, min(self.timeout_s, deadline - time.monotonic()))
                )
            except _TRANSIENT as exc:
                cause = f"{type(exc).__name__}: {_reason(exc)}"
                continue
            if 200 <= status < 300:
                self._check_receipt(batch, body)
                return Outcome.SENT, ""
            cause = f"HTTP {status}"
            if status == 429 or status == 408 or status >= 500:
                retry_after = _retry_after(headers) if status in (429, 503) else None
                if retry_after is not None:
                    wait = retry_after
                    # Respect it even when it is longer than our budget: probe again after it.
                    self._down_until = max(self._down_until, time.monotonic() + retry_after)
                continue
            self._terminal(batch, status, body)
            return Outcome.DROPPED, cause
        return Outcome.LATER, cause

    def _post(self, batch: _Batch, timeout: float) -> tuple[int, Message, bytes]:
        headers = {
            "X-API-Key": self._api_key,
            "Content-Type": "application/json",
            "Idempotency-Key": batch.key,
            "User-Agent": USER_AGENT,
        }
        if self.compress:
            headers["Content-Encoding"] = "gzip"
        body = batch.gzipped() if self.compress else batch.plain()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return response.status, response.headers, response.read(MAX_REPLY_BYTES)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read(MAX_REPLY_BYTES)

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)  # jitter: processes that failed together spread out

    # -- outcomes ---------------------------------------------------------------------------

    def _check_receipt(self, batch: _Batch, body: bytes) -> None:
        self.stats["batches_sent"] += 1
        self.stats["spans_sent"] += batch.span_count
        try:
            receipt = json.loads(body or b"{}")
        except ValueError:
            receipt = None
        if not isinstance(receipt, dict) or "accepted" not in receipt:
            self._log_once("receipt", "staso ingest answered 2xx without a receipt (no 'accepted' field)")
            return
        rejected = _count(receipt.get("rejected"))
        dropped = _count(receipt.get("spans_dropped"))
        self.stats["rejected_traces"] += rejected
        self.stats["receipt_spans_dropped"] += dropped
        if rejected or dropped:
            reasons = receipt.get("errors") or receipt.get("rejections") or receipt.get("detail")
            logger.warning(
                "staso ingest receipt %s: accepted %s, rejected %d traces, dropped %d spans%s",
                receipt.get("receipt_id"),
                receipt.get("accepted"),
                rejected,
                dropped,
                f": {self._clean(json.dumps(reasons, default=str))}" if reasons else "",
            )

    def _terminal(self, batch: _Batch, status: int, body: bytes) -> None:
        self.stats["dropped_batches"] += 1
        self.stats["dropped_spans"] += batch.span_count
        message = self._clean(_server_message(body))
        if status in (401, 403):
            cause = f"the API key was refused (HTTP {status}); check STASO_API_KEY"
        elif status == 422:
            cause = "the batch was rejected as invalid (HTTP 422)"
        else:
            cause = f"the batch was refused (HTTP {status})"
        detail = f": {message}" if message else ""
        self._log_once(
            f"{status}:{message}",
            f"staso ingest: {cause}{detail}; {batch.span_count} spans dropped",
            level=logging.ERROR,
        )

    def _spool_batch(self, batch: _Batch) -> None:
        with self._lock:
            if batch.spooled:
                return
            batch.spooled = True
        try:
            self.spool.put(batch.key, batch.gzipped(), batch.span_count)
        except OSError as exc:
            self.stats["dropped_batches"] += 1
            self.stats["dropped_spans"] += batch.span_count
            logger.warning("staso spool: could not write to %s (%s); %d spans lost",
                           self.spool.directory, exc, batch.span_count)  # fmt: skip
            return
        self.stats["spooled_batches"] += 1
        self.stats["spooled_spans"] += batch.span_count
        self._spool_pending = True

    def _mark_down(self, cause: str) -> None:
        self._down_until = max(self._down_until, time.monotonic() + self.probe_interval_s)
        if not self._down:
            self._down = True
            logger.warning(
                "staso ingest not taking batches at %s (%s); spooling them to %s until it does",
                self.url, cause, self.spool.directory,
            )  # fmt: skip

    def _mark_up(self) -> None:
        self._down_until = 0.0
        if self._down:
            self._down = False
            logger.info("staso ingest reachable again at %s", self.url)

    def _log_once(self, key: str, message: str, level: int = logging.WARNING) -> None:
        # Every batch after a bad key or a bad setting fails the same way: say it once.
        logger.log(level if key not in self._logged else logging.DEBUG, message)
        self._logged.add(key)

    def _clean(self, text: str) -> str:
        # The server may echo what it received; the key must never reach a log line.
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def _server_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "errors"):
            if data.get(key):
                value = data[key]
                return value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(data, default=str)


def _retry_after(headers: Message) -> float | None:
    raw = headers.get("Retry-After")
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


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    return value if isinstance(value, int) else 0
