"""The fault suite, pipeline side: every produced span is delivered, dropped or failed, counted.

Figures are in the test names; each test prints its counts (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import staso_integrations as st
from staso_integrations._core import runtime
from staso_integrations._core.processors import BatchProcessor
from staso_integrations._core.rollup import TraceSummary
from staso_integrations._core.span import Span
from staso_integrations.exporters import InMemoryExporter


class FlakyExporter:
    """Raises for its first ``failures`` calls, optionally blocks, then takes everything."""

    def __init__(self, failures: int = 0, block: threading.Event | None = None) -> None:
        self.failures = failures
        self.block = block
        self.received = 0

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if self.block is not None:
            self.block.wait(30)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("collector down")
        self.received += len(spans)

    def shutdown(self) -> None:
        if self.block is not None:
            self.block.set()


def _batch_pipeline(exporter: FlakyExporter, **config: int) -> BatchProcessor:
    st.init(exporter=exporter)
    processor = runtime.get_runtime().processor
    assert isinstance(processor, BatchProcessor)
    for name, value in config.items():
        setattr(processor, name, value)
    return processor


def _produce(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        with st.span("s"):
            pass
    return time.perf_counter() - start


def test_exporter_raising_2000_spans_all_accounted_for() -> None:
    exporter = FlakyExporter(failures=3)
    processor = _batch_pipeline(exporter, batch_size=100)
    _produce(2000)
    assert st.flush(10)
    print(f"delivered={exporter.received} failed={processor.failed_spans} dropped={processor.dropped}")
    assert exporter.received + processor.failed_spans + processor.dropped == 2000
    assert processor.export_errors == 3 and exporter.received >= 1700


def test_exporter_hanging_5000_spans_app_never_waits() -> None:
    release = threading.Event()
    exporter = FlakyExporter(block=release)
    processor = _batch_pipeline(exporter, max_queue_size=1000, batch_size=100)
    elapsed = _produce(5000)
    assert st.flush(0.2) is False  # bounded: the stuck exporter cannot hold flush() forever
    release.set()
    assert st.flush(10)
    print(f"app time {elapsed * 1e3:.0f} ms; delivered={exporter.received} dropped={processor.dropped}")
    assert elapsed < 5.0
    assert processor.dropped > 0
    assert exporter.received + processor.dropped == 5000


async def test_1000_concurrent_asyncio_traces_no_cross_talk(exporter: InMemoryExporter) -> None:
    @st.trace
    async def step(trace_no: int, depth: int) -> int:
        await asyncio.sleep(0)
        if depth:
            return await step(trace_no, depth - 1)
        return trace_no

    @st.trace
    async def request(trace_no: int) -> int:
        with st.conversation(f"conv-{trace_no}"):
            return await step(trace_no, 2)

    assert await asyncio.gather(*(request(i) for i in range(1000))) == list(range(1000))
    by_id = {s.span_id: s for s in exporter.spans}
    assert len(by_id) == 4000 and len(exporter.traces) == 1000
    for span in exporter.spans:
        if span.parent_span_id is not None:
            parent = by_id[span.parent_span_id]
            assert parent.trace_id == span.trace_id
            assert parent.input["trace_no"] == span.input["trace_no"]


def test_16_threads_x_200_traces_no_cross_talk(exporter: InMemoryExporter) -> None:
    @st.trace
    def leaf(worker: int) -> int:
        return worker

    @st.trace
    def job(worker: int) -> int:
        return leaf(worker)

    def run(worker: int) -> None:
        for _ in range(200):
            job(worker)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = {s.span_id: s for s in exporter.spans if s.name == "job"}
    leaves = [s for s in exporter.spans if s.name == "leaf"]
    assert len(jobs) == len(leaves) == 3200
    assert all(jobs[leaf.parent_span_id].input == leaf.input for leaf in leaves)


def test_exit_with_a_hanging_exporter_still_exits_within_6s(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import threading, staso_integrations as st\n"
        "class Stuck:\n"
        "    def export(self, spans, traces): threading.Event().wait(60)\n"
        "    def shutdown(self): pass\n"
        "st.init(exporter=Stuck())\n"
        "with st.span('x'): pass\n"
        "st.flush(0.1)\n"
        "print('app done')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.perf_counter() - start
    print(f"exit took {elapsed:.1f} s")
    assert done.stdout.strip() == "app done" and done.returncode == 0
    assert elapsed < 6 + 3  # 5 s flush budget at exit, plus interpreter start-up
