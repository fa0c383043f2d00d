"""An on-disk queue of batches the ingest server has not confirmed yet, shared by processes.

One gzip file per batch, named ``<time_ns>-<idempotency key>-<span count>.json.gz``, so any
process can resend it with the same key (the server drops duplicates) and count what a
dropped file held without opening it. Files are written to a temporary name and renamed, so a
reader never sees half a batch. Holds request bodies only: never headers, never the API key.

A process sends a file only after claiming it: an atomic rename to
``<name>.<pid>.<token>.claim``, which one process wins. A claim whose process is gone
(``kill -9``) or that is older than ``STALE_CLAIM_S`` is claimed again by the next reader.
The directory is 0700 and the files 0600, whatever the umask.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import threading
import time
from typing import NamedTuple

from .._core.drops import count_drop
from ._owner_only import DIR_MODE, FILE_MODE, make_private_dirs, open_private

_NAME = re.compile(r"^(\d{20})-([0-9a-f]{32})-(\d+)\.json\.gz(?:\.(\d+)\.([0-9a-f]+)\.claim)?$")
STALE_CLAIM_S = 600.0


class SpoolEntry(NamedTuple):
    path: str
    key: str
    span_count: int
    size: int
    name: str  # the unclaimed name


class Spool:
    """Files in ``directory``, oldest first; past ``max_bytes`` the oldest unclaimed are dropped."""

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        self.dropped_spans = 0
        self._checked = False
        self._bytes: int | None = None  # what the spool holds, as far as we know; rescanned near the cap
        self._token = secrets.token_hex(4)  # tells this exporter's claims from another's in this pid
        self._lock = threading.Lock()

    def put(self, key: str, gzipped_body: bytes, span_count: int, *, claimed: bool) -> SpoolEntry:
        """Write a batch; ``claimed`` keeps it ours (we are about to send it) instead of free."""
        name = f"{time.time_ns():020d}-{key}-{span_count}.json.gz"
        temporary = os.path.join(self.directory, f".{name}.{os.getpid()}.tmp")
        if not self._checked:
            self._make_directory()
        try:
            fd = open_private(temporary, os.O_WRONLY | os.O_TRUNC)
        except FileNotFoundError:  # the directory was removed meanwhile
            self._make_directory()
            fd = open_private(temporary, os.O_WRONLY | os.O_TRUNC)
        try:
            os.fchmod(fd, FILE_MODE)  # also a leftover temporary file of an earlier process
            with os.fdopen(fd, "wb") as out:
                out.write(gzipped_body)
        except BaseException:
            _unlink(temporary)
            raise
        entry = SpoolEntry(self._claim_path(name) if claimed else os.path.join(self.directory, name),
                           key, span_count, len(gzipped_body), name)  # fmt: skip
        os.replace(temporary, entry.path)
        with self._lock:
            self._bytes = None if self._bytes is None else self._bytes + entry.size
            if self._bytes is None or self._bytes > self.max_bytes:
                self._enforce_cap()
        return entry

    def claimable(self) -> list[SpoolEntry]:
        """Batches no live process is sending, oldest first (an absent directory is empty)."""
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return []
        found: list[SpoolEntry] = []
        for name in names:
            match = _NAME.match(name)
            if match is None or (match.group(4) and not self._abandoned(name, match)):
                continue
            path = os.path.join(self.directory, name)
            try:
                size = os.path.getsize(path)
            except OSError:  # taken by another process meanwhile
                continue
            plain = name.split(".json.gz")[0] + ".json.gz"
            found.append(SpoolEntry(path, match.group(2), int(match.group(3)), size, plain))
        return found

    def claim(self, entry: SpoolEntry) -> SpoolEntry | None:
        """Make ``entry`` ours; ``None`` if another process claimed or sent it first."""
        path = self._claim_path(entry.name)
        try:
            os.rename(entry.path, path)
        except FileNotFoundError:
            return None
        return entry._replace(path=path)

    def release(self, entry: SpoolEntry) -> None:
        """Give a claimed batch back for a later attempt (by us or by any process)."""
        try:
            os.rename(entry.path, os.path.join(self.directory, entry.name))
        except FileNotFoundError:
            pass

    def read(self, entry: SpoolEntry) -> bytes:
        with open(entry.path, "rb") as src:
            return src.read()

    def remove(self, entry: SpoolEntry) -> None:
        _unlink(entry.path)
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes - entry.size)

    def drop(self, entry: SpoolEntry, cause: str, why: str) -> None:
        """Remove ``entry`` without sending it, and count what it held."""
        self.remove(entry)
        self._count_dropped(entry, cause, why)

    def _count_dropped(self, entry: SpoolEntry, cause: str, why: str) -> None:
        self.dropped_batches += 1
        self.dropped_spans += entry.span_count
        count_drop(cause, entry.span_count, f"staso spool at {self.directory}: {why}")

    def _claim_path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}.{os.getpid()}.{self._token}.claim")

    def _abandoned(self, name: str, match: re.Match[str]) -> bool:
        pid, token = int(match.group(4)), match.group(5)
        if pid == os.getpid():
            return token != self._token and self._older_than(name, STALE_CLAIM_S)
        return not _alive(pid) or self._older_than(name, STALE_CLAIM_S)

    def _older_than(self, name: str, seconds: float) -> bool:
        try:
            return time.time() - os.stat(os.path.join(self.directory, name)).st_ctime > seconds
        except OSError:
            return False

    def _make_directory(self) -> None:
        make_private_dirs(self.directory)
        try:
            os.chmod(self.directory, DIR_MODE)  # the spool's own directory, even one that existed
        except PermissionError:  # a shared directory someone else owns: use it as it is
            pass
        self._checked = True

    def _enforce_cap(self) -> None:
        # Counts claimable files only: a batch being sent is not the oldest to give up.
        entries = self.claimable()
        total = sum(entry.size for entry in entries)
        for entry in entries:
            if total <= self.max_bytes:
                break
            _unlink(entry.path)
            self._count_dropped(
                entry, "spool_full", f"over its {self.max_bytes} byte cap, oldest dropped first"
            )
            total -= entry.size
        self._bytes = total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def gzip_body(body: bytes) -> bytes:
    # Level 6 is zlib's default: close to 9 in size on JSON, several times faster.
    return gzip.compress(body, compresslevel=6, mtime=0)


def gunzip_body(body: bytes) -> bytes:
    return gzip.decompress(body)
