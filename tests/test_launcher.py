"""``staso-instrument``: run an unchanged program with everything instrumented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from staso_integrations.store import TraceStore
from tests.no_otel import BLOCK_OTEL

APP = """
import sys
import staso_integrations as st

@st.tool
def lookup(x):
    return x * 2

print("result", lookup(int(sys.argv[1])))
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STASO_")}


def _launch(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    launcher = [sys.executable, "-m", "staso_integrations.launcher"]
    return subprocess.run(
        [*launcher, *args], cwd=tmp_path, env=env or _env(), capture_output=True, text=True, timeout=120
    )


def test_runs_the_program_unchanged_and_flushes_at_exit(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    done = _launch(
        tmp_path, "--exporter", "sqlite", "--agent-name", "launcher-bot", "--environment", "ci",
        "--no-capture-content", sys.executable, "app.py", "21",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "result 42"
    store = TraceStore(str(tmp_path / ".staso" / "traces.db"))
    trace = store.list_traces()[0]
    _, spans = store.get_trace(trace["trace_id"])
    store.close()
    assert (trace["agent_name"], trace["environment"], trace["name"]) == ("launcher-bot", "ci", "lookup")
    assert spans[0]["input"] is None  # --no-capture-content reached the program


def test_module_mode_and_program_exit_code_pass_through(tmp_path: Path) -> None:
    (tmp_path / "tool_mod.py").write_text("import sys\nprint('module ran', sys.argv[1:])\nsys.exit(3)\n")
    done = _launch(tmp_path, "--exporter", "none", "-m", "tool_mod", "a", "b")
    assert done.returncode == 3
    assert done.stdout.strip() == "module ran ['a', 'b']"


def test_an_existing_sitecustomize_still_runs(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.THEIRS_LOADED = True\n")
    (tmp_path / "app.py").write_text(
        "import builtins, staso_integrations._core.runtime as r\n"
        "print(getattr(builtins, 'THEIRS_LOADED', False), r.is_initialized())\n"
    )
    env = {**_env(), "PYTHONPATH": str(theirs)}
    done = _launch(tmp_path, "--exporter", "none", sys.executable, "app.py", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True"


def test_bad_configuration_is_refused_before_the_program_runs(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('should not run')")
    done = _launch(tmp_path, "--sample-rate", "2", sys.executable, "app.py")
    assert done.returncode == 2
    assert "STASO_SAMPLE_RATE='2' (setting sample_rate) is outside the allowed range 0..1" in done.stderr
    assert "should not run" not in done.stdout


# The launcher with OpenTelemetry made unimportable, as in an environment without the extra.
WITHOUT_OTEL = (
    BLOCK_OTEL
    + """
from staso_integrations.launcher import main
sys.exit(main(sys.argv[1:]))
"""
)


def test_an_exporter_whose_extra_is_missing_is_refused_before_the_program_runs(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('should not run')")
    for args in (["--exporter", "otlp"], []):
        env = {**_env(), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}  # [] picks otlp by default
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_OTEL, *args, sys.executable, "app.py"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "exporter 'otlp' needs the 'otlp' extra" in done.stderr
        assert "pip install 'staso-integrations[otlp]'" in done.stderr
        assert "should not run" not in done.stdout


OPENAI_APP = """
import openai
import vcr

# The program knows nothing of staso: it is a plain OpenAI call (replayed from a cassette).
with vcr.VCR(record_mode="none").use_cassette({cassette!r}):
    client = openai.OpenAI(api_key="sk-test")
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "Say hello in five words."}}], temperature=0.2
    )
print(reply.choices[0].message.content)
"""


def test_an_unchanged_openai_program_is_traced(tmp_path: Path) -> None:
    from tests.conftest import REPO

    cassette = str(REPO / "cassettes" / "openai" / "chat_create.yaml")
    (tmp_path / "app.py").write_text(OPENAI_APP.format(cassette=cassette))
    done = _launch(tmp_path, "--agent-name", "plain-app", sys.executable, "app.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello there, nice to meet!"
    store = TraceStore(str(tmp_path / ".staso" / "traces.db"))
    (trace,) = store.list_traces()
    _, (span,) = store.get_trace(trace["trace_id"])
    store.close()
    assert (span["kind"], span["provider"], span["response_model"]) == (
        "llm",
        "openai",
        "gpt-4o-mini-2024-07-18",
    )
    assert span["usage"]["input"] == 1240 and span["usage"]["cache_read"] == 1024 and span["cost_usd"] > 0
    assert trace["agent_name"] == "plain-app"
