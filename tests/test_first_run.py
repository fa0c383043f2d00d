"""A newcomer's first run: options where they type them, one clear line for a bad value, plain
help, JSON on request, and a demo whose printed table is what the command then prints."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations.cli import build_parser, main


def _store(db: Path) -> str:
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple", agent_name="bot", source_type="test")
    with st.span("answer", kind="agent") as root:
        with st.span("lookup", kind="tool"):
            pass
    st.shutdown()
    return root.trace_id


def test_db_works_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "t.db")
    trace_id = _store(tmp_path / "t.db")
    assert main(["traces", "list", "--db", db]) == 0
    assert trace_id[-16:] in capsys.readouterr().out
    assert main(["traces", "show", "last", "--db", db]) == 0
    assert capsys.readouterr().out.startswith(f"trace {trace_id}")
    assert main(["export", "--format", "jsonl", "--db", db, "-o", str(tmp_path / "out.jsonl")]) == 0
    assert json.loads((tmp_path / "out.jsonl").read_text())["trace"]["trace_id"] == trace_id


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["traces", "list", "--source-type", "prod"],
            "invalid choice: 'prod' (choose from 'production', 'sandbox'",
        ),
        (["export", "-o", "-", "--source-type", "live"], "invalid choice: 'live' (choose from 'production'"),
        (["traces", "list", "--limit", "0"], "argument --limit: '0' is not a whole number of at least 1"),
        (
            ["export", "-o", "-", "--limit", "many"],
            "argument --limit: 'many' is not a whole number of at least 1",
        ),
        (
            ["traces", "list", "--since", "yesterday"],
            "argument --since: use a duration like 30m, 2h, 7d or an ISO",
        ),
        (["export", "-o", "-", "--format", "csv"], "invalid choice: 'csv' (choose from 'sft', 'jsonl')"),
    ],
)
def test_a_bad_filter_is_refused_like_a_bad_init_value(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert refused.value.code == 2 and says in last


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_help_is_plain_text_and_every_option_has_one() -> None:
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "`" not in text and "**" not in text, parser.prog
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{parser.prog} {action.option_strings} has no help"


def test_show_json_prints_the_trace_and_its_spans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace_id = _store(tmp_path / "t.db")
    assert main(["traces", "show", trace_id[:8], "-v", "--json", "--db", str(tmp_path / "t.db")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["trace"]["trace_id"] == trace_id and shown["trace"]["agent_name"] == "bot"
    assert sorted(span["name"] for span in shown["spans"]) == ["answer", "lookup"]


def test_jsonl_path_from_init_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st.init(exporter="jsonl", jsonl_path=str(tmp_path / "a.jsonl"), processor="simple")
    with st.span("a"):
        pass
    st.shutdown()
    monkeypatch.setenv("STASO_JSONL_PATH", str(tmp_path / "b.jsonl"))
    st.init(exporter="jsonl", processor="simple")
    with st.span("b"):
        pass
    st.shutdown()
    assert '"a"' in (tmp_path / "a.jsonl").read_text() and '"b"' in (tmp_path / "b.jsonl").read_text()


def test_demo_live_without_a_network_ends_in_one_friendly_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:  # a port nothing listens on: the API is unreachable
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key-0000000000000000")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    assert main(["demo", "--live", "--db", str(tmp_path / "t.db")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("demo --live could not get an answer from the OpenAI API")
    assert "ConnectionError: Connection error." in err[0] and "sk-not-a-real-key" not in err[0]


def test_the_demo_prints_what_its_traces_list_command_then_prints(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STASO_", "OPENAI_"))}

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "staso_integrations", *argv], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        return done.stdout

    run("demo")
    printed = run("demo", "--db", "other.db")  # a second store, and a non-default path
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$ staso-integrations traces list"))
    command = lines[start][2:].split()
    block = lines[start + 1 : lines.index("", start)]
    assert command[:4] == ["staso-integrations", "traces", "list", "--db"]
    assert run(*command[1:]).splitlines() == block
    assert all(row.split()[3] == "support_agent" for row in block[1:]) and len(block) == 3
