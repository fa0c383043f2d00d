"""staso-integrations: look at the local trace store, check the setup, run the offline demo."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from .export import FORMATS
from .exporters._render import format_cost, format_ms, render_trace
from .exporters._sqlite_schema import is_lock_error
from .store import TraceFilter, TraceStore, parse_since, short_trace_id

DEFAULT_DB = ".staso/traces.db"


def _db_path(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("STASO_SQLITE_PATH") or DEFAULT_DB


def _existing_db(args: argparse.Namespace) -> str:
    path = _db_path(args)
    if not os.path.exists(path):
        raise SystemExit(f"no trace store at {path}: run your app with staso first (or pass --db)")
    return path


def _open_store(args: argparse.Namespace) -> TraceStore:
    return TraceStore(_existing_db(args))


def _reads_store(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A store that is locked, unreadable or corrupted ends the command with one line, not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except sqlite3.Error as exc:
            raise SystemExit(
                f"cannot read the trace store at {_db_path(args)}: {_store_problem(exc)}"
            ) from None

    return run


def _store_problem(exc: sqlite3.Error) -> str:
    text = str(exc)
    if is_lock_error(exc):
        return f"{text} (another process holds it; try again)"
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is damaged or not a trace store)"
    if "no such table" in text:
        return f"{text} (not a trace store)"
    return text


def _time(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _tokens(trace: dict[str, Any]) -> str:
    total = trace["usage"].get("total")
    return "-" if total is None else str(total)


@_reads_store
def cmd_traces_list(args: argparse.Namespace) -> int:
    where = TraceFilter(
        agent_name=args.agent,
        conversation_id=args.conversation,
        environment=args.environment,
        source_types=tuple(args.source_type or ()),
        since_ns=args.since,
        limit=args.limit,
    )
    print_traces(_existing_db(args), where)
    return 0


def print_traces(db: str, where: TraceFilter) -> None:
    """The ``traces list`` table: one row per trace of the store at ``db``, newest first."""
    store = TraceStore(db)
    try:
        traces = store.list_traces(where)
    finally:
        store.close()
    columns = ("time (UTC)", "trace id", "agent", "name", "spans", "tokens", "cost", "duration", "status")
    rows = [
        (
            _time(t["start_ns"]),
            short_trace_id(t["trace_id"]),
            t["agent_name"] or "-",
            (t["name"] or "-")[:28],
            str(t["span_count"]),
            _tokens(t),
            format_cost(t["cost_usd"]) or "-",
            format_ms(t["duration_ms"]),
            t["status"] + (f" ({t['error_count']} err)" if t["error_count"] else ""),
        )
        for t in traces
    ]
    _print_table(columns, rows)
    if not rows:
        print("no traces match")


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@_reads_store
def cmd_traces_show(args: argparse.Namespace) -> int:
    store = _open_store(args)
    try:
        if args.trace_id == "last":
            newest = store.list_traces(TraceFilter(limit=1))
            if not newest:
                raise SystemExit("the store has no traces yet")
            trace_id = newest[0]["trace_id"]
        else:
            try:
                trace_id = store.find_trace_id(args.trace_id)
            except LookupError as exc:
                raise SystemExit(str(exc)) from None
        trace, spans = store.get_trace(trace_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"trace": trace, "spans": spans}, indent=2, ensure_ascii=False))
        return 0
    print(render_trace(trace or {"trace_id": trace_id, "status": "open"}, spans))
    if args.verbose:
        for span in spans:
            print(f"\n--- [{span['kind']}] {span['name']} {span['span_id']}")
            for key in ("input", "output", "tool_calls", "error", "metadata"):
                if span.get(key):
                    print(f"{key}: {span[key]}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ._core.config import load_config
    from .integrations import _registry
    from .integrations._base import installed_version, split_requirement

    print(f"python {sys.version.split()[0]}")
    print(f"staso-integrations {installed_version('staso-integrations') or 'not installed (source tree)'}")
    try:
        config = load_config()
    except ValueError as exc:
        print(f"\nconfiguration INVALID: {exc}")
        _print_exporter_extras(())
        return 1
    print("\nintegrations (what instrument_all() would do here):")
    for name in sorted(_registry.REGISTRY):
        try:
            instrumentor = _registry.load_instrumentor(name)
        except Exception as exc:  # a broken integration must not hide the others
            print(f"  {name:<12} error loading: {type(exc).__name__}: {exc}")
            continue
        reason = instrumentor.unsupported_reason()
        if name in config.disabled_integrations:
            status = "disabled (STASO_DISABLED_INTEGRATIONS)"
        elif reason is None:
            status = "instrumented when imported"
        else:
            status = f"skipped: {reason}"
        for requirement in instrumentor.requires:
            distribution, specifier = split_requirement(requirement)
            version = installed_version(distribution) or "-"
            print(f"  {name:<12} {distribution:<18} {version:<10} supports {specifier:<12} {status}")
    print("\nconfiguration (init() arguments override these STASO_* values):")
    for key, value in config.public_dict().items():
        print(f"  {key}: {value}")
    _print_exporter_extras(config.exporters)

    from ._core.runtime import stats

    counts = stats()
    dropped = ", ".join(f"{cause} {n}" for cause, n in counts["dropped"].items() if n) or "none"
    print("\npipeline (counts are per process: these are doctor's own; call st.stats() in your app):")
    print(f"  exporters {', '.join(config.exporters) or 'none'}, processor {config.processor}, "
          f"exit bounded by shutdown_timeout {config.shutdown_timeout:g} s")  # fmt: skip
    print(f"  exported {counts['exported']}, queued {counts['queued']}, "
          f"exporter failures {counts['exporter_failures']}, dropped: {dropped}")  # fmt: skip
    return 0


def _print_exporter_extras(configured: Sequence[str]) -> None:
    """Exporters that need an optional extra, and whether it is installed here."""
    from ._core.config import EXPORTER_EXTRAS, missing_extra
    from ._core.content import scrub_text

    print("\nexporter extras:")
    for name in EXPORTER_EXTRAS:
        problem = missing_extra(name)
        state = "installed" if problem is None else f"NOT INSTALLED: {problem}"
        print(f"  {name:<12} {state}{'  (configured)' if name in configured else ''}")
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        if os.environ.get(variable):
            print(f"  {variable}: {scrub_text(os.environ[variable])}")


@_reads_store
def cmd_export(args: argparse.Namespace) -> int:
    from .export import sft_records, trace_records, write_jsonl

    store = _open_store(args)
    where = TraceFilter(
        agent_name=args.agent,
        environment=args.environment,
        source_types=tuple(args.source_type or ()),
        since_ns=args.since,
        limit=args.limit,
    )
    skipped: Counter[str] = Counter()
    try:
        if args.format == "sft":
            records = sft_records(
                store, where, args.include_errors, include_truncated=args.include_truncated,
                provenance=args.provenance, skipped=skipped,
            )  # fmt: skip
        else:
            records = trace_records(store, where)
        if args.output == "-":
            count = write_jsonl(records, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                count = write_jsonl(records, out)
    finally:
        store.close()
    kind = "LLM calls" if args.format == "sft" else "traces"
    print(f"wrote {count} {kind} to {args.output}", file=sys.stderr)
    for reason, n in skipped.most_common():
        print(f"  skipped {n}: {reason}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(db=_db_path(args), live=args.live)


def cmd_ui(args: argparse.Namespace) -> int:
    from .ui import serve

    return serve(_db_path(args), args.port, open_browser=args.open)


def _positive(text: str) -> int:
    """``--limit``: a whole number of at least 1, refused at parse time like a bad ``init()`` value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _since(text: str) -> int:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--since {text!r}: ")) from None


