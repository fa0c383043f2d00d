"""The benchmark harnesses still run against the installed SDKs (no timing is checked here:
speed is measured by the benchmarks themselves, never by a test)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(*argv: str) -> str:
    assert os.environ.get("STASO_STRICT") == "1"
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=BENCHMARKS
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    "scenario",
    [
        "openai stream + usage",
        "anthropic create",
        "langchain tool invoke",
        "langchain chain stream",
        "langgraph agent turn",
        "openai agent turn",
    ],
)
def test_overhead_worker_runs_each_scenario_traced(scenario: str) -> None:
    result = json.loads(_run("overhead.py", "--worker", "staso", scenario, "5").splitlines()[-1])
    assert result["us_per_call"] > 0
    assert result["chunks"] == (200 if "stream" in scenario else 0)


def test_chunks_times_each_200_chunk_stream_with_strict_readers() -> None:
    # STASO_STRICT (set by conftest) reaches the subprocess: a reader that raised on a chunk
    # would fail the run instead of being skipped by its guard and timed as doing nothing.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from chunks import APIS, chunks_of
    finally:
        sys.path.remove(str(BENCHMARKS))
    with warnings.catch_warnings():  # the scenarios' Claude model is deprecated (not retired)
        warnings.simplefilter("ignore", DeprecationWarning)
        assert {api: len(chunks_of(api)) for api in APIS} == dict.fromkeys(APIS, 200)
    table = _run("chunks.py", "--rounds", "1")
    rows = [line for line in table.splitlines() if line.startswith(("| openai", "| anthropic"))]
    assert len(rows) == len(APIS)
    for row in rows:
        assert re.fullmatch(r"\| [a-z ()]+ \| \d+ \| \d+ \| [+-]\d+ \([+-]\d+…[+-]\d+\) \|", row), row


def test_spans_check_counts_what_each_contender_records() -> None:
    traced = json.loads(
        _run("overhead.py", "--spans", "staso", "langchain tool invoke", "3").splitlines()[-1]
    )
    assert traced == {"spans_per_call": {"staso": 1.0}}
    untraced = json.loads(
        _run("overhead.py", "--spans", "baseline", "langchain tool invoke", "3").splitlines()[-1]
    )
    assert untraced == {"spans_per_call": {}}


def test_startup_times_each_step_in_fresh_processes() -> None:
    table = _run("startup.py", "--contender", "staso", "--runs", "1")
    row = next(line for line in table.splitlines() if line.startswith("| staso |"))
    assert re.fullmatch(r"\| staso( \| \d+\.\d){4} \(\d+\.\d\) \| \d+\.\d \|", row), row


def test_compare_picks_the_cheapest_peer_that_records_a_span() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from compare import best_peer, overheads
    finally:
        sys.path.remove(str(BENCHMARKS))
    counts = {"baseline": 1000, "staso": 1100, "cheap-but-blind": 1050, "peer-a": 1900, "peer-b": 1600}
    spans = {"staso": {"staso": 1.0}, "cheap-but-blind": {"com.anthropic.sdk.python": 1.0},
             "peer-a": {"a": 1.0}, "peer-b": {"b": 2.0}}  # fmt: skip
    record = {
        "instructions": [{"results": {"s": {"chunks": 0, "instructions": counts, "spans_per_call": spans}}}]
    }
    assert best_peer(overheads(record)["s"]) == ("peer-b", 600)


def test_the_compiled_core_study_names_modules_that_exist() -> None:
    # A module renamed or moved would otherwise surface only as mypyc's error, minutes into a run.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from compiled_core import COMPILED, DEFAULT_SCENARIOS, PACKAGE
        from scenarios import SCENARIOS
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert [module for module in COMPILED if not (PACKAGE / module).is_file()] == []
    assert set(DEFAULT_SCENARIOS) <= set(SCENARIOS)


@pytest.mark.parametrize("ids", ["time-ordered", "random"])
def test_store_growth_writes_freshly_keyed_batches(ids: str, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    timed = json.loads(_run("store_growth.py", "--worker", "time", ids, str(db), "2").splitlines()[-1])
    assert timed["wall_us"] > 0 and timed["cpu_us"] > 0
    conn = sqlite3.connect(db)
    try:
        spans, traces = conn.execute("SELECT count(*), count(DISTINCT trace_id) FROM spans").fetchone()
    finally:
        conn.close()
    assert spans == traces == 3 * 60  # the warm-up batch and two timed ones, a trace per span
