"""What the SQLite store's write costs per span as its file grows, with the trace ids the
package makes (time-ordered) and with uniformly random ones (what it made before, and what a
trace parented by OpenTelemetry brings).

The spans are those of real OpenAI creates (``scenarios.py``), given fresh ids for every batch
of 60, as the processor's thread hands them to ``SqliteExporter.export``. For each kind of id
and store size, a native process first fills a fresh store with that many spans; then:

- instructions: two processes under callgrind open a copy of it and write 2 and 12 batches;
  per span, ``(Ir(12) - Ir(2)) / (10 * 60)``;
- wall and CPU: a native process writes 50 batches to another copy; µs per span.

    python benchmarks/store_growth.py                      # ~3 min; instructions need valgrind
    python benchmarks/store_growth.py --sizes 0,1000000 --json growth.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instructions import callgrind_total, valgrind_missing

BATCH = 60
IDS = ("time-ordered", "random")


def _random_trace_id() -> str:
    return (random.getrandbits(128) or 1).to_bytes(16, "big").hex()


def _writer(ids: str, path: str) -> Any:
    """``write()``: one batch of the scenario's spans, freshly keyed, into the store at ``path``."""
    from scenarios import SCENARIOS

    import staso_integrations as st
    from staso_integrations._core.span import new_span_id, new_trace_id
    from staso_integrations.exporters import InMemoryExporter, SqliteExporter

    memory = InMemoryExporter()
    st.init(exporter=memory)
    st.instrument_all()
    call, _ = SCENARIOS["openai create (sync)"]()
    for _ in range(BATCH):
        call()
    st.shutdown()
    spans = memory.spans
    assert len(spans) == BATCH
    new_id = new_trace_id if ids == "time-ordered" else _random_trace_id
    store = SqliteExporter(path)

    def write() -> None:
        for span in spans:
            span.trace_id, span.span_id = new_id(), new_span_id()
        store.export(spans, [])

    return write, store


def _worker(step: str, ids: str, path: str, batches: int) -> None:
    write, store = _writer(ids, path)
    store.export([], [])  # opens (creates) the store
    if step == "time":
        write()  # warm: the connection and its statements
        wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        write()
    if step == "time":
        spans = batches * BATCH
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({"wall_us": wall / spans * 1e6, "cpu_us": cpu / spans * 1e6}))
    store.shutdown()


def _measure(ids: str, size: int, scratch: Path, counted: bool) -> dict[str, Any]:
    filled = scratch / f"{ids}-{size}.db"
    me = str(Path(__file__).resolve())
    subprocess.run([sys.executable, me, "--worker", "fill", ids, str(filled), str(size // BATCH)], check=True)
    row: dict[str, Any] = {"ids": ids, "stored_spans": size}

    def copy(name: str) -> str:
        target = scratch / name
        shutil.copyfile(filled, target)
        return str(target)

    timed = subprocess.run(
        [sys.executable, me, "--worker", "time", ids, copy("timed.db"), "50"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    row.update(json.loads(timed.stdout.splitlines()[-1]))
    if counted:
        small = callgrind_total([me, "--worker", "count", ids, copy("small.db"), "2"])
        large = callgrind_total([me, "--worker", "count", ids, copy("large.db"), "12"])
        if small is not None and large is not None:
            row["instructions"] = (large - small) / (10 * BATCH)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="0,200000", help="stored spans before the measure, comma-separated"
    )
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument(
        "--worker", nargs=4, metavar=("STEP", "IDS", "PATH", "BATCHES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        step, ids, path, batches = args.worker
        _worker(step, ids, path, int(batches))
        return
    counted = not valgrind_missing()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in (int(size) for size in args.sizes.split(",")):
            for ids in IDS:
                rows.append(_measure(ids, size, Path(scratch), counted))
                print(f"  {rows[-1]}", file=sys.stderr)
    print("| trace ids | spans stored | instructions per span | wall µs per span | CPU µs per span |")
    print("|---|---|---|---|---|")
    for row in rows:
        instructions = f"{row['instructions']:,.0f}" if "instructions" in row else "-"
        times = f"{row['wall_us']:.1f} | {row['cpu_us']:.1f}"
        print(f"| {row['ids']} | {row['stored_spans']:,} | {instructions} | {times} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
