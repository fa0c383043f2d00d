"""``staso-instrument``: run a Python program unchanged, with everything instrumented.

    staso-instrument [options] python app.py [args...]
    staso-instrument [options] -m package.module [args...]

Like OpenTelemetry's launcher, it puts a ``sitecustomize`` on ``PYTHONPATH`` that calls
``instrument_all()`` before the program starts; spans are flushed when it exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._core.config import load_config

BOOTSTRAP_DIR = str(Path(__file__).resolve().parent / "_bootstrap")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="staso-instrument", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exporter", help="comma-separated exporters (STASO_EXPORTER)")
    parser.add_argument("--agent-name", help="default agent name (STASO_AGENT_NAME)")
    parser.add_argument("--environment", help="environment (STASO_ENVIRONMENT)")
    parser.add_argument("--source-type", help="source type (STASO_SOURCE_TYPE)")
    parser.add_argument("--sample-rate", help="share of traces kept, 0..1 (STASO_SAMPLE_RATE)")
    parser.add_argument(
        "--capture-content",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="record prompts, outputs and arguments (STASO_CAPTURE_CONTENT)",
    )
    parser.add_argument("-m", dest="module", help="run a module, like python -m")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments")
    return parser


def build_environment(args: argparse.Namespace, base: dict[str, str]) -> dict[str, str]:
    """The child's environment: flags as ``STASO_*`` variables, our bootstrap on PYTHONPATH.

    Raises:
        ValueError: a flag or variable has a bad value (checked here, before the program runs).
    """
    env = dict(base)
    flags = {
        "STASO_EXPORTER": args.exporter,
        "STASO_AGENT_NAME": args.agent_name,
        "STASO_ENVIRONMENT": args.environment,
        "STASO_SOURCE_TYPE": args.source_type,
        "STASO_SAMPLE_RATE": args.sample_rate,
        "STASO_CAPTURE_CONTENT": None if args.capture_content is None else str(args.capture_content).lower(),
    }
    env.update({name: value for name, value in flags.items() if value is not None})
    load_config(env=env)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = BOOTSTRAP_DIR + (os.pathsep + existing if existing else "")
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.module:
        command = [sys.executable, "-m", args.module, *args.command]
    elif args.command:
        command = list(args.command)
    else:
        _parser().error("give a program to run, e.g. staso-instrument python app.py")
    try:
        env = build_environment(args, dict(os.environ))
    except ValueError as exc:
        print(f"staso-instrument: {exc}", file=sys.stderr)
        return 2
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        print(f"staso-instrument: command not found: {command[0]}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
