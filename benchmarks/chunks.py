"""Per-chunk cost of a traced stream: the SDK's own chunk objects through our proxy and reader.

A stream call costs per-call work (the span, request and response capture: the stream
scenarios of overhead.py and instructions.py hold it) plus per-chunk work: one step of the
proxy's generator (the handler's ``read``, which hands uncommon chunks to ``on_chunk``). Over
a mocked transport the SDK itself spends ~100 µs building each chunk, so a µs per chunk hides
in the whole-call figure; here the chunks are built once (by the real SDK, from the
scenario's SSE body, or for the Responses API from one defined here: what a user's loop
receives) and each contender only iterates them, through the SDK's own stream object (a real
call's ``Stream``, its iterator replaced by one over the built chunks, so the SDK's
``__iter__``/``__next__`` run as in a real call and only the SSE decoding is left out):

- ``baseline``: ``for chunk in stream``, the SDK's ``__iter__`` (``async for`` in one event
  loop for the ``(async)`` APIs: the same chunks through the SDK's ``AsyncStream``);
- ``staso``: the same loop over the proxy and reader ``instrument_all()`` puts on that API's
  streams, with a real span (``init(exporter="none")``), so its per-stream share (proxy,
  reader, span end) is in the figure too, spread over the stream's chunks.

Wall time: each round times every contender in turn (fastest of 5 batches of 50 streams) and
the table gives the median over rounds. With ``--callgrind``, three instruction figures from
three processes (see instructions.py), each staso's minus the baseline's:

- all-in per chunk: ``(Ir(220 streams) - Ir(20 streams)) / 200 streams / 200 chunks``, the
  per-stream share included;
- marginal per chunk: what one more chunk in a stream costs, ``(Ir(220 streams of 400 chunks)
  - Ir(220 streams of 200 chunks)) / 220 / 200`` (the longer stream repeats copies of the
  content chunks between the same first and last chunks);
- per stream: the fixed share of a stream (proxy, reader, span start and end, background
  work), ``200 * (all-in - marginal)``.

    python benchmarks/chunks.py
    python benchmarks/chunks.py --callgrind --json chunks.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import timeit
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from copy import deepcopy
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import MESSAGES, STREAM_CHUNKS, _transport, stream_call

ASYNC = " (async)"  # the same stream through the SDK's async stream class, in an event loop
APIS = ("openai chat", "openai responses", "anthropic messages", "openai chat" + ASYNC,
        "anthropic messages" + ASYNC)  # fmt: skip
CONTENDERS = ("baseline", "staso")
# chunks before and after the content chunks of each API's stream (the longer stream repeats these)
_EDGES = {"openai chat": (1, 2), "openai responses": (4, 4), "anthropic messages": (2, 3)}
_EDGES["openai chat" + ASYNC] = _EDGES["openai chat"]
_EDGES["anthropic messages" + ASYNC] = _EDGES["anthropic messages"]
WARM_UP = 20  # streams of the scenario's length, run before the count in every process
SMALL, LARGE = 20, 220  # streams per process for the all-in figure
LONGER = 2  # the marginal figure's stream is this many times the scenario's length
_FIGURES = {  # figure -> its key in the --json report (instructions_per_chunk: the all-in one, as before)
    "all_in": "instructions_per_chunk",
    "marginal": "marginal_per_chunk",
    "per_stream": "per_stream",
}


_RESPONSE = {
    "id": "resp_bench", "object": "response", "created_at": 1764000000, "model": "o4-mini-2025-04-16",
    "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "status": "in_progress",
}  # fmt: skip


def _responses_sse() -> bytes:
    """A Responses API text stream of ``STREAM_CHUNKS`` events: 4 before the text deltas, 4 after."""
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    at = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    words = [f"w{i} " for i in range(STREAM_CHUNKS - 8)]
    text = "".join(words)
    done_item = {**item, "status": "completed", "content": [{**part, "text": text}]}
    usage = {"input_tokens": 12, "output_tokens": len(words), "total_tokens": 12 + len(words),
             "input_tokens_details": {"cached_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _RESPONSE},
        {"type": "response.in_progress", "response": _RESPONSE},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **at, "part": part},
        *({"type": "response.output_text.delta", **at, "delta": word, "logprobs": []} for word in words),
        {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **at, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed",
         "response": {**_RESPONSE, "status": "completed", "output": [done_item], "usage": usage}},
    ]  # fmt: skip
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()
        for n, event in enumerate(events)
    )


def _stream_call(api: str) -> Callable[[], Any]:
    """One uninstrumented stream call of ``api``: it returns the SDK's stream object."""
    api = api.removesuffix(ASYNC)  # the async stream's chunks are the same objects
    if api != "openai responses":
        return stream_call(api)
    import httpx2
    import openai

    client = openai.OpenAI(
        api_key="bench",
        http_client=httpx2.Client(transport=_transport(_responses_sse(), "text/event-stream")),
    )
    return lambda: client.responses.create(model="o4-mini", input=MESSAGES, stream=True)


