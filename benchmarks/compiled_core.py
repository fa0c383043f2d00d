"""What the compiled core (``STASO_COMPILE=1``) saves: ``instructions.py``'s count of two copies
of the package, one as it is and one with ``COMPILED`` built by mypyc, as setup.py builds it.

It needs valgrind, the dev extra's mypy (mypyc comes with it) and a C compiler. The caller's
thread's count moves by up to ~7 k between processes laid out differently in memory (objects
hashed by address probe differently), so each build is counted from ``--layouts`` paths of
different lengths and the table gives the range.

    .venv/bin/python benchmarks/compiled_core.py                      # ~2 min to build, ~5 per scenario
    .venv/bin/python benchmarks/compiled_core.py --scenario "langchain tool invoke" --layouts 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instructions import STREAM_SCALE, per_call, valgrind_missing
from overhead import BASELINE
from scenarios import SCENARIOS

PACKAGE = Path(__file__).resolve().parent.parent / "staso_integrations"
# What ``STASO_COMPILE=1`` compiles (setup.py): the list in pyproject.toml, and why those.
COMPILED: tuple[str, ...] = tuple(
    tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["staso"]["compiled"]
)
DEFAULT_SCENARIOS = ("openai create (sync)", "openai create (async)", "langchain tool invoke",
                     "langchain chat invoke")  # fmt: skip
CONTENDERS = ("staso", "staso+sqlite")
BUILDS = ("python", "mypyc")


def built(root: Path) -> dict[str, Path]:
    """The package copied under ``root`` as it is and with ``COMPILED`` built in place by mypyc
    (extension modules load before ``.py`` files; mypyc's shared one sits beside the package),
    at paths of the same length.
    """
    made = {build: root / f"{build:_<6}" for build in BUILDS}
    for target in made.values():
        shutil.copytree(PACKAGE, target / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    modules = [f"{PACKAGE.name}/{module}" for module in COMPILED]
    options = ["--config-file=", "--ignore-missing-imports"]  # setup.py's
    done = subprocess.run([sys.executable, "-m", "mypyc", *options, *modules], cwd=made["mypyc"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"mypyc failed:\n{(done.stdout + done.stderr)[-2000:]}")
    shutil.rmtree(made["mypyc"] / "build")
    return made


def layouts(made: dict[str, Path], count: int) -> dict[str, list[Path]]:
    """Each build at ``count`` paths of different lengths: where it was built, then copies."""
    paths = {build: [path] for build, path in made.items()}
    for n in range(1, count):
        for build, path in made.items():
            paths[build].append(Path(shutil.copytree(path, path.with_name(path.name + "_" * 7 * n))))
    return paths


def counted(path: Path, contender: str, scenario: str, small: int, large: int) -> tuple[float, float]:
    os.environ["PYTHONPATH"] = str(path)  # the counted processes' (``instructions.count``)
    result = per_call(contender, scenario, small, large)
    if result is None:
        raise SystemExit(f"{contender} on {scenario}: the count failed")
    return result


def spread(values: list[float]) -> str:
    low, high = min(values) / 1e3, max(values) / 1e3
    return f"{low:+,.0f} k" if round(low) == round(high) else f"{low:+,.0f}…{high:+,.0f} k"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", action="append", help="run only these (repeatable)")
    parser.add_argument("--layouts", type=int, default=2, help="paths of different lengths per build")
    parser.add_argument("--small", type=int, default=10, help="calls in the short run")
    parser.add_argument("--large", type=int, default=60, help="calls in the long run")
    args = parser.parse_args()
    if valgrind_missing():
        return 2
    lines = ["| scenario | contender | Python | mypyc | background threads, Python → mypyc |",
             "|---|---|---|---|---|"]  # fmt: skip
    with tempfile.TemporaryDirectory() as root:
        paths = layouts(built(Path(root)), args.layouts)
        for scenario in args.scenario or DEFAULT_SCENARIOS:
            scale = STREAM_SCALE if SCENARIOS[scenario]()[1] else 1
            small, large = max(1, args.small // scale), args.large // scale
            bases = [counted(path, BASELINE, scenario, small, large)[0] for path in paths["python"]]
            for contender in CONTENDERS:
                row, background = [scenario, contender], []
                for build in BUILDS:
                    runs = [counted(path, contender, scenario, small, large) for path in paths[build]]
                    row.append(spread([total - base for (total, _), base in zip(runs, bases, strict=True)]))
                    background.append(f"{sum(threads for _, threads in runs) / len(runs) / 1e3:,.1f} k")
                lines.append("| " + " | ".join([*row, " → ".join(background)]) + " |")
            print(f"done {scenario}", file=sys.stderr)
    print(f"\npython {sys.version.split()[0]}, callgrind, {args.large - args.small} calls counted, "
          f"{args.layouts} layouts per build\n")  # fmt: skip
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
