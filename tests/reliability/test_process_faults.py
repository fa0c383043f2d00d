"""The fault suite, process side: fork, interpreter exit, a collector that is down, and inputs
JSON cannot hold. Figures are in the test names; each test prints its counts (``pytest -s``).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.exporters.conftest import Reply, Server, validate_ingest

import staso_integrations as st
from staso_integrations.exporters import StasoExporter
from staso_integrations.store import TraceFilter, TraceStore

KEY = "sk-staso-test-0123456789abcdef"
# Retry settings that fail fast against a closed port (the defaults are for real networks).
FAST = {"timeout_s": 1.0, "max_attempts": 2, "backoff_s": 0.01, "backoff_max_s": 0.02, "retry_budget_s": 1.0}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}


def _names(db: Path) -> list[str]:
    store = TraceStore(str(db))
    try:
        return sorted(trace["name"] for trace in store.list_traces(TraceFilter(limit=10_000)))
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_init_child_exports_its_own_spans(tmp_path: Path) -> None:
    db = tmp_path / "fork.db"
    st.init(exporter="sqlite", sqlite_path=str(db))
    with st.span("parent-before-fork"):
        pass
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            with st.span("child-span"):
                pass
            code = 0 if st.flush(5.0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with st.span("parent-after-fork"):
        pass
    st.shutdown()
    assert _names(db) == ["child-span", "parent-after-fork", "parent-before-fork"]


def test_300_spans_pending_at_interpreter_exit_are_flushed(tmp_path: Path) -> None:
    db = tmp_path / "exit.db"
    script = (
        "import staso_integrations as st\n"
        f"st.init(exporter='sqlite', sqlite_path={str(db)!r})\n"
        "for i in range(300):\n"
        "    with st.span(f's{i}'):\n"
        "        pass\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, env=_clean_env(), timeout=60)
    assert len(_names(db)) == 300


def _spooled_spans(spool: Path) -> int:
    payloads = [json.loads(gzip.decompress(path.read_bytes())) for path in spool.glob("*.json.gz")]
    return sum(len(trace["spans"]) for payload in payloads for trace in payload["traces"])


def test_collector_down_1000_spans_spooled_then_all_delivered_by_a_later_process(tmp_path: Path) -> None:
    server = Server(validate_ingest, Reply(200))
    server.stop()  # the collector is down: its port refuses connections
    spool = tmp_path / "spool"
    st.init(exporter=StasoExporter(KEY, server.url, spool_dir=str(spool), **FAST))  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(1000):
        with st.span(f"s{i}"):
            pass
    app_ms = (time.perf_counter() - start) * 1e3
    st.shutdown()
    spooled = _spooled_spans(spool)

    server.start()  # back, on the same port
    try:
        env = {**_clean_env(), "STASO_API_KEY": KEY, "STASO_BASE_URL": server.url,
               "STASO_SPOOL_DIR": str(spool), "PYTHONPATH": str(REPO)}  # fmt: skip
        code = "import staso_integrations as st\nwith st.span('later'):\n    pass\nst.shutdown()\n"
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, cwd=tmp_path)
        names = [span["name"] for p in server.payloads() for t in p["traces"] for span in t["spans"]]
    finally:
        server.stop()
    print(f"app time {app_ms:.0f} ms; spooled={spooled}; delivered later={len(names) - 1}")
    assert spooled == 1000
    assert sorted(names) == sorted([f"s{i}" for i in range(1000)] + ["later"])
    assert not list(spool.glob("*.json.gz"))


def test_socket_lock_and_10mb_bytes_inputs_are_stored_and_results_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "inputs.db"
    st.init(exporter="sqlite", sqlite_path=str(db))
    lock = threading.Lock()
    blob = b"\x00" * 10_000_000

    @st.tool
    def send(sock: socket.socket, guard: threading.Lock, payload: bytes) -> tuple[socket.socket, bytes]:
        return sock, payload

    with socket.socket() as sock:
        result = send(sock, lock, blob)
        assert result[0] is sock and result[1] is blob
    st.shutdown()

    store = TraceStore(str(db))
    try:
        (trace,) = store.list_traces()
        _, (span,) = store.get_trace(trace["trace_id"])
    finally:
        store.close()
    stored = json.dumps(span)
    print(f"stored span: {len(stored)} bytes for a 10 MB input")
    assert span["status"] == "ok"
    assert "socket" in span["input"]["sock"] and "lock" in span["input"]["guard"]
    assert span["input"]["payload"] == "<bytes: 10000000 bytes>"
    assert len(stored) < 10_000
