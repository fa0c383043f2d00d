"""Per-call overhead of staso-integrations against the uninstrumented SDKs.

Each (contender, scenario) runs in its own subprocess; rounds interleave the contenders so
machine noise hits all alike; we report medians with min…max over rounds. No network: every
SDK talks to a mocked HTTP transport. See benchmarks/README.md.

    python benchmarks/overhead.py                   # everything installed, default sizes
    python benchmarks/overhead.py --rounds 3 --calls 500 --scenario "openai create (sync)"
    python benchmarks/overhead.py --rss-only --json rss.json     # RSS over 100k calls with the store
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import startup
from scenarios import SCENARIOS

BASELINE = "baseline"
AA_CONTROL = "baseline-aa"


def _staso(**settings: Any) -> Callable[[], Any]:
    import staso_integrations as st

    st.init(**settings)
    st.instrument_all()
    # The whole backlog, however long it takes: under a loaded callgrind run the default 5 s
    # timeout cut the background processing short, and the count lost part of it.
    return lambda: st.flush(timeout=3600)


def _staso_sqlite() -> Callable[[], Any]:
    return _staso(exporter="sqlite", sqlite_path=os.path.join(tempfile.mkdtemp(), "bench.db"))


def _otel_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _instrument_each(package: str, instrumentors: tuple[tuple[str, str], ...]) -> Callable[[], Any]:
    """Instrument every ``package.<module>:<Class>`` that is installed, on one OTel provider."""
    provider = _otel_provider()
    for module, name in instrumentors:
        try:
            instrumentor = getattr(__import__(f"{package}.{module}", fromlist=[name]), name)
        except ImportError:
            continue
        instrumentor().instrument(tracer_provider=provider)
    return provider.force_flush


def _otel_peer(name: str) -> Callable[[], Callable[[], Any]]:
    package, instrumentors = startup.OTEL_PEERS[name]
    return lambda: _instrument_each(package, instrumentors)


def _logfire() -> Callable[[], Any]:
    import logfire

    logfire.configure(send_to_logfire=False, console=False)
    logfire.instrument_openai()
    logfire.instrument_anthropic()
    return logfire.force_flush


def _langfuse() -> Callable[[], Any]:
    """Langfuse's OpenAI drop-in (it patches the ``openai`` module when imported; it has no
    Anthropic one), on its own span processor with an in-memory exporter: nothing is sent."""
    from langfuse import Langfuse
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    client = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url="http://127.0.0.1:9",
                      span_exporter=InMemorySpanExporter())  # fmt: skip
    import langfuse.openai  # noqa: F401

    return client.flush


CONTENDERS: dict[str, tuple[str | None, Callable[[], Callable[[], Any]] | None]] = {
    # name -> (module that must be importable, set-up returning its flush)
    BASELINE: (None, None),
    AA_CONTROL: (None, None),  # the baseline again: its "overhead" is the method's own noise
    "staso": ("staso_integrations", lambda: _staso(exporter="none")),
    "staso+sqlite": ("staso_integrations", _staso_sqlite),
    "openinference": ("openinference.instrumentation.openai", _otel_peer("openinference")),
    "openllmetry": ("opentelemetry.instrumentation.openai", _otel_peer("openllmetry")),
    "otel-openai-v2": ("opentelemetry.instrumentation.openai_v2", _otel_peer("otel-openai-v2")),
    "logfire": ("logfire", _logfire),
    "langfuse": ("langfuse.openai", _langfuse),
}


def _available(name: str) -> bool:
    import importlib.util

    module = CONTENDERS[name][0]
    try:
        return module is None or importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def prepared(contender: str, scenario: str) -> tuple[Callable[[], Any], Callable[[], Any], int]:
    """``(call, flush, chunks)`` for one contender on one scenario, warmed up and flushed."""
    setup = CONTENDERS[contender][1]
    flush = setup() if setup is not None else (lambda: None)
    call, chunks = SCENARIOS[scenario]()
    for _ in range(20):
        call()
    flush()
    return call, flush, chunks


def worker(contender: str, scenario: str, calls: int) -> dict[str, float]:
    """Median over 5 batches of wall µs per call. Each batch ends with the contender's flush,
    so the background export of the batch's spans is inside its time."""
    call, flush, chunks = prepared(contender, scenario)
    for _ in range(min(200, calls)):
        call()
    flush()
    batch = max(1, calls // 5)
    samples = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(batch):
            call()
        flush()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return {"us_per_call": statistics.median(samples), "best_us_per_call": min(samples), "chunks": chunks}


def fixed_worker(contender: str, scenario: str, calls: int) -> None:
    """Exactly ``calls`` calls and a flush (for instruction counts: see instructions.py).

    The heap built by imports and set-up is frozen first: a full collection over it (tens of
    millions of instructions) would land in one run and not the other, by chance."""
    call, flush, _ = prepared(contender, scenario)
    gc.freeze()
    for _ in range(calls):
        call()
    if flush() is False:
        raise SystemExit("the contender's flush timed out: its background work is not all counted")


def spans_worker(contender: str, scenario: str, calls: int = 10) -> dict[str, Any]:
    """Spans per call each instrumentation records on ``scenario`` (not timed): which
    contenders trace it at all, for choosing the best peer. OpenTelemetry spans are counted
    as they end, by instrumentation scope; ours by the pipeline's export count."""
    ended: dict[str, int] = {}
    try:
        from opentelemetry.sdk.trace import Span

        end = Span.end

        def counting_end(span: Any, *args: Any, **kwargs: Any) -> None:
            scope = span.instrumentation_scope.name if span.instrumentation_scope else "?"
            ended[scope] = ended.get(scope, 0) + 1
            end(span, *args, **kwargs)

        Span.end = counting_end  # type: ignore[method-assign]
    except ImportError:
        pass
    call, flush, _ = prepared(contender, scenario)
    ended.clear()
    exported = _staso_exported()
    for _ in range(calls):
        call()
    if flush() is False:
        raise SystemExit("the contender's flush timed out: its background work is not all counted")
    per_call = {scope: n / calls for scope, n in sorted(ended.items())}
    if exported is not None:
        per_call["staso"] = (_staso_exported() - exported) / calls
    return {"spans_per_call": per_call}


def _staso_exported() -> int | None:
    if "staso_integrations" not in sys.modules:
        return None
    import staso_integrations as st

    return int(st.stats()["exported"])


def _run_worker(contender: str, scenario: str, calls: int, mode: str = "--worker") -> dict[str, Any] | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, __file__, mode, contender, scenario, str(calls)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  {contender} / {scenario}: failed: {last}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scenario_runs(scenario: str) -> bool:
    return _run_worker(BASELINE, scenario, 10) is not None


def measure(scenarios: list[str], contenders: list[str], rounds: int, calls: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario in scenarios:
        if not _scenario_runs(scenario):
            print(f"skip {scenario}: its libraries are not installed", file=sys.stderr)
            continue
        per: dict[str, list[float]] = {c: [] for c in contenders}
        chunks = 0
        for round_index in range(rounds):
            order = contenders if round_index % 2 == 0 else contenders[::-1]
            for contender in order:
                result = _run_worker(contender, scenario, calls)
                if result is not None:
                    per[contender].append(result["us_per_call"])
                    chunks = int(result["chunks"])
        results[scenario] = {"chunks": chunks, "us_per_call": {c: v for c, v in per.items() if v}}
        print(f"done {scenario}", file=sys.stderr)
    return results


def rss_growth(calls: int) -> dict[str, float | int]:
    here, warm_up = str(Path(__file__).resolve().parent), max(calls // 5, 20_000)  # caches fill in ~20k calls
    code = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from overhead import _staso_sqlite; from scenarios import openai_create\n"
        "import staso_integrations as st\n"
        "_staso_sqlite(); call, _ = openai_create()\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        f"for _ in range({warm_up}): call()\n"
        # A full flush each time: spans still queued (the caller outpacing the thread on a
        # loaded machine) would show as growth.
        "st.flush(timeout=3600); before = rss(); warm_up_dropped = st.stats()['dropped']['queue_full']\n"
        f"for _ in range({calls}): call()\n"
        # Memory measured over spans the pipeline dropped would say nothing: they are counted,
        # the warm-up's apart (the first batch loads the price data while the loop runs).
        "st.flush(timeout=3600); dropped = st.stats()['dropped']['queue_full'] - warm_up_dropped\n"
        "print(before, rss(), dropped, warm_up_dropped)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, check=False
    )
    if out.returncode != 0:
        print("rss: failed: " + out.stderr.strip()[-300:], file=sys.stderr)
        return {}
    before, after, dropped, warm_up_dropped = (float(x) for x in out.stdout.split())
    return {"calls": calls, "rss_mb_warm": before, "rss_mb_after": after, "growth_mb": after - before,
            "spans_dropped": int(dropped), "warm_up_spans_dropped": int(warm_up_dropped)}  # fmt: skip


def table(results: dict[str, Any], contenders: list[str]) -> str:
    others = [c for c in contenders if c != BASELINE]
    head = ["scenario", "baseline µs/call"] + [f"{c} overhead µs" for c in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, data in results.items():
        base = data["us_per_call"].get(BASELINE)
        if not base:
            continue
        base_median = statistics.median(base)
        row = [scenario, f"{base_median:.0f} ({min(base):.0f}…{max(base):.0f})"]
        for contender in others:
            values = data["us_per_call"].get(contender)
            if not values:
                row.append("n/a")
                continue
            overhead = [v - b for v, b in zip(values, base, strict=False)]
            cell = f"{statistics.median(overhead):+.1f} ({min(overhead):+.1f}…{max(overhead):+.1f})"
            if data["chunks"]:
                cell += f"; {statistics.median(overhead) / data['chunks']:.2f}/chunk"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--spans":
        print(json.dumps(spans_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--fixed":
        fixed_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000, help="calls per subprocess (after 200 warm-up)")
    parser.add_argument("--scenario", action="append", help="run only these (repeatable)")
    parser.add_argument("--contender", action="append", help="run only these (baseline is always run)")
    parser.add_argument("--rss-calls", type=int, default=100_000, help="0 skips the RSS check")
    parser.add_argument("--rss-only", action="store_true", help="only the RSS check")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    contenders = [
        c
        for c in CONTENDERS
        if _available(c) and (c == BASELINE or not args.contender or c in args.contender)
    ]
    report: dict[str, Any] = {}
    if not args.rss_only:
        results = measure(args.scenario or list(SCENARIOS), contenders, args.rounds, args.calls)
        setup = startup.measure("staso", 5)
        report = {"results": results, "setup": {"staso": setup} if setup else {}}
        sizes = f"{os.cpu_count()} cpus, {args.rounds} rounds x {args.calls} calls"
        print(f"\npython {sys.version.split()[0]}, {sizes}\n")
        print(table(results, contenders))
        print("\nset-up (benchmarks/startup.py, 5 processes):\n" + startup.table(report["setup"]))
    if args.rss_calls:
        report["rss"] = rss_growth(args.rss_calls)
    if report.get("rss"):
        r = report["rss"]
        print(f"RSS after {r['calls']:,} more calls: {r['rss_mb_warm']:.1f} MB -> {r['rss_mb_after']:.1f} MB "
              f"({r['growth_mb']:+.1f} MB), {r.get('spans_dropped', 0):,} spans dropped "
              f"({r.get('warm_up_spans_dropped', 0):,} in the warm-up)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