def chunks_of(api: str) -> list[Any]:
    """The objects the uninstrumented SDK yields for one stream call of ``api``."""
    return list(_stream_call(api)())


def sdk_stream(api: str) -> Callable[[list[Any]], Any]:
    """``make(chunks)``: the SDK's stream object yielding ``chunks``: a copy of a real call's,
    or an ``AsyncStream`` made bare (its ``__aiter__`` and ``__anext__`` read only ``_iterator``).
    """
    if api.endswith(ASYNC):
        import anthropic
        import openai

        sdk_class = openai.AsyncStream if api.startswith("openai") else anthropic.AsyncStream

        def make_async(chunks: list[Any]) -> Any:
            stream = object.__new__(sdk_class)
            stream.response = None  # Anthropic's ``_observer`` reads it
            stream.__dict__["_iterator"] = _yielding(chunks)  # Anthropic's is a cached property
            return stream

        return make_async
    template = _stream_call(api)()
    template.close()

    def make(chunks: list[Any]) -> Any:
        stream = object.__new__(type(template))
        stream.__dict__.update(template.__dict__)
        stream._iterator = iter(chunks)  # what the SDK's __iter__ and __next__ read from
        return stream

    return make


async def _yielding(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk


def _reader(api: str) -> Callable[[], Any]:
    if api.startswith("openai"):
        from staso_integrations.integrations.openai._stream import stream_handler

        operation = "responses" if api == "openai responses" else "chat"
        return lambda: stream_handler(operation, True)
    from staso_integrations.integrations.anthropic._stream import MessageAccumulator

    return lambda: MessageAccumulator(True)


def lengthened(api: str, chunks: list[Any]) -> list[Any]:
    """The stream ``chunks`` with its content chunks ``LONGER`` times over (copies: no object
    repeats), between the same first and last chunks.
    """
    head, tail = _EDGES[api]
    content = chunks[head:-tail]
    extra = [deepcopy(chunk) for _ in range(LONGER - 1) for chunk in content]
    return [*chunks[:head], *content, *extra, *chunks[-tail:]]


def runner(contender: str, api: str) -> Callable[[list[Any]], None]:
    """``run(chunks)`` iterates one stream of ``chunks`` as ``contender`` would."""
    make = sdk_stream(api)
    if contender == "baseline":
        wrap: Callable[[list[Any]], Any] = make
    else:
        import staso_integrations as st
        from staso_integrations._core.runtime import start_span
        from staso_integrations.integrations._stream import AsyncStreamProxy, SyncStreamProxy

        st.init(exporter="none")
        reader, proxy = _reader(api), AsyncStreamProxy if api.endswith(ASYNC) else SyncStreamProxy

        def wrap(chunks: list[Any]) -> Any:
            return proxy(make(chunks), start_span("chat", "llm"), reader())

    if api.endswith(ASYNC):
        loop = asyncio.new_event_loop()

        async def consume(stream: Any) -> None:
            async for _ in stream:
                pass

        return lambda chunks: loop.run_until_complete(consume(wrap(chunks)))

    def run(chunks: list[Any]) -> None:
        for _ in wrap(chunks):
            pass

    return run


def wall_ns_per_chunk(apis: tuple[str, ...], rounds: int) -> dict[str, dict[str, list[float]]]:
    streams = {api: chunks_of(api) for api in apis}
    runs = {api: {c: runner(c, api) for c in CONTENDERS} for api in apis}
    samples: dict[str, dict[str, list[float]]] = {api: {c: [] for c in CONTENDERS} for api in apis}
    for _ in range(rounds):
        for api, chunks in streams.items():
            for contender, run in runs[api].items():
                best = min(timeit.repeat(partial(run, chunks), number=50, repeat=5))
                samples[api][contender].append(best / 50 / len(chunks) * 1e9)
    return samples


def counted(contender: str, api: str, streams: int, longer: bool) -> None:
    """For callgrind: iterate ``streams`` streams (of the longer kind if ``longer``) after a
    warm-up, then flush. Both kinds are built in every process: their cost cancels out.
    """
    import gc

    chunks = chunks_of(api)
    longer_chunks = lengthened(api, chunks)
    run = runner(contender, api)
    for _ in range(WARM_UP):
        run(chunks)
    gc.freeze()
    counted_chunks = longer_chunks if longer else chunks
    for _ in range(streams):
        run(counted_chunks)
    if contender != "baseline":
        import staso_integrations as st

        # the whole backlog, however slow the machine: a flush that gave up after its default
        # 5 s would leave part of the spans' processing out of the count
        if not st.flush(timeout=3600):
            raise SystemExit("flush did not finish")


def instructions_per_chunk(api: str, contender: str) -> dict[str, float] | None:
    """``all_in`` and ``marginal`` instructions per chunk, ``per_stream`` per stream."""
    from instructions import callgrind_total

    script = [str(Path(__file__).resolve()), "--count", contender, api]
    runs = ((SMALL, 0), (LARGE, 0), (LARGE, 1))  # (streams, longer)
    with ThreadPoolExecutor(2) as pool:  # independent runs: one per core
        small, large, longer = pool.map(lambda run: callgrind_total([*script, *map(str, run)]), runs)
    if small is None or large is None or longer is None:
        return None
    chunks, (head, tail) = len(chunks_of(api)), _EDGES[api]
    all_in = (large - small) / (LARGE - SMALL) / chunks
    marginal = (longer - large) / LARGE / ((chunks - head - tail) * (LONGER - 1))
    return {"all_in": all_in, "marginal": marginal, "per_stream": (all_in - marginal) * chunks}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (needs valgrind)")
    parser.add_argument("--api", choices=APIS, action="append", help="only this stream (repeatable)")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument(
        "--count", nargs=4, metavar=("CONTENDER", "API", "STREAMS", "LONGER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.count:
        contender, api, streams, longer = args.count
        counted(contender, api, int(streams), longer == "1")
        return 0
    apis = tuple(args.api or APIS)
    samples = wall_ns_per_chunk(apis, args.rounds)
    sizes = f"{len(chunks_of(apis[0]))} chunks per stream, {args.rounds} rounds"
    print(f"\npython {sys.version.split()[0]}, {sizes}\n")
    head = "| stream | baseline ns/chunk | staso ns/chunk | staso overhead ns/chunk (min…max) |"
    if args.callgrind:
        head += " instructions/chunk all-in | marginal | instructions/stream |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "wall_ns_per_chunk": samples,
        "instructions_per_chunk": {},  # all-in, per contender
        "marginal_per_chunk": {},
        "per_stream": {},
    }
    for api in apis:
        base, ours = samples[api]["baseline"], samples[api]["staso"]
        extra = [o - b for o, b in zip(ours, base, strict=True)]
        row = (f"| {api} | {statistics.median(base):.0f} | {statistics.median(ours):.0f} | "
               f"{statistics.median(extra):+.0f} ({min(extra):+.0f}…{max(extra):+.0f}) |")  # fmt: skip
        if args.callgrind:
            counts = {c: instructions_per_chunk(api, c) for c in CONTENDERS}
            for figure, key in _FIGURES.items():
                report[key][api] = {c: None if n is None else n[figure] for c, n in counts.items()}
                ours, theirs = report[key][api]["staso"], report[key][api]["baseline"]
                row += " n/a |" if ours is None or theirs is None else f" {ours - theirs:+,.0f} |"
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
