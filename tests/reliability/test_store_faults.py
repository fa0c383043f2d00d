"""The fault suite, local store side: permissions, old stores, locks, damaged files, fork.

Real SQLite files, real second processes holding locks, the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.drops import drop_counts
from staso_integrations.exporters import JsonlExporter, SqliteExporter
from staso_integrations.exporters._sqlite_schema import SCHEMA_VERSION
from staso_integrations.store import TraceStore

Hold = Callable[..., "subprocess.Popen[str]"]
CLI_TIMEOUT_S = 30  # a healthy answer takes well under a second; a locked store about one


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "STASO_STRICT": "1"},
    )  # fmt: skip


def _cli(db: Path, *command: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "staso_integrations", "--db", str(db), *command],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    return done, time.monotonic() - start


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A store as an older release wrote it: fewer columns, no schema version, an old index."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            """
            CREATE TABLE traces (trace_id TEXT PRIMARY KEY, name TEXT, agent_name TEXT, start_ns INTEGER,
                end_ns INTEGER, duration_ms REAL, status TEXT, span_count INTEGER, error_count INTEGER,
                input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, cost_usd REAL);
            CREATE TABLE spans (span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, parent_span_id TEXT,
                name TEXT, kind TEXT, status TEXT, error TEXT, start_ns INTEGER, end_ns INTEGER,
                duration_ms REAL, agent_name TEXT, provider TEXT, request_model TEXT, usage TEXT,
                cost_usd REAL, input TEXT, output TEXT, metadata TEXT);
            CREATE INDEX spans_agent ON spans (agent_name, start_ns);
            INSERT INTO traces VALUES ('aaaa0000', 'old-run', 'bot', 1, 2, 0.0, 'ok', 1, 0, 5, 6, 11, 0.5);
            INSERT INTO spans (span_id, trace_id, name, kind, status, start_ns, end_ns)
                VALUES ('s-old', 'aaaa0000', 'old-run', 'chain', 'ok', 1, 2);
            """
        )
    return db


@pytest.fixture
def store_lock() -> Iterator[Hold]:
    """Starts a real second process holding ``BEGIN EXCLUSIVE`` on a store until released."""
    holders: list[subprocess.Popen[str]] = []

    def hold(db: Path, exclusive_mode: bool = False) -> subprocess.Popen[str]:
        code = f"""
            import sqlite3, sys
            conn = sqlite3.connect({str(db)!r}, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            if {exclusive_mode!r}:
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("CREATE TABLE IF NOT EXISTS lock_probe (x)")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("INSERT INTO lock_probe VALUES (1)")
            print("locked", flush=True)
            sys.stdin.readline()
            conn.execute("ROLLBACK")
        """
        holder = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        return holder

    yield hold
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait(10)


def _write_spans(db: Path, n: int) -> None:
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple")
    for index in range(n):
        with st.span(f"s-{index}"):
            pass
    st.shutdown()


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_store_and_jsonl_are_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    db, jsonl = tmp_path / "new" / ".staso" / "traces.db", tmp_path / "logs" / "traces.jsonl"
    existing_mode = _mode(tmp_path)
    previous = os.umask(umask)
    try:
        st.init(exporter=["sqlite", JsonlExporter(str(jsonl))], sqlite_path=str(db), processor="simple")
        with st.span("s"):
            pass
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), jsonl]  # the WAL and SHM exist while open
        modes = {path.name: _mode(path) for path in files}
        dirs = {path.name: _mode(path) for path in (db.parent, db.parent.parent, jsonl.parent)}
    finally:
        os.umask(previous)
        st.shutdown()
    assert modes == dict.fromkeys(modes, 0o600)
    assert dirs == dict.fromkeys(dirs, 0o700)
    assert _mode(tmp_path) == existing_mode  # an existing folder is left as it is


def test_store_written_by_an_older_version_is_migrated_on_open(old_store: Path) -> None:
    _write_spans(old_store, 3)
    with sqlite3.connect(old_store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in conn.execute("PRAGMA table_info(spans)")}
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ttft_ms", "content", "stream", "conversation_id", "input_tokens"} <= columns
    assert "spans_agent" not in indexes and "traces_session" in indexes
    store = TraceStore(str(old_store))
    try:
        names = sorted(trace["name"] for trace in store.list_traces())
        _, old_spans = store.get_trace("aaaa0000")
    finally:
        store.close()
    assert names == ["old-run", "s-0", "s-1", "s-2"]
    assert old_spans[0]["name"] == "old-run" and old_spans[0]["tool_calls"] is None


def test_store_of_schema_1_gets_partial_trace_indexes_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    _write_spans(db, 2)
    with sqlite3.connect(db) as conn:  # back to schema 1: full indexes
        for name, columns in (("traces_agent", "agent_name, start_ns"),
                              ("traces_conversation", "conversation_id, start_ns"),
                              ("traces_session", "session_id, turn_index")):  # fmt: skip
            conn.execute(f"DROP INDEX {name}")
            conn.execute(f"CREATE INDEX {name} ON traces ({columns})")
        conn.execute("PRAGMA user_version = 1")
    _write_spans(db, 1)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        indexes = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'traces_%'"))
        assert conn.execute("SELECT count(*) FROM traces").fetchone()[0] == 3
    assert all(indexes[name].endswith(f"WHERE {column} IS NOT NULL") for name, column in (
        ("traces_agent", "agent_name"), ("traces_conversation", "conversation_id"), ("traces_session", "session_id")
    ))  # fmt: skip


def test_cli_reads_an_old_store_read_only_and_leaves_it_unchanged(old_store: Path) -> None:
    before = old_store.read_bytes()
    done, _ = _cli(old_store, "traces", "list")
    assert done.returncode == 0, done.stderr
    assert "old-run" in done.stdout
    assert old_store.read_bytes() == before


def test_cli_on_a_read_only_store_file_still_lists(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    _write_spans(db, 2)
    db.chmod(0o400)
    done, _ = _cli(db, "traces", "list")
    assert done.returncode == 0 and done.stdout.count("s-") == 2, done.stderr


@pytest.mark.parametrize("command", [("traces", "list"), ("traces", "show", "last"), ("export", "-o", "-")])
@pytest.mark.parametrize("fault", ["missing", "corrupted", "not_a_store", "locked"])
def test_cli_answers_a_bad_store_with_one_line_within_seconds(
    tmp_path: Path, store_lock: Hold, fault: str, command: tuple[str, ...]
) -> None:
    db = tmp_path / "t.db"
    if fault == "corrupted":
        db.write_bytes(b"this is not sqlite at all" * 200)
    elif fault == "not_a_store":
        sqlite3.connect(db).close()
    elif fault == "locked":
        _write_spans(db, 2)
        store_lock(db, exclusive_mode=True)
    done, elapsed = _cli(db, *command)
    print(f"{fault} {command}: exit {done.returncode} in {elapsed:.2f}s: {done.stderr.strip()}")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(db) in done.stderr or "no trace store" in done.stderr


def test_store_locked_by_another_process_app_exits_bounded_and_counts_the_batch(
    tmp_path: Path, store_lock: Hold
) -> None:
    db = tmp_path / "t.db"
    _write_spans(db, 1)
    store_lock(db)
    app = """
        import sys, time
        import staso_integrations as st
        from staso_integrations._core.drops import drop_counts
        st.init(exporter="sqlite", sqlite_path=sys.argv[1])
        start = time.monotonic()
        for index in range(100):
            with st.span(f"s-{index}"):
                pass
        st.shutdown()
        print(sum(drop_counts().values()), round(time.monotonic() - start, 2))
    """
    start = time.monotonic()
    done = _run(app, str(db))
    elapsed = time.monotonic() - start
    print(f"locked store: exit in {elapsed:.2f}s, {done.stdout.strip()} (dropped, shutdown s); {done.stderr}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "100"
    # one line per incident: the exporter's own (rows held, dropped at exit) or, when its 3 s lock
    # wait outlasts shutdown_timeout (3 s), the pipeline's report naming the stuck export
    assert done.stderr.count("holding up to") <= 1 and "Traceback" not in done.stderr
    assert "100 spans dropped so far" in done.stderr


def test_store_locked_for_a_while_the_held_batch_is_written_later(tmp_path: Path, store_lock: Hold) -> None:
    db = tmp_path / "t.db"
    _write_spans(db, 0)
    holder = store_lock(db)
    dropped_before = drop_counts()["exporter"]  # counts are per process: other tests' drops stay
    exporter = SqliteExporter(str(db))
    st.init(exporter=exporter, processor="simple")
    for index in range(50):
        with st.span(f"early-{index}"):
            pass
    _release(holder)
    for index in range(50):
        with st.span(f"late-{index}"):
            pass
    st.shutdown()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 100
    assert drop_counts()["exporter"] == dropped_before


@pytest.mark.parametrize("exporter_class", ["SqliteExporter", "JsonlExporter"])
def test_forked_child_gets_a_fresh_lock_and_connection(tmp_path: Path, exporter_class: str) -> None:
    child = """
        import os, sys
        from staso_integrations.exporters import SqliteExporter, JsonlExporter
        import staso_integrations as st
        st.init(exporter="memory", processor="simple")
        exporter = {"SqliteExporter": SqliteExporter, "JsonlExporter": JsonlExporter}[sys.argv[2]](sys.argv[1])

        def one_span(name):
            with st.span(name) as span:
                pass
            return span

        exporter.export([one_span("parent")], [])
        exporter._lock.acquire()  # as if the processor thread were mid-export at fork
        pid = os.fork()
        if pid == 0:
            exporter.after_fork()
            exporter.export([one_span("child")], [])
            exporter.shutdown()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        exporter._lock.release()
        exporter.shutdown()
        print(os.waitstatus_to_exitcode(status))
    """
    path = tmp_path / ("t.db" if exporter_class == "SqliteExporter" else "t.jsonl")
    done = _run(child, str(path), exporter_class, timeout=30)
    assert done.stdout.strip() == "0", done.stderr
    if exporter_class == "SqliteExporter":
        with sqlite3.connect(path) as conn:
            names = sorted(row[0] for row in conn.execute("SELECT name FROM spans"))
    else:
        names = sorted(line.split('"name": "')[1].split('"')[0] for line in path.read_text().splitlines())
    assert names == ["child", "parent"]


def test_8_threads_creating_the_same_new_store_at_once_leave_it_intact(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "t.db"
    st.init(exporter="memory", processor="simple")
    exporters = [SqliteExporter(str(db)) for _ in range(8)]
    start = threading.Barrier(len(exporters))

    def write(exporter: SqliteExporter) -> None:
        start.wait(10)
        for index in range(50):
            with st.span(f"s-{index}") as span:
                pass
            exporter.export([span], [])

    threads = [threading.Thread(target=write, args=(exporter,)) for exporter in exporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for exporter in exporters:
        exporter.shutdown()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 400


def test_export_of_a_store_holding_nan_writes_strict_json(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "out.jsonl"
    _write_spans(db, 1)
    with sqlite3.connect(db) as conn:  # a NaN score an older version stored (migrated as its text)
        conn.execute("""UPDATE spans SET content = '[null,null,{"score": NaN, "ok": 1},null,null,[],null]'""")
    done, _ = _cli(db, "export", "--format", "jsonl", "-o", str(out))
    assert done.returncode == 0, done.stderr
    line = out.read_text(encoding="utf-8").strip()
    record = json.loads(line, parse_constant=lambda token: pytest.fail(f"non-strict JSON: {token}"))
    assert record["spans"][0]["metadata"] == {"score": "NaN", "ok": 1}
