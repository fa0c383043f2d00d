"""A bounded on-disk queue of batches the ingest server has not taken yet.

One gzip file per batch, named ``<time_ns>-<idempotency key>-<span count>.json.gz``, so a
later process can resend it with the same key (the server drops duplicates) and count what a
dropped file held without opening it. Files are written to a temporary name and renamed, so a
reader never sees half a batch. Holds request bodies only: never headers, never the API key.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import threading
import time
from typing import NamedTuple

logger = logging.getLogger("staso_integrations")

_NAME = re.compile(r"^(\d{20})-([0-9a-f]{32})-(\d+)\.json\.gz$")


class SpoolEntry(NamedTuple):
    path: str
    key: str
    span_count: int
    size: int


class Spool:
    """Files in ``directory``, oldest first; past ``max_bytes`` the oldest are dropped and counted."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        self.dropped_spans = 0
        self._lock = threading.Lock()

    def put(self, key: str, gzipped_body: bytes, span_count: int) -> None:
        os.makedirs(self.directory, exist_ok=True)
        name = f"{time.time_ns():020d}-{key}-{span_count}.json.gz"
        final = os.path.join(self.directory, name)
        temporary = os.path.join(self.directory, f".{name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            out.write(gzipped_body)
        os.replace(temporary, final)
        with self._lock:
            self._enforce_cap()

    def entries(self) -> list[SpoolEntry]:
        """Spooled batches, oldest first (an absent directory is an empty spool)."""
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return []
        found: list[SpoolEntry] = []
        for name in names:
            match = _NAME.match(name)
            if match is None:
                continue
            path = os.path.join(self.directory, name)
            try:
                size = os.path.getsize(path)
            except OSError:  # taken by another process meanwhile
                continue
            found.append(SpoolEntry(path, match.group(2), int(match.group(3)), size))
        return found

    def read(self, entry: SpoolEntry) -> bytes:
        """The gzipped body; raises ``OSError`` if the file is gone (another process sent it)."""
        with open(entry.path, "rb") as src:
            return src.read()

    def remove(self, entry: SpoolEntry) -> None:
        try:
            os.remove(entry.path)
        except FileNotFoundError:
            pass

    def drop(self, entry: SpoolEntry, why: str) -> None:
        """Remove ``entry`` without sending it, and count what it held."""
        self.remove(entry)
        self.dropped_batches += 1
        self.dropped_spans += entry.span_count
        logger.warning("staso spool: dropped a batch of %d spans (%s)", entry.span_count, why)

    def _enforce_cap(self) -> None:
        entries = self.entries()
        total = sum(entry.size for entry in entries)
        for entry in entries:
            if total <= self.max_bytes:
                break
            self.drop(entry, f"spool over its {self.max_bytes} byte cap, oldest first")
            total -= entry.size


def gzip_body(body: bytes) -> bytes:
    # Level 6 is zlib's default: close to 9 in size on JSON, several times faster.
    return gzip.compress(body, compresslevel=6, mtime=0)


def gunzip_body(body: bytes) -> bytes:
    return gzip.decompress(body)
