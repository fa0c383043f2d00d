"""The viewer's server without a browser: loopback only, Host header check, read-only, clear
answers for a missing, locked or corrupted store, and the ``ui`` command itself."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from staso_integrations.exporters._sqlite_schema import open_for_writing

from .conftest import Store, Viewer, start_viewer


def get(
    viewer: Viewer, path: str, host: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", viewer.server.server_port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{viewer.server.server_port}")
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def api(viewer: Viewer, path: str) -> tuple[int, Any]:
    status, _, body = get(viewer, path)
    return status, json.loads(body)


def test_binds_loopback_only(viewer: Viewer) -> None:
    assert viewer.server.server_address[0] == "127.0.0.1"
    assert viewer.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "192.168.1.5:{port}", "127.0.0.1:1", ""])
def test_refuses_other_host_headers(viewer: Viewer, host: str) -> None:
    status, _, body = get(viewer, "/api/traces", host=host.format(port=viewer.server.server_port))
    assert status == 403 and b"refused" in body
    assert b"trace_id" not in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}"])
def test_answers_its_own_names(viewer: Viewer, host: str) -> None:
    status, headers, body = get(viewer, "/", host=host.format(port=viewer.server.server_port))
    assert status == 200 and b'<main id="app">' in body
    assert (
        "script-src 'self'" in headers["Content-Security-Policy"]
        and "unsafe-inline" not in headers["Content-Security-Policy"]
    )
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_read_only(viewer: Viewer, store: Store) -> None:
    before = hashlib.sha256(store.db.read_bytes()).hexdigest()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, _, body = get(viewer, "/api/traces", method=method)
        assert status == 405 and json.loads(body)["error"] == "read_only"
    for path in ("/api/traces", "/api/facets", f"/api/trace/{store.crafted}", "/api/session/demo-session"):
        assert api(viewer, path)[0] == 200
    assert hashlib.sha256(store.db.read_bytes()).hexdigest() == before


def test_api_pages_and_filters(viewer: Viewer, store: Store) -> None:
    status, page = api(viewer, "/api/traces?limit=2&offset=1")
    assert status == 200 and len(page["traces"]) == 2 and page["offset"] == 1 and page["total"] >= 9
    status, found = api(viewer, f"/api/trace/{store.crafted}")
    assert found["spans"][0]["name"] == "<b>crafted</b> agent"
    assert api(viewer, "/api/trace/0000")[0] == 404
    assert api(viewer, "/api/conversation/nobody")[1] == {"turns": []}
    for bad in ("status=broken", "since=yesterday", "until=soon", "limit=ten"):
        status, body = api(viewer, f"/api/traces?{bad}")
        assert status == 400 and body["error"] == "bad_request" and bad.split("=")[1] in body["message"]


@pytest.mark.parametrize(
    "path", ["/static/..%2f_server.py", "/static/../_server.py", "/static/.hidden.js", "/nope", "/api/nope"]
)
def test_nothing_outside_the_pages(viewer: Viewer, path: str) -> None:
    status, _, body = get(viewer, path)
    assert status == 404 and b"import" not in body


def test_missing_store_is_explained_and_never_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing" / "traces.db"
    with start_viewer(str(db)) as viewer:
        status, body = api(viewer, "/api/traces")
        assert status == 503 and body["error"] == "missing" and str(db) in body["message"]
    assert not db.parent.exists()


def test_corrupt_and_foreign_stores_are_explained(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(os.urandom(8192))
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE notes (x)").connection.close()
    for db, kind in ((corrupt, "corrupt"), (foreign, "not_a_store")):
        with start_viewer(str(db)) as viewer:
            for path in ("/api/traces", "/api/facets", "/api/trace/abc", "/api/session/s"):
                status, body = api(viewer, path)
                assert (status, body["error"]) == (500, kind), path
                assert "Traceback" not in body["message"] and body["hint"]


def locked_store(path: Path) -> sqlite3.Connection:
    """A store in rollback-journal mode with another connection holding an exclusive lock."""
    open_for_writing(str(path), 1.0).close()  # the store's own schema
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode = DELETE")
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_locked_store_is_explained_then_read_when_released(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    holder = locked_store(db)
    with start_viewer(str(db)) as viewer:
        status, body = api(viewer, "/api/traces")
        assert status == 503 and body["error"] == "locked"
        holder.execute("COMMIT")
        assert api(viewer, "/api/traces") == (200, {"traces": [], "total": 0, "offset": 0, "limit": 50})
    holder.close()


def test_locked_store_page_recovers_in_the_browser(browser: Any, tmp_path: Path) -> None:
    from .test_browser import wait

    db = tmp_path / "locked.db"
    holder = locked_store(db)
    with start_viewer(str(db)) as viewer:
        browser.get(viewer.url + "/")
        wait(
            browser,
            lambda: "is locked by another process" in browser.find_element("id", "problem").text,
            "the locked page",
        )
        holder.execute("COMMIT")
        wait(
            browser,
            lambda: "No traces match" in browser.find_element("id", "traces").text,
            "the list once unlocked",
        )
    holder.close()


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "staso_integrations", "ui", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # As in a terminal: a CI job started in the background inherits SIGINT ignored.
        preexec_fn=_sigint_as_in_a_terminal,
    )  # fmt: skip
    line = process.stdout.readline() if process.stdout else ""
    return process, line, time.monotonic() - started


def stop(process: subprocess.Popen[str]) -> str:
    """Ctrl+C, as a person stops it; what it printed on stderr."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


def test_ui_command_serves_the_store(store: Store, record_property: Any) -> None:
    process, line, seconds = start_cli("--db", str(store.db), "--port", "0")
    try:
        assert line.startswith("staso trace viewer on http://127.0.0.1:") and str(store.db) in line, line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/traces?limit=1")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["total"] >= 9
        conn.close()
        record_property("ui_start_seconds", round(seconds, 3))  # process start to URL printed
    finally:
        assert "Traceback" not in stop(process)


def test_ui_command_open_starts_the_browser_and_serves_while_it_runs(store: Store, tmp_path: Path) -> None:
    """A browser command that does not return (as a terminal browser does) must not stop serving."""
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake-browser"
    fake.write_text(
        f'#!/bin/sh\necho "$1 $$" > {opened}.part && mv {opened}.part {opened}\nexec sleep 120 >/dev/null 2>&1\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "BROWSER": str(fake)}
    process, line, _ = start_cli("--db", str(store.db), "--port", "0", "--open", env=env)
    browser_pid = None
    try:
        url = line.split(" on ")[1].split(" ")[0]
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        given, pid = opened.read_text().split()
        browser_pid = int(pid)
        assert given == url
        with urllib.request.urlopen(
            url + "api/traces?limit=1", timeout=30
        ) as response:  # still blocked in "browser"
            assert json.loads(response.read())["total"] >= 9
    finally:
        stop(process)
        if browser_pid is not None:
            os.kill(browser_pid, signal.SIGKILL)


def test_ui_command_port_in_use(store: Store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "staso_integrations", "ui", "--db", str(store.db), "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


@pytest.mark.parametrize(
    ("argv", "db"),
    [(["ui"], ".staso/traces.db"), (["--db", "a.db", "ui"], "a.db"), (["ui", "--db", "b.db"], "b.db")],
)
def test_ui_command_takes_db_before_or_after(argv: list[str], db: str) -> None:
    from staso_integrations.cli import _db_path, build_parser

    args = build_parser().parse_args(argv)
    assert (_db_path(args), args.port, args.open) == (db, 8765, False)
