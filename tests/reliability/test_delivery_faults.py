"""The fault suite, delivery side: real app processes against real 127.0.0.1 servers that hang,
answer 500 or are down; ``kill -9``; a later process; two processes sharing one spool.

Each test prints its figures (loss on kill -9, exit times): ``pytest -s`` shows them.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from staso_integrations._core.runtime import open_span
from staso_integrations.exporters._spool import gzip_body
from staso_integrations.exporters._staso_payload import encode_batch
from tests.conftest import REPO
from tests.exporters.conftest import Reply, Server, decode_otlp, validate_ingest

KEY = "sk-staso-test-0123456789abcdef"
HANG_S = 120.0  # "never answers", as far as any test here is concerned

# An app that makes spans steadily and says how many it has made (after they ended).
STEADY_APP = """
import sys, time
import staso_integrations as st
st.init()
start = time.monotonic()
for i in range(1_000_000):
    with st.span(f"s{i}"):
        pass
    if i % 20 == 0:
        print(i + 1, round(time.monotonic() - start, 3), flush=True)
    time.sleep(0.002)
"""
# An app that makes 500 spans, says so and exits normally (the interpreter's exit path).
SHORT_APP = """
import staso_integrations as st
st.init()
for i in range(500):
    with st.span(f"s{i}"):
        pass
print("done", flush=True)
"""
# A later process: its exporter delivers the spool at start-up; it waits until the spool is empty.
LATER_APP = """
import os, sys, time
import staso_integrations as st
st.init()
deadline = time.monotonic() + 30
def pending():
    names = os.listdir(sys.argv[1]) if os.path.isdir(sys.argv[1]) else []
    return any(name.endswith((".gz", ".claim")) for name in names)
while time.monotonic() < deadline and pending():
    time.sleep(0.05)
st.shutdown()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _staso_env(server: Server, spool: Path) -> dict[str, str]:
    return _env(STASO_API_KEY=KEY, STASO_BASE_URL=server.url, STASO_SPOOL_DIR=str(spool))


def _delivered_names(server: Server) -> set[str]:
    """Span names the server took, each span counted once (by span_id) however often it came."""
    spans = {
        span["span_id"]: span["name"] for p in server.payloads() for t in p["traces"] for span in t["spans"]
    }
    return set(spans.values())


@pytest.fixture
def ingest() -> Iterator[Server]:
    server = Server(validate_ingest, Reply(200))
    yield server
    server.stop()


