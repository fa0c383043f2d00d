"""What the pipeline could not deliver, counted per cause and logged at most once a minute each.

Every place that loses a span (or a whole batch) calls :func:`count_drop` with one of
:data:`DROP_CAUSES`; ``st.stats()`` and ``doctor`` read :func:`drop_counts`.
"""

from __future__ import annotations

import logging
import os
import threading
import time

logger = logging.getLogger("staso_integrations")

DROP_CAUSES: tuple[str, ...] = (
    "queue_full",  # the bounded queue was full when a span ended
    "exporter",  # an exporter failed to take a batch (counted per exporter, in spans)
    "serialization",  # a span could not be made into a payload even after the fallbacks
    "sampling_buffer",  # keep_errors held too many spans of unfinished sampled-out traces
    "shutdown",  # still queued when shutdown's time ran out
    "processor",  # the pipeline itself failed on a span (enrichment, roll-up, a guard rule)
    "rejected",  # the server refused the batch for good (401/403/422, other 4xx)
    "spool_full",  # the on-disk spool was at its size cap
)
LOG_INTERVAL_S = 60.0

_counts: dict[str, int] = dict.fromkeys(DROP_CAUSES, 0)
_last_logged: dict[str, float] = {}
_lock = threading.Lock()


def count_drop(cause: str, n: int = 1, detail: str = "") -> None:
    """Add ``n`` lost spans under ``cause``; log one line per cause per minute with the total."""
    if n <= 0:
        return
    with _lock:
        total = _counts[cause] = _counts.get(cause, 0) + n
        now = time.monotonic()
        last = _last_logged.get(cause)
        if last is not None and now - last < LOG_INTERVAL_S:
            return
        _last_logged[cause] = now
    logger.warning("staso: %d spans dropped so far (%s)%s", total, cause, f": {detail}" if detail else "")


def drop_counts() -> dict[str, int]:
    """Spans lost in this process so far, per cause (every cause listed, zeros included)."""
    with _lock:
        return dict(_counts)


def _reset_in_child() -> None:
    # A forked child starts with its own counts and a fresh lock (the parent's may be held).
    global _lock
    _lock = threading.Lock()
    _counts.update(dict.fromkeys(_counts, 0))
    _last_logged.clear()


os.register_at_fork(after_in_child=_reset_in_child)
