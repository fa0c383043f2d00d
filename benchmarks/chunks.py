"""Per-chunk cost of a traced stream: the SDK's own chunk objects through our proxy and reader.

A stream call costs per-call work (the span, request and response capture: the stream
scenarios of overhead.py and instructions.py hold it) plus per-chunk work: one step of the
proxy and the provider's reader (``on_chunk``). Over a mocked transport the SDK itself spends
~100 µs building each chunk, so a µs per chunk hides in the whole-call figure; here the
chunks are built once (by the real SDK, from the scenario's SSE body: what a user's loop
receives) and each contender only iterates them:

- ``baseline``: a plain iterator over the chunks;
- ``staso``: the proxy and reader ``instrument_all()`` puts on that API's streams, with a
  real span (``init(exporter="none")``), so its per-stream share (proxy, reader, span end)
  is in the figure too, spread over the stream's chunks.

Wall time: each round times every contender in turn (fastest of 5 batches of 50 streams) and
the table gives the median over rounds. With ``--callgrind``: instructions per chunk,
``(Ir(large) - Ir(small)) / chunks`` over two processes (see instructions.py).

    python benchmarks/chunks.py
    python benchmarks/chunks.py --callgrind --json chunks.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import stream_chunks

APIS = ("openai chat", "anthropic messages")
CONTENDERS = ("baseline", "staso")


def _reader(api: str) -> Callable[[], Any]:
    if api == "openai chat":
        from staso_integrations.integrations.openai._stream import stream_handler

        return lambda: stream_handler("chat", True)
    from staso_integrations.integrations.anthropic._stream import MessageAccumulator

    return lambda: MessageAccumulator(True)


def iterate_once(contender: str, api: str) -> tuple[Callable[[], None], int]:
    """``(run, chunks)``: ``run()`` iterates one stream's chunks as ``contender`` would."""
    chunks = stream_chunks(api)
    if contender == "baseline":

        def run() -> None:
            for _ in iter(chunks):
                pass

        return run, len(chunks)
    import staso_integrations as st
    from staso_integrations._core.runtime import start_span
    from staso_integrations.integrations._stream import SyncStreamProxy

    st.init(exporter="none")
    reader = _reader(api)

    def traced() -> None:
        for _ in SyncStreamProxy(iter(chunks), start_span("chat", "llm"), reader()):
            pass

    return traced, len(chunks)


def wall_ns_per_chunk(apis: tuple[str, ...], rounds: int) -> dict[str, dict[str, list[float]]]:
    runs = {api: {c: iterate_once(c, api) for c in CONTENDERS} for api in apis}
    samples: dict[str, dict[str, list[float]]] = {api: {c: [] for c in CONTENDERS} for api in apis}
    for _ in range(rounds):
        for api in apis:
            for contender, (run, chunks) in runs[api].items():
                best = min(timeit.repeat(run, number=50, repeat=5))
                samples[api][contender].append(best / 50 / chunks * 1e9)
    return samples


def counted(contender: str, api: str, streams: int) -> None:
    """For callgrind: iterate ``streams`` streams after a warm-up, then flush."""
    import gc

    run, _ = iterate_once(contender, api)
    for _ in range(20):
        run()
    gc.freeze()
    for _ in range(streams):
        run()
    if contender != "baseline":
        import staso_integrations as st

        st.flush()


def instructions_per_chunk(api: str, contender: str, small: int = 20, large: int = 220) -> float | None:
    from instructions import callgrind_total

    script = [str(Path(__file__).resolve()), "--count", contender, api]
    with ThreadPoolExecutor(2) as pool:  # independent runs: one per core
        low, high = pool.map(lambda n: callgrind_total([*script, str(n)]), (small, large))
    if low is None or high is None:
        return None
    return (high - low) / (large - small) / len(stream_chunks(api))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (needs valgrind)")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--count", nargs=3, metavar=("CONTENDER", "API", "STREAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count:
        contender, api, streams = args.count
        counted(contender, api, int(streams))
        return 0
    samples = wall_ns_per_chunk(APIS, args.rounds)
    sizes = f"{len(stream_chunks(APIS[0]))} chunks per stream, {args.rounds} rounds"
    print(f"\npython {sys.version.split()[0]}, {sizes}\n")
    head = "| stream | baseline ns/chunk | staso ns/chunk | staso overhead ns/chunk (min…max) |"
    if args.callgrind:
        head += " staso overhead instructions/chunk |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "wall_ns_per_chunk": samples,
        "instructions_per_chunk": {},
    }
    for api in APIS:
        base, ours = samples[api]["baseline"], samples[api]["staso"]
        extra = [o - b for o, b in zip(ours, base, strict=True)]
        row = (f"| {api} | {statistics.median(base):.0f} | {statistics.median(ours):.0f} | "
               f"{statistics.median(extra):+.0f} ({min(extra):+.0f}…{max(extra):+.0f}) |")  # fmt: skip
        if args.callgrind:
            counts = {c: instructions_per_chunk(api, c) for c in CONTENDERS}
            report["instructions_per_chunk"][api] = counts
            if None in counts.values():
                row += " n/a |"
            else:
                row += f" {counts['staso'] - counts['baseline']:+,.0f} |"
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