def build_parser() -> argparse.ArgumentParser:
    from ._core.config import SOURCE_TYPES

    store = argparse.ArgumentParser(add_help=False)  # --db also after the command: `traces list --db X`
    store.add_argument("--db", default=argparse.SUPPRESS, help="the SQLite trace store (as the global --db)")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--agent", help="only traces of this agent")
    filters.add_argument("--environment", help="only traces of this environment (prod, staging...)")
    filters.add_argument(
        "--source-type", action="append", choices=SOURCE_TYPES, metavar="SOURCE_TYPE",
        help=f"only traces of this source type (repeatable): {', '.join(SOURCE_TYPES)}",
    )  # fmt: skip
    filters.add_argument("--since", type=_since, help="only traces since: 30m, 2h, 7d or an ISO time")

    parser = argparse.ArgumentParser(prog="staso-integrations", description=__doc__)
    parser.add_argument("--db", help=f"the SQLite trace store (default {DEFAULT_DB} or $STASO_SQLITE_PATH)")
    commands = parser.add_subparsers(dest="command", required=True)

    traces = commands.add_parser("traces", help="list and show traces in the local store")
    traces_commands = traces.add_subparsers(dest="traces_command", required=True)
    listing = traces_commands.add_parser("list", help="newest traces first", parents=[store, filters])
    listing.add_argument("--conversation", help="only traces of this conversation id")
    listing.add_argument("--limit", type=_positive, default=50, help="at most this many traces (default 50)")
    listing.set_defaults(func=cmd_traces_list)
    show = traces_commands.add_parser("show", help="one trace as a tree", parents=[store])
    show.add_argument("trace_id", help="a trace id, its start or end (as 'traces list' shows it), or 'last'")
    show.add_argument("-v", "--verbose", action="store_true", help="also print inputs and outputs")
    show.add_argument("--json", action="store_true", help="print the trace and all its spans as JSON")
    show.set_defaults(func=cmd_traces_show)

    doctor = commands.add_parser("doctor", help="versions, supported ranges and configuration")
    doctor.set_defaults(func=cmd_doctor)
    export = commands.add_parser(
        "export", help="LLM calls as fine-tuning records, or traces, as JSONL", parents=[store, filters]
    )
    export.add_argument(
        "--format",
        choices=FORMATS,
        default="sft",
        help="sft (default): one record per LLM call; jsonl: whole traces",
    )
    export.add_argument(
        "--limit", type=_positive, default=100_000, help="at most this many traces (default 100000)"
    )
    export.add_argument("--include-errors", action="store_true", help="sft: also calls that failed")
    export.add_argument("--include-truncated", action="store_true", help="sft: also calls cut short")
    export.add_argument("--provenance", action="store_true", help="sft: trace, model, cost as metadata")
    export.add_argument("-o", "--output", required=True, help="the file to write, or - for stdout")
    export.set_defaults(func=cmd_export)
    demo = commands.add_parser("demo", help="run the offline demo agent and show its traces", parents=[store])
    demo.add_argument("--live", action="store_true", help="call the real OpenAI API (needs OPENAI_API_KEY)")
    demo.set_defaults(func=cmd_demo)
    ui = commands.add_parser(
        "ui", help="a local web viewer on the trace store (127.0.0.1, read-only)", parents=[store]
    )
    ui.add_argument(
        "--port", type=int, default=8765, help="the port on 127.0.0.1 (default 8765, 0: any free)"
    )
    ui.add_argument("--open", action="store_true", help="open the viewer in the default browser")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `traces show --json | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
