"""Every span the pipeline loses is counted per cause and readable from ``st.stats()``; an
exporter that fails logs one warning per incident, tracebacks only at DEBUG.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

import staso_integrations as st
from staso_integrations._core import runtime
from staso_integrations._core.processors import BatchProcessor, Processor
from staso_integrations._core.rollup import TraceSummary
from staso_integrations._core.span import Span
from staso_integrations.cli import main
from staso_integrations.exporters import InMemoryExporter


class Switchable:
    """Raises while ``failing`` is set, as a collector that goes down and comes back."""

    def __init__(self) -> None:
        self.failing = False
        self.received = 0

    def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
        if self.failing:
            raise ConnectionError("collector down")
        self.received += len(spans)

    def shutdown(self) -> None:
        return None


def _spans(n: int, name: str = "s") -> None:
    for _ in range(n):
        with st.span(name):
            pass


def _dropped() -> dict[str, int]:
    return st.stats()["dropped"]


def _delta(before: dict[str, int]) -> dict[str, int]:
    return {cause: n - before[cause] for cause, n in _dropped().items() if n != before.get(cause, 0)}


@pytest.mark.parametrize("processor", ["simple", "batch"])
def test_two_exporter_outages_log_two_warnings_and_count_every_lost_span(
    processor: str, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = Switchable()
    st.init(exporter=exporter, processor=processor)
    pipeline = runtime.get_runtime().processor
    if isinstance(pipeline, BatchProcessor):
        pipeline.batch_size = 1  # one export() per span, as with the simple processor
    before = _dropped()
    caplog.set_level(logging.DEBUG, logger="staso_integrations")
    for failing, n in ((True, 5), (False, 2), (True, 3), (False, 1)):
        exporter.failing = failing
        _spans(n)
        assert st.flush(5)

    incidents = [r for r in caplog.records if r.getMessage().startswith("staso exporter Switchable failed (")]
    print("\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO))
    assert len(incidents) == 2 and all(r.levelno == logging.WARNING for r in incidents)
    assert "ConnectionError: collector down" in incidents[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and r.exc_info]  # no traceback
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]) == 8
    assert len([r for r in caplog.records if "recovered after" in r.getMessage()]) == 2
    stats = st.stats()
    assert (stats["exported"], stats["exporter_failures"], stats["queued"]) == (3, 8, 0)
    assert _delta(before) == {"exporter": 8}
    assert exporter.received == 3


def test_a_span_the_pipeline_fails_on_is_dropped_alone_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASO_STRICT", "0")  # the behaviour users get
    enrich = Processor._enrich

    def enrich_or_fail(self: Processor, span: Span) -> None:
        if span.name == "bad":
            raise RecursionError("a value the pipeline cannot handle")
        enrich(self, span)

    monkeypatch.setattr(Processor, "_enrich", enrich_or_fail)
    memory = InMemoryExporter()
    st.init(exporter=memory)
    before = _dropped()
    _spans(50)
    _spans(1, "bad")
    _spans(49)
    assert st.flush(5)
    assert len(memory.spans) == 99  # one batch: the other 99 arrive
    assert _delta(before) == {"processor": 1}


def test_queue_full_drops_are_counted_and_the_queue_reported() -> None:
    release = threading.Event()

    class Blocking(Switchable):
        def export(self, spans: Sequence[Span], traces: Sequence[TraceSummary]) -> None:
            release.wait(10)
            super().export(spans, traces)

    exporter = Blocking()
    st.init(exporter=exporter)
    processor = runtime.get_runtime().processor
    assert isinstance(processor, BatchProcessor)
    processor.max_queue_size, processor.batch_size = 100, 10
    before = _dropped()
    _spans(1)
    st.flush(0.2)  # the thread now waits inside the exporter
    _spans(500)
    queued = st.stats()["queued"]
    release.set()
    assert st.flush(5)
    assert queued == 100
    assert _delta(before) == {"queue_full": 400}
    assert exporter.received + 400 == 501 == st.stats()["exported"] + 400


def test_stats_is_a_plain_dict_before_init_and_doctor_prints_the_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    st.shutdown()
    stats = st.stats()
    assert set(stats) == {"exported", "queued", "exporter_failures", "caller_waits", "caller_wait_s", "dropped"}
    assert (stats["exported"], stats["queued"], stats["exporter_failures"], stats["caller_waits"]) == (0, 0, 0, 0)
    assert not runtime.is_initialized()  # reading stats does not start a pipeline
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    pipeline = out[out.index("\npipeline") :].strip().splitlines()
    print("\n".join(pipeline))
    assert "counts are per process" in pipeline[0]
    assert pipeline[1] == "  exporters sqlite, processor batch, exit bounded by shutdown_timeout 3 s"
    assert pipeline[2].startswith("  exported 0, queued 0, exporter failures 0, dropped: ")


@pytest.mark.parametrize("value", ["-1", "nan", "soon", "301"])
def test_a_bad_shutdown_timeout_is_refused_at_init(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STASO_SHUTDOWN_TIMEOUT", value)
    with pytest.raises(ValueError, match=r"(?i)shutdown_timeout.*0\.\.300"):
        st.init()
