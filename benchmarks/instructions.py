"""Overhead in CPU instructions per call, counted by valgrind's callgrind: a figure that does
not move with machine noise, unlike wall-clock time on a shared or virtual machine.

Callgrind counts every instruction the process runs, all threads included (it runs them one
at a time), so the background thread's pricing, roll-ups and export are in the count. A call
costs ``(Ir(large) - Ir(small)) / (large - small)`` where ``Ir(n)`` is the total count of a
process making ``n`` calls and a flush: start-up, imports and warm-up cancel out. Every run uses
``PYTHONHASHSEED=0``, so the same build gives the same count.

The µs column converts instructions at the baseline's own rate on this machine (its
instructions per call over its fastest native batch in 3 runs, in µs per call): an estimate of
what the overhead costs on an otherwise quiet core.

    python benchmarks/instructions.py                              # needs valgrind
    python benchmarks/instructions.py --scenario "openai create (sync)" --large 220
    python benchmarks/instructions.py --contender staso --json run.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import AA_CONTROL, BASELINE, CONTENDERS, _available, _run_worker
from scenarios import SCENARIOS

_COLLECTED = re.compile(r"Collected : (\d+)")
_TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)
STREAM_SCALE = 5  # stream scenarios count 5x fewer calls: each is 200 chunks
CONTROLS = (BASELINE, AA_CONTROL)
SDK_OWN_SCOPES = ("com.anthropic.",)  # the Anthropic SDK's own call span, not an instrumentation's


def valgrind_missing() -> bool:
    """Whether valgrind, which every count runs under, is missing (then says how to install it)."""
    if shutil.which("valgrind") is not None:
        return False
    print("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)", file=sys.stderr)
    return True


def callgrind_total(argv: list[str]) -> int | None:
    """Instructions of a whole ``python argv...`` process under callgrind (``None``: it failed)."""
    counted = callgrind_threads(argv)
    return None if counted is None else counted[0]


def callgrind_threads(argv: list[str]) -> tuple[int, int] | None:
    """Instructions of a whole ``python argv...`` process under callgrind, and of its threads
    other than the main one (``None``: it failed).

    The background threads' count is the steadier: the main thread's runs the SDK too, whose
    objects hashed by address probe differently in another memory layout (~±7 k per call
    between processes running the same code).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_"))}
    env["PYTHONHASHSEED"] = "0"
    # Batches by size and by the final flush, not by the 1 s timer: under callgrind a run lasts
    # minutes, and how many timer batches (and idle wake-ups) land in it depends on machine load.
    env["STASO_FLUSH_INTERVAL"] = "3600"
    with tempfile.TemporaryDirectory() as out:
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                   f"--callgrind-out-file={out}/cg", sys.executable, *argv]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600, check=False)
        found = _COLLECTED.search(done.stderr)
        if done.returncode != 0 or found is None:
            print(f"  {' '.join(argv[1:])}: failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            return None
        # One file per thread, ``cg-01`` the main one; each ends with its ``totals:`` line.
        background = sum(
            int(_TOTALS.findall(path.read_text())[-1])
            for path in Path(out).glob("cg-*")
            if path.name != "cg-01"
        )
    return int(found.group(1)), background


def count(contender: str, scenario: str, calls: int) -> tuple[int, int] | None:
    """Instructions of a whole process that makes ``calls`` calls (after a fixed warm-up), and
    of its background threads."""
    overhead = str(Path(__file__).with_name("overhead.py"))
    return callgrind_threads([overhead, "--fixed", contender, scenario, str(calls)])


def per_call(contender: str, scenario: str, small: int, large: int) -> tuple[float, float] | None:
    """Instructions per call: the whole process's, and its background threads'."""
    with ThreadPoolExecutor(2) as pool:  # the two runs are independent: one per core
        low, high = pool.map(lambda n: count(contender, scenario, n), (small, large))
    if low is None or high is None:
        return None
    calls = large - small
    return (high[0] - low[0]) / calls, (high[1] - low[1]) / calls


def measure(
    scenarios: list[str],
    contenders: list[str],
    small: int,
    large: int,
    done: Callable[[dict[str, Any]], None] = lambda results: None,
) -> dict[str, Any]:
    """Per scenario: the baseline's native µs per call and every contender's instructions per
    call; ``done(results)`` is called after each scenario (a long run saves as it goes)."""
    results: dict[str, Any] = {}
    for scenario in scenarios:
        native = [run for run in (_run_worker(BASELINE, scenario, 300) for _ in range(3)) if run is not None]
        if not native:
            print(f"skip {scenario}: its libraries are not installed", file=sys.stderr)
            continue
        chunks = native[0]["chunks"]
        scale = STREAM_SCALE if chunks else 1  # a stream call is ~100 calls' work
        counted = {c: per_call(c, scenario, max(1, small // scale), large // scale) for c in contenders}
        fastest = min(run["best_us_per_call"] for run in native)
        results[scenario] = {
            "chunks": chunks, "baseline_us": fastest,
            "instructions": {c: None if n is None else n[0] for c, n in counted.items()},
            "background_instructions": {c: n[1] for c, n in counted.items() if n is not None and n[1]},
            "spans_per_call": spans(scenario, contenders),
        }  # fmt: skip
        print(f"done {scenario}", file=sys.stderr)
        done(results)
    return results


def spans(scenario: str, contenders: list[str]) -> dict[str, dict[str, float]]:
    """Spans per call of each contender by instrumentation scope (a native run, not counted)."""
    found = {c: _run_worker(c, scenario, 10, mode="--spans") for c in contenders if c not in CONTROLS}
    return {c: run["spans_per_call"] for c, run in found.items() if run is not None}


def traces(data: dict[str, Any], contender: str) -> bool:
    """Whether ``contender`` records a span of its own on the scenario (an SDK's own
    OpenTelemetry span, which any installed provider records, does not count)."""
    recorded = data.get("spans_per_call", {}).get(contender, {})
    return any(n > 0 for scope, n in recorded.items() if not scope.startswith(SDK_OWN_SCOPES))


def table(results: dict[str, Any], contenders: list[str]) -> str:
    others = [c for c in contenders if c != BASELINE]
    head = ["scenario", "baseline instructions/call (µs)"] + [
        f"{c} overhead instructions (≈µs)" for c in others
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, data in results.items():
        base = data["instructions"].get(BASELINE)
        if not base:
            continue
        rate = base / data["baseline_us"]  # instructions per µs on this machine
        row = [scenario, f"{base / 1e6:.2f} M ({data['baseline_us']:.0f} µs)"]
        for contender in others:
            value = data["instructions"].get(contender)
            if value is None:
                row.append("n/a")
                continue
            extra = value - base
            cell = f"{extra / 1e3:+,.0f} k (≈{extra / rate:+.1f} µs)"
            if data["chunks"]:
                cell += f"; ≈{extra / rate / data['chunks']:.2f} µs/chunk"
            if background := data.get("background_instructions", {}).get(contender):
                cell += f"; background threads {background / 1e3:,.1f} k"
            if contender not in CONTROLS and "spans_per_call" in data and not traces(data, contender):
                cell += " (no span)"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of the measured packages installed here (for the record in --json)."""
    from importlib import metadata

    names = ("staso-integrations", "openai", "anthropic", "langchain-core", "langchain-openai",
             "llama-index-core", "opentelemetry-sdk", "openinference-instrumentation-openai",
             "opentelemetry-instrumentation-openai", "opentelemetry-instrumentation-openai-v2",
             "openinference-instrumentation-llama-index", "opentelemetry-instrumentation-llamaindex",
             "logfire", "langfuse")  # fmt: skip
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": sys.version.split()[0], **found}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", action="append", help="run only these (repeatable)")
    parser.add_argument("--contender", action="append", help="run only these (baseline is always run)")
    parser.add_argument("--small", type=int, default=10, help="calls in the short run")
    parser.add_argument("--large", type=int, default=60, help="calls in the long run")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if valgrind_missing():
        return 2
    contenders = [
        c
        for c in CONTENDERS
        if _available(c) and (c == BASELINE or not args.contender or c in args.contender)
    ]

    def save(results: dict[str, Any]) -> None:
        if args.json:
            report = {"versions": versions(), "small": args.small, "large": args.large,
                      "contenders": contenders, "results": results}  # fmt: skip
            Path(args.json).write_text(json.dumps(report, indent=2))

    results = measure(args.scenario or list(SCENARIOS), contenders, args.small, args.large, save)
    print(f"\npython {sys.version.split()[0]}, callgrind, {args.large - args.small} calls counted\n")
    print(table(results, contenders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
