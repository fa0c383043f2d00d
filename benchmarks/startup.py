"""Set-up time: what a traced app pays once, at start, in fresh processes.

Each run is a new ``python`` process that first imports the SDKs an app would have imported
(openai, anthropic, langchain_core and llama_index.core, those installed), then times the
contender's three steps with ``time.perf_counter``:

- ``import``: importing the contender's package(s);
- ``init``: configuring it (``staso_integrations.init()`` with its defaults, the SQLite store
  on; a peer's OpenTelemetry provider with an in-memory batch exporter, as overhead.py sets it);
- ``instrument``: hooking the SDKs (``instrument_all()``; a peer's ``instrument()`` calls).

The figures are medians (and minimum) over ``--runs`` processes, run in a scratch directory
(the default store lands in its ``.staso/``) after one untimed process that writes the
bytecode caches and creates the store. Wall time is as noisy as the machine; the CPU column
(``time.process_time`` over the three steps, all threads) moves less with the load.

    python benchmarks/startup.py                       # every contender installed, 11 runs each
    python benchmarks/startup.py --contender staso --runs 21 --json startup.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SDKS = ("openai", "anthropic", "langchain_core", "llama_index.core")
STEPS = ("import", "init", "instrument")

# The OpenTelemetry-based peers: name -> (package, its instrumentors as (module, class)).
OTEL_PEERS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "openinference": (
        "openinference.instrumentation",
        (
            ("openai", "OpenAIInstrumentor"),
            ("anthropic", "AnthropicInstrumentor"),
            ("langchain", "LangChainInstrumentor"),
            ("llama_index", "LlamaIndexInstrumentor"),
        ),
    ),
    "openllmetry": (
        "opentelemetry.instrumentation",
        (
            ("openai", "OpenAIInstrumentor"),
            ("anthropic", "AnthropicInstrumentor"),
            ("langchain", "LangchainInstrumentor"),
            ("llamaindex", "LlamaIndexInstrumentor"),
        ),
    ),
    "otel-openai-v2": ("opentelemetry.instrumentation", (("openai_v2", "OpenAIInstrumentor"),)),
}

_OTEL_PROVIDER = (
    "from opentelemetry import trace\n"
    "from opentelemetry.sdk.trace import TracerProvider\n"
    "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
    "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
)
_PROVIDER = (
    "provider = TracerProvider()\n"
    "provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))\n"
    "trace.set_tracer_provider(provider)\n"
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _otel(package: str, instrumentors: tuple[tuple[str, str], ...]) -> tuple[str, str, str, str]:
    """Steps of an OpenTelemetry-based peer: one instrumentor per installed SDK module."""
    wanted = [(module, name) for module, name in instrumentors if _installed(f"{package}.{module}")]
    imports = "".join(
        f"from {package}.{module} import {name} as I{i}\n" for i, (module, name) in enumerate(wanted)
    )
    instrument = "".join(f"I{i}().instrument(tracer_provider=provider)\n" for i in range(len(wanted)))
    return f"{package}.{instrumentors[0][0]}", _OTEL_PROVIDER + imports, _PROVIDER, instrument or "pass\n"


# name -> (module that must be importable, import step, init step, instrument step)
CONTENDERS: dict[str, tuple[str, str, str, str]] = {
    "staso": (
        "staso_integrations",
        "import staso_integrations as st\n",
        "st.init()\n",
        "st.instrument_all()\n",
    ),
    **{name: _otel(package, instrumentors) for name, (package, instrumentors) in OTEL_PEERS.items()},
    "logfire": (
        "logfire",
        "import logfire\n",
        "logfire.configure(send_to_logfire=False, console=False)\n",
        "logfire.instrument_openai()\nlogfire.instrument_anthropic()\n",
    ),
}


def program(contender: str, sdks: list[str]) -> str:
    """The timed process's source: SDK imports, then each step between two clock reads."""
    _, *steps = CONTENDERS[contender]
    mark = "marks.append((time.perf_counter(), time.process_time()))"
    lines = ["import time", *(f"import {sdk}" for sdk in sdks), "marks = []", mark]
    for step in steps:
        lines += [step.rstrip("\n"), mark]
    lines.append("walls = [(b[0] - a[0]) * 1000 for a, b in zip(marks, marks[1:])]")
    lines.append("print(*walls, (marks[-1][1] - marks[0][1]) * 1000)")  # and the CPU time of all steps
    return "\n".join(lines) + "\n"


def installed_sdks(modules: tuple[str, ...] = SDKS) -> list[str]:
    return [module for module in modules if _installed(module)]


def measure(contender: str, runs: int, sdks: list[str] | None = None) -> dict[str, float] | None:
    """Median and minimum ms of each step and of their total over ``runs`` fresh processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OTEL_", "LOGFIRE_"))}
    # An installed package has its bytecode cached; without the cache every run compiles it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = program(contender, installed_sdks() if sdks is None else sdks)
    samples: list[list[float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(runs + 1):  # the first one warms the bytecode caches and the store
            argv = [sys.executable, "-c", code]
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, cwd=scratch, timeout=300, check=False
            )
            if done.returncode != 0:
                print(f"  {contender}: failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
                return None
            if index:
                samples.append([float(x) for x in done.stdout.split()[-len(STEPS) - 1 :]])
    result: dict[str, float] = {}
    for position, step in enumerate(STEPS):
        values = [sample[position] for sample in samples]
        result[f"{step}_ms"], result[f"{step}_min_ms"] = statistics.median(values), min(values)
    totals = [sum(sample[: len(STEPS)]) for sample in samples]
    result["total_ms"], result["total_min_ms"] = statistics.median(totals), min(totals)
    result["cpu_total_ms"] = statistics.median(sample[-1] for sample in samples)
    return result


def available(contenders: list[str] | None = None) -> list[str]:
    return [c for c in CONTENDERS if _installed(CONTENDERS[c][0]) and (not contenders or c in contenders)]


def table(results: dict[str, dict[str, float]]) -> str:
    head = ["contender", *(f"{step} ms" for step in STEPS), "total ms (min)", "CPU ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for contender, data in results.items():
        cells = [f"{data[f'{step}_ms']:.1f}" for step in STEPS]
        lines.append(
            f"| {contender} | "
            + " | ".join(cells)
            + f" | {data['total_ms']:.1f} ({data['total_min_ms']:.1f}) | {data['cpu_total_ms']:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contender", action="append", help="run only these (repeatable)")
    parser.add_argument("--runs", type=int, default=11, help="timed processes per contender")
    parser.add_argument(
        "--imports", default=",".join(SDKS), help="modules imported first (comma-separated; those installed)"
    )
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    sdks = installed_sdks(tuple(args.imports.split(",")))
    results = {}
    for contender in available(args.contender):
        measured = measure(contender, args.runs, sdks)
        if measured is not None:
            results[contender] = measured
    print(f"\npython {sys.version.split()[0]}, {args.runs} fresh processes each, imported first:", *sdks)
    print(table(results))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"sdks_imported": sdks, "runs": args.runs, "setup": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
