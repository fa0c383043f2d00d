"""Secrets inside any exported string are masked before any exporter, and in our own logs.

Real exporters write real files (SQLite, JSONL) and the test greps their bytes; the OpenAI
case is a real SDK call whose 401 answer (a gateway's) echoes the caller's key.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import openai
import pytest
import vcr

import staso_integrations as st
from staso_integrations._core.content import MASK
from staso_integrations.exporters import InMemoryExporter, JsonlExporter

# Built here, never written whole in the repository (cassettes and sources are grepped for keys).
OPENAI_KEY = "sk-proj-" + "Zq7Wd1" * 8
SECRETS = {
    "openai": "sk-" + "Hn4Kq9" * 5,
    "openai-project": OPENAI_KEY,
    "anthropic": "sk-ant-api03-" + "Lm2Np8_" * 6,
    "bearer": "Bearer " + "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl" * 2,
    "aws": "AKIA" + "QX3JZ7KD2MPL9TRW",
    "url": "https://deploy:" + "Pa55w0rd-x9" + "@git.example.com/acme/app.git",
    "github": "ghp_" + "R8t2Vx" * 6,
    "google": "AIza" + ("SyD4-k8Wq2Zt" * 3)[:35],
}
SECRET_PARTS = {
    name: value.removeprefix("Bearer ").split("@")[0].split(":")[-1] for name, value in SECRETS.items()
}


def _stores(tmp_path: Path) -> tuple[InMemoryExporter, Path, Path]:
    memory, db, jsonl = InMemoryExporter(), tmp_path / "traces.db", tmp_path / "traces.jsonl"
    st.init(exporter=[memory, "sqlite", JsonlExporter(str(jsonl))], sqlite_path=str(db), processor="simple")
    return memory, db, jsonl


def _exported(memory: InMemoryExporter, db: Path, jsonl: Path) -> str:
    st.shutdown()
    dicts = [span.to_dict() | {"trace": span.trace_attrs.metadata} for span in memory.spans]
    return json.dumps(dicts) + db.read_bytes().decode("utf-8", "replace") + jsonl.read_text()


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_secret_inside_any_string_is_masked_in_every_store(tmp_path: Path, kind: str) -> None:
    secret = SECRETS[kind]
    memory, db, jsonl = _stores(tmp_path)

    @st.guard.rule(name="echo")
    def echo(call: Any) -> Any:
        return st.guard.Verdict(passed=True, reason=f"saw {call.arguments['text']}")

    @st.tool(name="post_note")
    def post_note(text: str) -> str:
        return f"posted {text}"

    try:
        with (
            st.conversation("c-1", tags=[f"tag {secret}"], metadata={"deploy": f"from {secret} today"}),
            st.span(f"call with {secret}", input={"prompt": f"my key is {secret} ok"}) as span,
        ):
            span.output = [f"echo: {secret}"]
            span.metadata["headers"] = {"X-Forwarded": f"token={secret}"}
            span.tool_calls = [{"id": "t1", "name": "post", "arguments": json.dumps({"text": secret})}]
            post_note(f"note {secret} end")
            with pytest.raises(RuntimeError), st.span("failing"):
                raise RuntimeError(f"gateway said: 401 for {secret}")
    finally:
        st.guard.clear()
    exported = _exported(memory, db, jsonl)
    assert SECRET_PARTS[kind] not in exported
    shown = {"bearer": f"Bearer {MASK}", "url": f"https://{MASK}@git.example.com"}.get(kind, MASK)
    assert f"my key is {shown}" in exported  # only the secret goes; the text around it stays
    assert len(memory.spans) == 3


KEY_ECHO_CASSETTE = """
interactions:
- request:
    body: '{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}'
    headers:
      Content-Type: [application/json]
    method: POST
    uri: https://api.openai.com/v1/chat/completions
  response:
    body:
      string: '{"error": {"message": "Incorrect API key provided: KEY. Check it at your gateway.",
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}'
    headers:
      Content-Type: [application/json]
    status: {code: 401, message: Unauthorized}
version: 1
"""


def test_a_gateway_echoing_the_key_in_a_401_reaches_no_store_and_no_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cassette = tmp_path / "key_echo.yaml"
    cassette.write_text(KEY_ECHO_CASSETTE.replace("KEY", OPENAI_KEY))
    memory, db, jsonl = _stores(tmp_path)
    st.instrument_all(include=["openai"])
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url="https://api.openai.com/v1", max_retries=0)
    with caplog.at_level(logging.DEBUG, logger="staso_integrations"):
        with (
            vcr.VCR(record_mode="none").use_cassette(str(cassette)),
            pytest.raises(openai.AuthenticationError) as info,
        ):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        logging.getLogger("staso_integrations").warning("delivery failed: %s", info.value)
    assert OPENAI_KEY in str(info.value)  # the user's exception is theirs, unchanged
    (span,) = memory.spans
    assert span.error["type"] == "openai.AuthenticationError" and span.error["status_code"] == 401
    assert f"Incorrect API key provided: {MASK}." in span.error["message"]
    assert OPENAI_KEY not in _exported(memory, db, jsonl)
    assert OPENAI_KEY not in caplog.text and "delivery failed" in caplog.text


def test_our_log_records_are_scrubbed_message_arguments_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = SECRETS["url"]
    with caplog.at_level(logging.DEBUG, logger="staso_integrations"):
        logging.getLogger("staso_integrations").warning("posting to %s failed", secret)
        try:
            raise ConnectionError(f"cannot reach {SECRETS['bearer']}")
        except ConnectionError:
            logging.getLogger("staso_integrations").warning("exporter failed", exc_info=True)
        logging.getLogger("staso_integrations.pricing").warning("price lookup for %s", SECRETS["openai"])
    assert SECRET_PARTS["url"] not in caplog.text and SECRET_PARTS["bearer"] not in caplog.text
    assert SECRET_PARTS["openai"] not in caplog.text
    assert "posting to https://deploy:" not in caplog.text and "ConnectionError" in caplog.text


def test_known_secrets_of_any_shape_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Staso API key and credential-named variables are masked whatever they look like."""
    staso_key, vendor_token = "stk_live_" + "9f8e7d6c5b4a", "vndr." + "0a1b2c3d4e5f6a7b"
    monkeypatch.setenv("VENDOR_API_TOKEN", vendor_token)
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", api_key=staso_key, base_url="http://127.0.0.1:9")
    with st.span("leak", input=f"{staso_key} and {vendor_token}"):
        pass
    assert memory.spans[0].input == f"{MASK} and {MASK}"


def test_words_that_merely_look_like_key_prefixes_are_kept() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    text = "task-management-system-overview-v2 risk-free-returns-policy-2024 a bearer of news mail bob@example.com"
    with st.span("prose", input=text):
        pass
    assert memory.spans[0].input == text
