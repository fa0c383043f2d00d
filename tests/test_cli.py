from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import staso_integrations as st
from staso_integrations._core.span import Usage
from staso_integrations.cli import main
from staso_integrations.store import parse_since


def _store(db: Path) -> str:
    st.init(exporter="sqlite", sqlite_path=str(db), processor="simple", agent_name="bot")
    with st.conversation("conv-9"):
        with st.span("answer", kind="agent") as root:
            with st.span("chat", kind="llm") as llm:
                llm.provider, llm.request_model = "openai", "gpt-4o-mini"
                llm.usage = Usage(input=1000, output=100)
    with st.span("other"):
        pass
    st.shutdown()
    return root.trace_id


def test_traces_list_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    trace_id = _store(db)
    assert main(["--db", str(db), "traces", "list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == ["time", "(UTC)", "trace", "id", "agent", "name", "spans", "tokens", "cost", "duration", "status"]
    assert len(rows) == 2
    assert trace_id[:16] in out and "1100" in out and "$0.000210" in out
    assert main(["--db", str(db), "traces", "list", "--conversation", "conv-9", "--since", "1h"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["--db", str(db), "traces", "list", "--agent", "nobody"]) == 0
    assert "no traces match" in capsys.readouterr().out


def test_traces_show_prints_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    trace_id = _store(db)
    assert main(["--db", str(db), "traces", "show", trace_id[:10]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"trace {trace_id}")
    assert "└─ [agent] answer" in out and "└─ [llm] chat (gpt-4o-mini)" in out and "1000→100 tok" in out
    with pytest.raises(SystemExit, match="no trace id starts with 'ffff'"):
        main(["--db", str(db), "traces", "show", "ffff"])


def test_bad_since_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.db"
    _store(db)
    assert main(["--db", str(db), "traces", "list", "--since", "yesterday"]) == 2
    assert "use a duration like 30m" in capsys.readouterr().err
    assert parse_since("2026-01-01T00:00") == 1767225600 * 10**9


def test_missing_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no trace store at"):
        main(["--db", str(tmp_path / "none.db"), "traces", "list"])


def test_doctor_never_prints_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STASO_API_KEY", "sk-staso-very-secret")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "sk-staso-very-secret" not in out
    assert "api_key: set" in out and "integrations:" in out


def test_demo_and_module_entry_point_work_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}
    demo = subprocess.run(
        [sys.executable, "-m", "staso_integrations", "demo"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "└─ [agent] support-bot" in demo.stdout and "turn_index=1" in demo.stdout
    assert (tmp_path / ".staso" / "traces.db").exists()
    listing = subprocess.run(
        [sys.executable, "-m", "staso_integrations", "traces", "list"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == 3
