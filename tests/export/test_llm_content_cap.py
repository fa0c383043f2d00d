"""LLM spans keep their messages whole: their strings have their own, large cap
(``llm_content_max_chars``), other values keep the general one; a cut call is skipped by the
export unless asked, and says it was cut.

The cassette answers by method and path (its requests hold no body): the prompts are made here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

import staso_integrations as st
from staso_integrations._core.config import load_config
from staso_integrations._core.serialize import MAX_STRING, to_jsonable
from staso_integrations.cli import main
from staso_integrations.exporters import InMemoryExporter

LOG = "".join(f"request {i}: retried, then ok\n" for i in range(2_000))  # ~60k characters


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {"match_on": ["method", "scheme", "host", "port", "path"], "decode_compressed_response": True}


def _calls() -> None:
    """One OpenAI and one Anthropic call with a long prompt, and a traced function given the same text."""
    st.instrument_all(include=["openai", "anthropic"])
    question = [{"role": "user", "content": f"Summarise this log:\n{LOG}"}]
    openai.OpenAI(api_key="test-key", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=question
    )
    anthropic.Anthropic(api_key="test-key", max_retries=0).messages.create(
        model="claude-haiku-4-5", max_tokens=8_000, messages=question
    )
    with st.span("summarise", kind="chain", input=LOG):
        pass


def _spans(memory: InMemoryExporter) -> dict[str, Any]:
    return {span.name.split()[0]: span for span in memory.spans}


@pytest.mark.vcr("long_messages.yaml")
def test_llm_messages_keep_full_length_other_values_the_general_cap() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    _calls()
    spans = _spans(memory)
    assert spans["chat"].input[0]["content"] == f"Summarise this log:\n{LOG}"
    assert spans["messages"].input["messages"][0]["content"] == f"Summarise this log:\n{LOG}"
    (answer,) = spans["messages"].output["content"]
    assert len(answer["text"]) > MAX_STRING and answer["text"].endswith("succeeded. ")
    assert len(spans["summarise"].input) < len(LOG) and spans["summarise"].input.endswith("more chars>")


@pytest.mark.vcr("long_messages.yaml")
def test_a_smaller_cap_cuts_and_the_export_skips_the_cut_calls(tmp_path: Path) -> None:
    db, out = tmp_path / "t.db", tmp_path / "sft.jsonl"
    st.init(
        exporter="sqlite", sqlite_path=str(db), processor="simple", llm_content_max_chars=MAX_STRING + 1_000
    )
    _calls()
    st.shutdown()
    assert main(["--db", str(db), "export", "-o", str(out)]) == 0
    assert out.read_text() == ""  # both prompts were cut: no record pretends to be the call
    assert main(["--db", str(db), "export", "--include-truncated", "--provenance", "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["metadata"]["content_truncated"] for r in records] == [True, True]
    assert records[0]["messages"][0]["content"].endswith(
        f"… <{len(LOG) + 20 - MAX_STRING - 1_000} more chars>"
    )


def test_the_cap_is_configurable_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config({}).llm_content_max_chars == 1_000_000
    assert load_config({"STASO_LLM_CONTENT_MAX_CHARS": "50000"}).llm_content_max_chars == 50_000
    assert (
        load_config(
            {"STASO_LLM_CONTENT_MAX_CHARS": "50000"}, llm_content_max_chars=20_000
        ).llm_content_max_chars
        == 20_000
    )
    for bad, why in ((100, "is outside the allowed range 16000..1e+09"), ("lots", "is a str"),
                     (True, "is a bool"), (20_000.5, "is a float")):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(f"llm_content_max_chars={bad!r} {why}")):
            load_config({}, llm_content_max_chars=bad)
    monkeypatch.setenv("STASO_LLM_CONTENT_MAX_CHARS", "-1")
    with pytest.raises(
        ValueError, match="STASO_LLM_CONTENT_MAX_CHARS='-1' .setting llm_content_max_chars. is outside"
    ):
        st.init(exporter="memory")


def test_a_conversion_runs_again_under_the_llm_cap_only_when_it_cut_a_string() -> None:
    from staso_integrations.integrations._llm import full_content

    st.init(exporter="none", processor="simple", llm_content_max_chars=MAX_STRING + 10)
    runs: list[int] = []

    def convert(text: str) -> Any:
        runs.append(1)
        return to_jsonable({"text": text})

    assert full_content(convert, "short") == {"text": "short"} and len(runs) == 1
    long_text = "x" * (MAX_STRING + 5)
    assert full_content(convert, long_text) == {"text": long_text} and len(runs) == 3  # cut, then whole
    longer = "y" * (MAX_STRING + 20)
    assert full_content(convert, longer)["text"].endswith("… <10 more chars>")
