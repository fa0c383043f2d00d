"""Sends batches to a platform's batch endpoint over HTTP, standard library only.

Write-ahead: ``export()`` (on the processor's thread) writes each batch to the on-disk spool,
claimed by this process, and hands it to the exporter's own sender thread; the file is
deleted once the server confirms it (2xx) or refuses it for good (401/403/422, other 4xx:
one log line naming the cause, counted as ``rejected``). So a ``kill -9`` while the server
hangs or fails loses only what the processor had not exported yet, and the processor never
waits on the network: at exit its queue lands in the spool.

The sender tries a batch a few times with backoff and jitter (timeouts, connection errors,
408/5xx; 429 waits as long as ``Retry-After`` says) within ``retry_budget_s``. If the server
is still unreachable, the batch's file is released and the exporter stops trying until
``probe_interval_s`` has passed: new batches go straight to the spool, then a single attempt
with the oldest file probes the server. The sender also delivers what earlier processes
left in the spool, starting when the exporter is built (off the caller's thread).

A subclass (``staso.py``, ``decimalai.py``) gives the body, the authentication and what a 2xx
answer means.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

from .._core.drops import count_drop
from .._core.rollup import TraceSummary
from .._core.span import Span
from ._http import Availability, Outcome, Poster, Response
from ._spool import Spool, SpoolEntry, gunzip_body, gzip_body

logger = logging.getLogger("staso_integrations")

USER_AGENT = "staso-integrations/0.1.0"
MAX_MESSAGE = 300
OUTBOX_MAX = 16  # batches kept in memory for the sender; more wait in the spool only


class Batch:
    """One request body, its idempotency key (kept across retries and processes), its file."""

    __slots__ = ("entry", "gzipped", "key", "plain", "resent", "span_count")

    def __init__(
        self,
        key: str,
        span_count: int,
        gzipped: bytes,
        entry: SpoolEntry | None,
        plain: bytes | None = None,
        resent: bool = False,
    ) -> None:
        self.key = key
        self.span_count = span_count
        self.gzipped = gzipped
        self.plain = plain
        self.entry = entry
        self.resent = resent


class SpooledExporter:
    """Batches POSTed to ``base_url + path``, with a write-ahead spool and its own sender thread.

    A subclass says how a batch is encoded, how it authenticates and what a 2xx answer means.
    """

    label: ClassVar[str]  # names the exporter in log lines and its sender thread
    service: ClassVar[str]  # names the server in log lines
    path: ClassVar[str]  # appended to the base URL
    key_variable: ClassVar[str]  # where the API key comes from, for the refusal line

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
        shutdown_wait_s: float = 2.0,
    ) -> None:
        self.url = base_url.rstrip("/") + self.path
        self._api_key = api_key
        self.compress = compress
        self.spool = Spool(spool_dir, spool_max_bytes)
        self.shutdown_wait_s = shutdown_wait_s
        self._poster = Poster(
            self.url,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            retry_budget_s=retry_budget_s,
        )
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "batches_sent",
                "spans_sent",
                "retries",
                "spooled_batches",
                "spooled_spans",
                "resent_batches",
                "dropped_batches",
                "dropped_spans",
                "rejected_traces",
                "receipt_spans_dropped",
            ),
            0,
        )
        self._logged: set[str] = set()
        self._server = Availability(probe_interval_s)
        self._reset_sender_state()
        self._wake_sender()  # an earlier process may have left batches behind

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    # -- what a subclass provides -----------------------------------------------------------

    def encode(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> bytes:
        raise NotImplementedError

    def auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def check_receipt(self, batch: Batch, body: bytes) -> None:
        """A 2xx answer (the batch is counted as sent): say what the server did not take."""
        raise NotImplementedError

    # -- Exporter protocol ------------------------------------------------------------------

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if not spans and not traces:
            return
        try:
            plain = self.encode(spans, traces)
            gzipped = gzip_body(plain)
        except Exception as exc:
            count_drop("serialization", len(spans), f"{self.label}: a batch could not be encoded ({exc!r})")
            logger.debug("%s batch encoding failed", self.label, exc_info=True)
            return
        key = uuid.uuid4().hex
        with self._cond:
            direct = (
                not self._closing.is_set() and not self._server.resting() and len(self._outbox) < OUTBOX_MAX
            )
        try:
            entry: SpoolEntry | None = self.spool.put(key, gzipped, len(spans), claimed=direct)
        except OSError as exc:
            self._log_once(
                "spool-write",
                f"{self.label} spool: cannot write to {self.spool.directory} ({exc}); "
                "batches are sent from memory only",
            )
            entry = None
            if not direct:
                self._lose(len(spans), f"not sent and not spooled ({exc})")
                return
        with self._cond:
            if direct:
                self._outbox.append(Batch(key, len(spans), gzipped, entry, None if self.compress else plain))
            else:
                self._spool_news += 1
                self.stats["spooled_batches"] += 1
                self.stats["spooled_spans"] += len(spans)
            self._wake_sender()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the batches handed to the sender are sent or back in the spool."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self) -> None:
        """Give the sender up to ``shutdown_wait_s`` to deliver, then stop it; what is left stays
        in the spool for a later process (the server drops a copy it already took by its key).
        """
        if not self._server.down:
            self.flush(self.shutdown_wait_s)
        self._poster.close()  # aborts the request in flight and the backoff
        with self._cond:
            left, sender = list(self._outbox), self._sender
            self._outbox.clear()
            self._cond.notify_all()
        self._park(left)
        if sender is not None and sender is not threading.current_thread():
            sender.join(0.5)

    def after_fork(self) -> None:
        """In a forked child: fresh locks, connection and sender; the parent's batches stay its own."""
        self._poster.after_fork()
        self.spool = Spool(self.spool.directory, self.spool.max_bytes)
        self._reset_sender_state()

    # -- the sender thread ------------------------------------------------------------------

    def _reset_sender_state(self) -> None:
        self._closing = self._poster.closing
        self._cond = threading.Condition()
        self._outbox: collections.deque[Batch] = collections.deque()
        self._sending = False
        self._sender: threading.Thread | None = None
        self._spool_news = 1  # bumped for every batch spooled without the sender: look again
        self._candidates: collections.deque[SpoolEntry] = collections.deque()

    def _idle(self) -> bool:
        if self._outbox or self._sending:
            return False
        return not self._spool_news or self._sender is None or self._server.resting()

    def _wake_sender(self) -> None:
        with self._cond:
            if self._sender is None and not self._closing.is_set():
                self._sender = threading.Thread(target=self._run, name=f"{self.label}-sender", daemon=True)
                self._sender.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception:
                logger.warning("%s sender failed on a batch; it stays in the spool", self.label)
                logger.debug("%s sender failure", self.label, exc_info=True)
                self._park([batch])
            finally:
                with self._cond:
                    self._sending = False
                    self._cond.notify_all()

    def _next_batch(self) -> Batch | None:
        """The next batch to send (this process's first, then the spool's), or ``None``: stop."""
        while True:
            with self._cond:
                if self._closing.is_set() or (not self._outbox and not self._spool_news):
                    self._sender = None
                    self._cond.notify_all()
                    return None
                wait = self._server.until - time.monotonic()
                if self._server.down and wait > 0:
                    self._cond.wait(wait)
                    continue
                self._sending = True
                if self._outbox:
                    return self._outbox.popleft()
                news = self._spool_news
            batch = self._claim_from_spool()
            if batch is not None:
                return batch
            with self._cond:
                self._sending = False
                if self._spool_news == news:  # nothing spooled while we looked: the spool is done
                    self._spool_news = 0
                self._cond.notify_all()

    def _claim_from_spool(self) -> Batch | None:
        if not self._candidates:
            self._candidates.extend(self.spool.claimable())
        while self._candidates:
            entry = self.spool.claim(self._candidates.popleft())
            if entry is None:
                continue  # another process took it
            try:
                gzipped = self.spool.read(entry)
            except OSError:
                self.spool.release(entry)
                continue
            try:
                plain = gunzip_body(gzipped)  # a damaged file fails here, not mid-request
            except (OSError, EOFError, zlib.error):
                self.spool.drop(entry, "exporter", "a damaged batch file")
                continue
            return Batch(entry.key, entry.span_count, gzipped, entry, None if self.compress else plain, True)
        return None

    def _deliver(self, batch: Batch) -> None:
        headers = {
            **self.auth_headers(),
            "Content-Type": "application/json",
            "Idempotency-Key": batch.key,
            "User-Agent": USER_AGENT,
        }
        if self.compress:
            headers["Content-Encoding"] = "gzip"
        body = batch.gzipped if batch.plain is None else batch.plain
        result = self._poster.post(body, headers, attempts=1 if self._server.down else None)
        self.stats["retries"] = self._poster.retries
        if result.outcome is Outcome.LATER:
            if not self._closing.is_set() and self._server.mark_down(result.retry_after):
                logger.warning(
                    "%s not taking batches at %s (%s); they wait in the spool at %s until it does",
                    self.service,
                    self.url,
                    result.cause,
                    self.spool.directory,
                )
            with self._cond:
                waiting = list(self._outbox)
                self._outbox.clear()
            self._park([batch, *waiting])
            return
        if batch.entry is not None:
            self.spool.remove(batch.entry)
        assert result.response is not None
        if result.outcome is Outcome.SENT:
            if self._server.mark_up():
                logger.info("%s reachable again at %s", self.service, self.url)
            self.stats["resent_batches"] += batch.resent
            self.stats["batches_sent"] += 1
            self.stats["spans_sent"] += batch.span_count
            self.check_receipt(batch, result.response.body)
        else:
            self._refused(batch, result.response)

    def _park(self, batches: list[Batch]) -> None:
        """Leave batches in the spool for a later attempt, by us or another process."""
        for batch in batches:
            if batch.entry is None:
                self._lose(batch.span_count, "the server did not take them and the spool is not writable")
                continue
            self.spool.release(batch.entry)
            if not batch.resent:  # a probe with a spool file is not news
                self.stats["spooled_batches"] += 1
                self.stats["spooled_spans"] += batch.span_count
        if batches:
            with self._cond:
                self._spool_news += 1

    # -- outcomes ---------------------------------------------------------------------------

    def _refused(self, batch: Batch, response: Response) -> None:
        status = response.status
        self.stats["dropped_batches"] += 1
        self.stats["dropped_spans"] += batch.span_count
        message = self._clean(server_message(response.body))
        if status in (401, 403):
            cause = f"the API key was refused (HTTP {status}); check {self.key_variable}"
        elif status == 422:
            cause = "the batch was rejected as invalid (HTTP 422)"
        else:
            cause = f"the batch was refused (HTTP {status})"
        # The drop counter's line is the one line of this incident (then one a minute).
        count_drop(
            "rejected", batch.span_count, f"{self.service}: {cause}" + (f": {message}" if message else "")
        )

    def _lose(self, span_count: int, why: str) -> None:
        self.stats["dropped_batches"] += 1
        self.stats["dropped_spans"] += span_count
        count_drop("exporter", span_count, f"{self.label}: {why}")

    def _log_once(self, key: str, message: str) -> None:
        # Every batch after a bad setting fails the same way: say it once.
        logger.log(logging.WARNING if key not in self._logged else logging.DEBUG, message)
        self._logged.add(key)

    def _clean(self, text: str) -> str:
        # The server may echo what it received; the key must never reach a log line.
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "…"


def server_message(body: bytes) -> str:
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


def count_items(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    return value if isinstance(value, int) else 0
