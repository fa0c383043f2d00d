"""The before/after tables of benchmarks/README.md from the files run_all.sh writes.

    python benchmarks/compare.py benchmarks/results/before-2026-11-26.json
    python benchmarks/compare.py benchmarks/results/before-2026-11-26.json benchmarks/results/after-DATE.json
    python benchmarks/compare.py --merge benchmarks/results/parts/LABEL OUT.json   (run_all.sh does this)

Instructions are overheads over the uninstrumented call, in k instructions per call, each
against the baseline of its own run. The best peer of a scenario is the peer with the lowest
overhead among those that record a span of their own on it; the target is a quarter of it.
With an "after" file, the last columns give staso's and staso+sqlite's figures from it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instructions import CONTROLS, traces
from overhead import AA_CONTROL, BASELINE

OURS = ("staso", "staso+sqlite")
PER_CHUNK_TARGET = 3_000
SETUP_TARGET_MS = 40.0


def merge(parts: Path) -> dict[str, Any]:
    """One record of a run_all.sh run: its instruction runs, chunks, set-up and RSS parts."""
    merged: dict[str, Any] = {"instructions": []}
    for part in sorted(parts.glob("*.json")):
        data = json.loads(part.read_text())
        if part.name.startswith("instructions"):
            merged["instructions"].append(data)
        else:
            merged[part.stem] = data
    return merged


def overheads(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per scenario: baseline instructions, chunks, each contender's overhead and spans."""
    found: dict[str, dict[str, Any]] = {}
    for run in record["instructions"]:
        for scenario, data in run["results"].items():
            base = data["instructions"].get(BASELINE)
            if not base:
                continue
            into = found.setdefault(
                scenario, {"baseline": base, "chunks": data["chunks"], "overhead": {}, "spans": {}}
            )
            into["spans"].update(data.get("spans_per_call", {}))
            for contender, value in data["instructions"].items():
                if contender != BASELINE and value is not None:
                    into["overhead"][contender] = value - base
    return found


def best_peer(data: dict[str, Any]) -> tuple[str, float] | None:
    peers = {
        c: extra
        for c, extra in data["overhead"].items()
        if c not in CONTROLS and c not in OURS and traces({"spans_per_call": data["spans"]}, c)
    }
    if not peers:
        return None
    name = min(peers, key=lambda c: peers[c])
    return name, peers[name]


def _k(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e3:+,.0f} k"


def instructions_table(before: dict[str, Any], after: dict[str, Any] | None) -> str:
    rows = overheads(before)
    later = overheads(after) if after else {}
    peers = list(dict.fromkeys(
        c for data in rows.values() for c in data["overhead"] if c not in CONTROLS and c not in OURS
    ))  # fmt: skip
    head = ["scenario", "baseline", "A/A control", *OURS, *peers, "best peer", "target (25%)",
            "after: staso", "after: staso+sqlite"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scenario, data in rows.items():
        cells = [scenario, f"{data['baseline'] / 1e6:.2f} M", _k(data["overhead"].get(AA_CONTROL))]
        cells += [_k(data["overhead"].get(c)) for c in OURS]
        for peer in peers:
            extra = data["overhead"].get(peer)
            untraced = extra is not None and not traces({"spans_per_call": data["spans"]}, peer)
            cells.append(_k(extra) + (" (no span)" if untraced else ""))
        best = best_peer(data)
        cells += [f"{best[0]} {_k(best[1])}", f"≤ {best[1] / 4e3:,.0f} k"] if best else ["n/a", "n/a"]
        done = later.get(scenario, {}).get("overhead", {})
        cells += [_k(done.get(c)) if later else "" for c in OURS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chunks_table(before: dict[str, Any], after: dict[str, Any] | None) -> str:
    head = (
        "| stream | staso instructions/chunk | staso ns/chunk (wall) | target | after: instructions/chunk |"
    )
    lines = [head, "|---|---|---|---|---|"]
    for api, counts in before.get("chunks", {}).get("instructions_per_chunk", {}).items():
        wall = before["chunks"]["wall_ns_per_chunk"][api]
        extra_ns = statistics.median(o - b for o, b in zip(wall["staso"], wall["baseline"], strict=True))
        later = (after or {}).get("chunks", {}).get("instructions_per_chunk", {}).get(api)
        done = f"{later['staso'] - later['baseline']:+,.0f}" if later else ""
        extra = counts["staso"] - counts["baseline"]
        lines.append(f"| {api} | {extra:+,.0f} | {extra_ns:+.0f} | ≤ {PER_CHUNK_TARGET:,} | {done} |")
    return "\n".join(lines)


def setup_table(before: dict[str, Any], after: dict[str, Any] | None) -> str:
    head = "| contender | import ms | init ms | instrument ms | total ms (min) | CPU ms | after: ms (CPU) |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    later = (after or {}).get("startup", {}).get("setup", {})
    for contender, d in before.get("startup", {}).get("setup", {}).items():
        done = (
            f"{later[contender]['total_ms']:.1f} ({later[contender]['cpu_total_ms']:.1f})"
            if contender in later
            else ""
        )
        steps = " | ".join(f"{d[f'{step}_ms']:.1f}" for step in ("import", "init", "instrument"))
        total = f"{d['total_ms']:.1f} ({d['total_min_ms']:.1f})"
        lines.append(f"| {contender} | {steps} | {total} | {d['cpu_total_ms']:.1f} | {done} |")
    return "\n".join(lines)


def rss_line(record: dict[str, Any]) -> str:
    r = record.get("rss", {}).get("rss")
    if not r:
        return "n/a"
    growth = f"{r['growth_mb']:+.1f} MB over {r['calls']:,} calls"
    dropped = f", {r['spans_dropped']:,} spans dropped" if "spans_dropped" in r else ""
    return f"{r['rss_mb_warm']:.1f} MB -> {r['rss_mb_after']:.1f} MB ({growth}{dropped})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", nargs="?")
    parser.add_argument("after", nargs="?")
    parser.add_argument("--merge", nargs=2, metavar=("PARTS_DIR", "OUT"), help="merge run_all.sh parts")
    args = parser.parse_args()
    if args.merge:
        Path(args.merge[1]).write_text(json.dumps(merge(Path(args.merge[0])), indent=2))
        print(f"wrote {args.merge[1]}", file=sys.stderr)
        args.before = args.merge[1]
    if not args.before:
        parser.error("give a record to print (or --merge)")
    before = json.loads(Path(args.before).read_text())
    after = json.loads(Path(args.after).read_text()) if args.after else None
    print("Instructions per call over the uninstrumented call:\n")
    print(instructions_table(before, after))
    print(f"\nPer stream chunk (chunks.py --callgrind; target ≤ {PER_CHUNK_TARGET:,} instructions):\n")
    print(chunks_table(before, after))
    print(f"\nSet-up (startup.py; target for staso ≤ {SETUP_TARGET_MS:.0f} ms total):\n")
    print(setup_table(before, after))
    print(
        f"\nRSS with the SQLite store: before {rss_line(before)}"
        + (f"; after {rss_line(after)}" if after else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