@pytest.mark.parametrize("fault", ["500", "hang"])
def test_kill_9_while_the_server_fails_loses_at_most_about_a_second_of_spans(
    ingest: Server, tmp_path: Path, fault: str
) -> None:
    ingest.default = Reply(500, {"detail": "boom"}) if fault == "500" else Reply(200, hang_s=HANG_S)
    spool = tmp_path / "spool"
    env = _staso_env(ingest, spool)
    app = subprocess.Popen([sys.executable, "-c", STEADY_APP], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    made, elapsed = 0, 0.0
    assert app.stdout is not None
    try:
        while made < 1500:  # about 3-4 s of spans: several batches and retries under way
            line = app.stdout.readline()
            assert line, "the app died"
            made, elapsed = int(line.split()[0]), float(line.split()[1])
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        app.stdout.close()
    rate = made / elapsed

    ingest.default = Reply(200)  # healthy again: a later process delivers the spool
    subprocess.run(
        [sys.executable, "-c", LATER_APP, str(spool)], env=env, cwd=tmp_path, check=True, timeout=60
    )

    delivered = _delivered_names(ingest)
    lost = [i for i in range(made) if f"s{i}" not in delivered]
    print(f"kill -9 under {fault}: {len(lost)} of {made} spans lost ({100 * len(lost) / made:.1f}%), "
          f"{rate:.0f} spans/s, so {len(lost) / rate:.2f} s of spans")  # fmt: skip
    assert len(lost) <= 3.0 * rate  # the processor's flush interval is 1 s: several times that
    assert all(i >= made - 3.0 * rate for i in lost)  # only the newest ones
    assert not [path for path in spool.glob("*") if path.name.endswith((".gz", ".claim"))]


def test_exit_with_a_hung_ingest_server_is_bounded_and_the_queue_is_spooled(
    ingest: Server, tmp_path: Path
) -> None:
    ingest.default = Reply(200, hang_s=HANG_S)
    spool = tmp_path / "spool"
    seconds, _ = _exit_time(SHORT_APP, _staso_env(ingest, spool), tmp_path)

    spooled = set()
    for path in spool.glob("*"):
        if path.name.endswith((".gz", ".claim")):
            payload = json.loads(gzip.decompress(path.read_bytes()))
            spooled |= {span["name"] for trace in payload["traces"] for span in trace["spans"]}
    print(f"exit with a hung ingest server: {seconds:.2f} s; {len(spooled)} of 500 spans in the spool")
    assert seconds < 20
    assert spooled | _delivered_names(ingest) == {f"s{i}" for i in range(500)}


@pytest.mark.parametrize("fault", ["down", "hang"])
def test_exit_with_a_stuck_otlp_collector_is_bounded_and_reported_in_one_line(
    tmp_path: Path, fault: str
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.common", reason="extra 'otlp' not installed")
    collector = Server(decode_otlp, Reply(200, b"", hang_s=HANG_S))
    if fault == "down":
        collector.stop()  # its port refuses connections
    try:
        seconds, stderr = _exit_time(SHORT_APP, _env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url), tmp_path)
    finally:
        collector.stop()
    lines = [line for line in stderr.splitlines() if line.strip()]
    print(f"exit with the OTLP collector {fault}: {seconds:.2f} s; stderr: {lines}")
    assert seconds < 20
    assert "Traceback" not in stderr
    # One line: what the collector did not take, or what shutdown cut off (no span counted twice)
    assert len(lines) == 1 and lines[0].startswith("staso: ") and "spans dropped" in lines[0], lines


def _exit_time(code: str, env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Seconds from the app's last line to its exit (the interpreter's own exit path), and stderr."""
    app = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cwd,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert app.stdout is not None and app.stderr is not None
    assert app.stdout.readline().strip() == "done"
    started = time.monotonic()
    try:
        app.wait(60)
    finally:
        app.kill()
    seconds = time.monotonic() - started
    stderr = app.stderr.read()
    app.stdout.close()
    app.stderr.close()
    assert app.returncode == 0, stderr
    return seconds, stderr


def test_two_processes_draining_one_spool_send_each_batch_once(ingest: Server, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    keys = []
    for n in range(30):  # what an earlier process left: one file per batch, named as the spool names them
        span = open_span(f"b{n}", "custom", None)
        span.end_ns = span.start_ns + 1
        key = f"{n:032x}"
        (spool / f"{time.time_ns():020d}-{key}-1.json.gz").write_bytes(gzip_body(encode_batch([span], [])))
        keys.append(key)
    ingest.default = Reply(200, hang_s=0.05)  # slow enough for the two to overlap

    env = _staso_env(ingest, spool)
    drainers = [
        subprocess.Popen([sys.executable, "-c", LATER_APP, str(spool)], env=env, cwd=tmp_path)
        for _ in range(2)
    ]
    for drainer in drainers:
        assert drainer.wait(60) == 0

    sent = [item.headers["idempotency-key"] for item in ingest.received]
    print(f"two drainers: {len(sent)} requests for 30 spooled batches")
    assert sorted(sent) == sorted(keys)  # each once, with the key it was spooled under


def test_spool_is_owner_only_whatever_the_umask(ingest: Server, tmp_path: Path) -> None:
    ingest.stop()  # down: the batch stays in the spool
    spool = tmp_path / "deep" / "spool"
    code = "import os\nos.umask(0)\n" + SHORT_APP
    subprocess.run([sys.executable, "-c", code], env=_staso_env(ingest, spool), cwd=tmp_path,
                   check=True, timeout=60, capture_output=True)  # fmt: skip
    files = [path for path in spool.glob("*") if path.name.endswith((".gz", ".claim"))]
    assert files and stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}
