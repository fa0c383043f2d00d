"""Sends batches to Staso ingest (``POST {base}/v1/traces/ingest``, ``X-API-Key``, DESIGN.md section 3).

Delivery (write-ahead spool, the sender thread, retries, resting while the server is down) is
:class:`~._spooled.SpooledExporter`'s; here are Staso's body, its header and its receipt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from .._core.rollup import TraceSummary
from .._core.span import Span
from ._spooled import Batch, SpooledExporter, count_items
from ._staso_payload import encode_batch

logger = logging.getLogger("staso_integrations")

INGEST_PATH = "/v1/traces/ingest"


class StasoExporter(SpooledExporter):
    """Staso ingest over HTTP, with a write-ahead spool and its own sender thread."""

    label = "staso"
    service = "staso ingest"
    path = INGEST_PATH
    key_variable = "STASO_API_KEY"

    def encode(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> bytes:
        return encode_batch(spans, traces)

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    def check_receipt(self, batch: Batch, body: bytes) -> None:
        try:
            receipt = json.loads(body or b"{}")
        except ValueError:
            receipt = None
        if not isinstance(receipt, dict) or "accepted" not in receipt:
            self._log_once("receipt", f"{self.service} answered 2xx without a receipt (no 'accepted' field)")
            return
        rejected = count_items(receipt.get("rejected"))
        dropped = count_items(receipt.get("spans_dropped"))
        self.stats["rejected_traces"] += rejected
        self.stats["receipt_spans_dropped"] += dropped
        if rejected or dropped:
            reasons = receipt.get("errors") or receipt.get("rejections") or receipt.get("detail")
            logger.warning(
                "%s receipt %s: accepted %s, rejected %d traces, dropped %d spans%s",
                self.service,
                receipt.get("receipt_id"),
                receipt.get("accepted"),
                rejected,
                dropped,
                f": {self._clean(json.dumps(reasons, default=str))}" if reasons else "",
            )
