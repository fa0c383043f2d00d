from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.config import load_config
from staso_integrations._core.processors import BatchProcessor
from staso_integrations._core.rollup import TraceSummary
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter, SqliteExporter


def _llm_span(name: str, model: str | None, usage: Usage | None, provider: str = "openai") -> None:
    with st.span(name, kind="llm") as span:
        span.provider = provider
        span.request_model = model
        span.usage = usage


def test_cost_is_computed_by_the_pipeline_from_genai_prices(exporter: InMemoryExporter) -> None:
    with st.span("agent", kind="agent"):
        _llm_span("a", "gpt-4o-mini", Usage(input=1000, output=500, cache_read=200))
        _llm_span("b", "claude-sonnet-4-5", Usage(input=1000, output=100), provider="anthropic")
    a, b = exporter.by_name("a"), exporter.by_name("b")
    # gpt-4o-mini: 800 uncached x $0.15/M + 200 cached x $0.075/M + 500 x $0.60/M
    assert a.cost_usd == pytest.approx(0.000435)
    assert b.cost_usd is not None and b.cost_usd > 0
    summary = exporter.traces[a.trace_id]
    assert summary.cost_usd == pytest.approx(a.cost_usd + b.cost_usd)
    assert summary.usage.input == 2000 and summary.usage.output == 600 and summary.usage.total == 2600
    assert summary.usage.cache_read == 200


def test_unknown_model_keeps_tokens_and_has_no_cost(exporter: InMemoryExporter) -> None:
    _llm_span("x", "my-finetune-xyz", Usage(input=10, output=5))
    span = exporter.by_name("x")
    assert span.cost_usd is None
    assert span.usage == Usage(input=10, output=5)
    assert exporter.traces[span.trace_id].usage.total == 15


def test_trace_rollup_counts_spans_errors_and_duration(exporter: InMemoryExporter) -> None:
    with st.span("root") as root:
        for i in range(3):
            with st.span(f"child-{i}"):
                pass
        with pytest.raises(ValueError):
            with st.span("bad"):
                raise ValueError("x")
    summary = exporter.traces[root.trace_id]
    assert summary.span_count == 5
    assert summary.error_count == 1
    assert summary.status == "ok"
    assert summary.name == "root"
    assert summary.duration_ms == pytest.approx(root.duration_ms)


def test_trace_summary_only_when_root_ends(exporter: InMemoryExporter) -> None:
    with st.span("root") as root:
        with st.span("child"):
            pass
        assert root.trace_id not in exporter.traces
    assert root.trace_id in exporter.traces


class _Blocking:
    """An exporter that blocks until released: the worker is stuck, the caller must not be."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.spans: list[Span] = []

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        self.release.wait(10)
        self.spans.extend(spans)

    def shutdown(self) -> None:
        self.release.set()


def test_queue_overflow_counts_drops_and_never_blocks() -> None:
    blocking = _Blocking()
    config = load_config(env={}, exporters=(), max_queue_size=50, batch_size=10)
    st.init(exporter=blocking)
    from staso_integrations._core import runtime

    processor = BatchProcessor([blocking], config)
    runtime._runtime.processor = processor  # type: ignore[union-attr]
    start = time.perf_counter()
    for _ in range(1000):
        with st.span("s"):
            pass
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # 1000 spans against a stuck exporter: no waiting on it
    assert processor.dropped >= 1000 - 50 - 10
    blocking.release.set()
    assert processor.flush(5.0)
    assert len(blocking.spans) + processor.dropped == 1000
    processor.shutdown()


def test_flush_exports_everything() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory)  # batch processor, 1 s interval
    for _ in range(500):
        with st.span("s"):
            pass
    assert st.flush(5.0) is True
    assert len(memory.spans) == 500
    assert len(memory.traces) == 500


def test_shutdown_flushes_and_stops_the_thread() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory)
    from staso_integrations._core import runtime

    processor = runtime.get_runtime().processor
    with st.span("s"):
        pass
    st.shutdown()
    assert len(memory.spans) == 1
    assert not processor._thread.is_alive()  # type: ignore[attr-defined]


class _Raising:
    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        raise ConnectionError("collector down")

    def shutdown(self) -> None:
        raise RuntimeError("cannot close")


@pytest.mark.parametrize("processor", ["simple", "batch"])
def test_an_exporter_that_raises_does_not_break_the_app_or_the_others(processor: str) -> None:
    memory = InMemoryExporter()
    st.init(exporter=[_Raising(), memory], processor=processor)

    @st.trace
    def work() -> str:
        return "fine"

    assert work() == "fine"
    st.flush()
    assert len(memory.spans) == 1
    from staso_integrations._core import runtime

    assert runtime.get_runtime().processor.export_errors == 1
    st.shutdown()  # a failing exporter shutdown is logged, not raised


def test_a_span_ending_after_its_root_updates_the_trace(exporter: InMemoryExporter) -> None:
    from staso_integrations._core.context import use_span
    from staso_integrations._core.runtime import start_span

    with st.span("root") as root:
        with use_span(root):
            late = start_span("background-job", "tool")
    assert exporter.traces[root.trace_id].span_count == 1
    late.usage = Usage(input=7, output=3)
    late.end()
    assert exporter.traces[root.trace_id].span_count == 2
    assert exporter.traces[root.trace_id].usage.total == 10


def test_finished_traces_are_not_kept() -> None:
    from staso_integrations._core.rollup import TraceAggregator

    aggregator = TraceAggregator(max_open=100, max_recent=10)
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    for _ in range(1000):
        with st.span("root"):
            pass
    for span in memory.spans:
        aggregator.add(span)
    assert len(aggregator._open) == 0 and len(aggregator._recent) == 10


@pytest.mark.parametrize(
    "usage",
    [None, Usage(input=12, output=3), Usage(input=5, total=9, cache_read=2, reasoning=0), Usage(output=4)],
)
@pytest.mark.parametrize("fails", [False, True])
def test_the_summary_of_a_root_ending_first_equals_one_built_span_by_span(
    usage: Usage | None, fails: bool
) -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.conversation("c-1", user_id="u-1", tags=["t"], metadata={"m": 1}):
        try:
            with st.span("root", kind="llm") as root:
                root.usage, root.cost_usd = usage, 2
                if fails:
                    raise ValueError("boom")
        except ValueError:
            pass
    built = TraceSummary(root.trace_id)
    built.add(root)
    assert TraceSummary.of_root(root) == built and memory.traces[root.trace_id] == built
    assert type(built.cost_usd) is float


class _SpansOnly:
    uses_trace_summaries = False

    def __init__(self) -> None:
        self.traces: list[Any] = []

    def export(self, spans: Any, traces: Any) -> None:
        self.traces.extend(traces)

    def shutdown(self) -> None:
        pass


def test_no_roll_up_is_computed_when_no_exporter_uses_one() -> None:
    spans_only, memory = _SpansOnly(), InMemoryExporter()
    st.init(exporter=[spans_only], processor="simple")
    with st.span("alone"):
        pass
    assert spans_only.traces == []
    st.init(exporter=[spans_only, memory], processor="simple")
    with st.span("alone"):
        pass
    assert len(spans_only.traces) == 1 and list(memory.traces) == list(t.trace_id for t in spans_only.traces)


def test_sampling_keeps_roll_ups_for_the_error_keeper_whatever_the_exporters() -> None:
    spans_only = _SpansOnly()
    st.init(exporter=[spans_only], processor="simple", sample_rate=0.5, keep_errors=True)
    assert st.get_runtime().processor._rolls_up
