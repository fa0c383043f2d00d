"""Content controls: capture off, redact hook, size caps, base64 notes, secrets, sampling."""

# The card marker has a hyphen so that it can never turn up by chance in a hex id or a clock reading:
# time-ordered trace ids share their leading digits within a run.

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core import content
from staso_integrations._core.content import MESSAGE_NOT_CAPTURED, ContentRules
from staso_integrations._core.sanitize import sanitize_span
from staso_integrations._core.serialize import MAX_ITEMS, MAX_STRING, REDACTED, to_jsonable
from staso_integrations._core.span import Resource, Span, TraceAttributes, Usage, content_values
from staso_integrations.exporters import InMemoryExporter, JsonlExporter


def _llm_with_tool_call() -> None:
    with st.span("chat", kind="llm", input=[{"role": "user", "content": "my card is 4242-4242"}]) as span:
        span.provider, span.request_model = "openai", "gpt-4o-mini"
        span.usage = Usage(input=10, output=5)
        span.tool_calls = [{"id": "c1", "name": "charge", "arguments": '{"card": "4242-4242"}'}]
        span.output = "charged 4242-4242"


def test_capture_off_drops_content_keeps_the_rest() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", capture_content=False)
    _llm_with_tool_call()
    span = memory.spans[0]
    assert span.input is None and span.output is None
    assert span.tool_calls == [{"id": "c1", "name": "charge"}]
    assert span.usage == Usage(input=10, output=5) and span.cost_usd is not None
    assert "4242-4242" not in str(span.to_dict())


def test_redact_hook_edits_what_is_exported() -> None:
    def mask(span: dict[str, Any]) -> dict[str, Any]:
        span["input"] = str(span["input"]).replace("4242-4242", "****")
        span["output"] = span["output"].replace("4242-4242", "****")
        span["tool_calls"] = [{**c, "arguments": "{}"} for c in span["tool_calls"] or []]
        span["trace_id"] = "not allowed to change"
        return span

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=mask)
    _llm_with_tool_call()
    data = memory.spans[0].to_dict()
    assert "4242-4242" not in str(data)
    assert data["output"] == "charged ****" and len(data["trace_id"]) == 32


def test_a_failing_redact_hook_drops_content_rather_than_leak_it() -> None:
    def broken(span: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug in the user's hook")

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=broken)
    _llm_with_tool_call()
    assert "4242-4242" not in str(memory.spans[0].to_dict())
    assert memory.spans[0].usage is not None


def test_redact_must_be_callable() -> None:
    with pytest.raises(ValueError, match="redact='mask' is not callable"):
        st.init(redact="mask")  # type: ignore[arg-type]


def test_size_caps_leave_a_marker_of_what_was_cut() -> None:
    text = "word " * (MAX_STRING // 2)
    assert to_jsonable(text).endswith(f"… <{len(text) - MAX_STRING} more chars>")
    items = to_jsonable(list(range(MAX_ITEMS + 7)))
    assert len(items) == MAX_ITEMS + 1 and items[-1] == "… 7 more items"
    deep: Any = "bottom"
    for _ in range(20):
        deep = [deep]
    assert "nested too deep" in str(to_jsonable(deep))


def test_base64_media_becomes_a_size_note() -> None:
    raw = base64.b64encode(os.urandom(30_000)).decode()
    assert to_jsonable("data:image/png;base64," + raw) == "<image/png base64: ~30000 bytes>"
    assert to_jsonable({"input_audio": {"data": raw}}) == {"input_audio": {"data": "<base64: ~30000 bytes>"}}


def test_non_json_inputs_are_described_not_fatal() -> None:
    with socket.socket() as sock:
        value = to_jsonable({"sock": sock, "lock": threading.Lock(), "blob": b"x" * 10**7, "set": {1}})
    assert value["blob"] == "<bytes: 10000000 bytes>" and value["set"] == [1]
    assert "socket" in value["sock"] and "lock" in value["lock"]


def test_secret_looking_values_never_reach_any_exporter(tmp_path: Path) -> None:
    secret = "sk-proj-SECRETSECRETSECRET1234"
    memory = InMemoryExporter()
    db, jsonl = tmp_path / "t.db", tmp_path / "t.jsonl"
    st.init(
        exporter=[memory, "sqlite", JsonlExporter(str(jsonl)), "console"],
        sqlite_path=str(db),
        processor="simple",
    )

    @st.tool
    def call_api(url: str, api_key: str, headers: dict[str, str], token: str) -> str:
        return "ok"

    call_api("https://x", secret, {"Authorization": f"Bearer {secret}", "X-Api-Key": secret}, token="t0k")
    with st.span("raw", input={"note": secret}):
        pass
    st.shutdown()
    assert secret not in str([s.to_dict() for s in memory.spans])
    assert secret.encode() not in db.read_bytes() and "t0k" not in jsonl.read_text()
    assert secret not in jsonl.read_text()
    assert memory.spans[0].input["api_key"] == REDACTED


def test_keep_errors_keeps_every_failed_trace_and_samples_the_rest() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", sample_rate=0.0, keep_errors=True)
    for i in range(20):
        with st.span("root"):
            with st.span("child"):
                pass
            if i % 5 == 0:
                with pytest.raises(ValueError):
                    with st.span("failing"):
                        raise ValueError("x")
    from staso_integrations._core import runtime

    kept = {s.trace_id for s in memory.spans}
    assert len(kept) == 4 and len(memory.traces) == 4
    assert len(memory.spans) == 4 * 3  # whole traces, never split
    assert runtime.get_runtime().processor.error_keeper.sampled_out == 16 * 2


@st.tool(name="charge")
def charge(card: str) -> str:
    raise ValueError(f"card {card} declined")


def test_the_redact_hook_sees_every_user_authored_field() -> None:
    seen: list[dict[str, Any]] = []

    def hook(span: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(span))  # as received; the keys below are replaced, not mutated
        span["tags"], span["trace_metadata"] = ["kept-tag"], {"plan": "masked"}
        return span

    @st.guard.rule(name="why")
    def why(call: Any) -> Any:
        return st.guard.Verdict(passed=True, reason="guard reason text")

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=hook)
    try:
        with st.conversation("c", tags=["vip"], metadata={"plan": "gold"}):
            with pytest.raises(ValueError):
                charge("4242-4242")
            _llm_with_tool_call()
    finally:
        st.guard.clear()
    tool, llm = seen
    assert tool["input"] == {"card": "4242-4242"} and tool["error"]["message"] == "card 4242-4242 declined"
    assert tool["metadata"]["guard"][0]["verdicts"][0]["reason"] == "guard reason text"
    assert (tool["tags"], tool["trace_metadata"]) == (["vip"], {"plan": "gold"})
    assert (
        llm["tool_calls"][0]["arguments"] == '{"card": "4242-4242"}' and llm["output"] == "charged 4242-4242"
    )
    exported = memory.spans[0]
    assert exported.trace_attrs.tags == ("kept-tag",) and exported.trace_attrs.metadata == {"plan": "masked"}


def test_a_raising_redact_hook_drops_content_of_every_span_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(span: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("bug in the user's hook")

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=broken)
    with (
        caplog.at_level(logging.DEBUG, logger="staso_integrations"),
        st.conversation("c", tags=["vip"], metadata={"plan": "gold"}),
    ):
        for _ in range(5):
            _llm_with_tool_call()
    assert len(memory.spans) == 5
    assert all("4242-4242" not in str(s.to_dict()) and s.trace_attrs.metadata is None for s in memory.spans)
    assert all(s.usage is not None and s.tool_calls == [{"id": "c1", "name": "charge"}] for s in memory.spans)
    records = [r for r in caplog.records if "redact hook failed" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None
    assert "KeyError" in records[0].getMessage()


def test_capture_off_keeps_tool_names_rule_outcomes_and_error_types_only() -> None:
    @st.guard.rule(name="why")
    def why(call: Any) -> Any:
        raise RuntimeError(f"rule broke on {call.arguments}")

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", capture_content=False)
    try:
        with st.span("llm", kind="llm", metadata={"note": "user 4242-4242"}) as span:
            span.metadata["tools"] = [
                {"type": "function", "function": {"name": "charge", "description": "4242-4242"}}
            ]
        with pytest.raises(ValueError):
            charge("4242-4242")
    finally:
        st.guard.clear()
    llm, tool = memory.spans
    assert llm.metadata == {"tools": [{"name": "charge", "type": "function"}]}
    assert tool.error == {"type": "ValueError", "message": MESSAGE_NOT_CAPTURED}
    verdict = tool.metadata["guard"][0]["verdicts"][0]
    assert (verdict["rule"], verdict["passed"], verdict["error"], verdict["reason"]) == (
        "why",
        None,
        "RuntimeError",
        None,
    )
    assert "4242-4242" not in str([s.to_dict() for s in memory.spans])


def test_long_text_without_spaces_is_kept_as_text() -> None:
    hex_digest = hashlib.sha512(b"x").hexdigest() * 20  # 2,560 hex chars
    alnum_id = "A1b2C3d4" * 200  # 1,600 chars of base64's alphabet, no + or /
    url = "https://example.com/search?q=" + "x" * 2_000
    unpadded = base64.b64encode(os.urandom(3_000)).decode()[:-1]  # not a whole number of quanta
    for text in (hex_digest, alnum_id, url, unpadded):
        assert to_jsonable(text) == text[:16_000]


def test_base64_of_binary_without_a_data_url_is_a_size_note() -> None:
    raw = base64.b64encode(bytes(range(256)) * 12).decode()  # 3,072 bytes: + and / appear
    assert to_jsonable(raw) == "<base64: ~3072 bytes>"
    wrapped = base64.encodebytes(bytes(range(256)) * 12).decode()  # MIME lines of 76 chars
    assert to_jsonable(wrapped).startswith("<base64: ~")


# A known secret with characters JSON escapes (quote, backslash, newline): found in the encoded
# content through its escaped form.
_ESCAPED_SECRET = 'pa"ss\\wo\nrd-' + "7c4e9a1f"
_SCANNED = [
    "plain words only, nothing to mask",
    "mail bob@example.com",  # a marker, no secret
    "my key is sk-" + "Hn4Kq9" * 5 + " ok",
    "Bearer " + "eyJhbGciOi.c2lnbmF0dXJl" * 2,
    "clone https://deploy:" + "Pa55w0rd-x9" + "@git.example.com/app.git",
    f"known {_ESCAPED_SECRET} secret",
]


def _span_holding(text: str) -> Span:
    attrs = TraceAttributes(conversation_id=f"c {text}", tags=(f"t {text}",), metadata={"m": [text]})
    span = Span(
        "s", "custom", trace_id="1" * 32, parent_span_id=None, agent_name=None, trace_attrs=attrs,
        turn_index=None, resource=Resource(), processor=None,
    )  # fmt: skip
    span.input = {"prompt": f"x {text} y", "n": 1}
    span.output = [text, None]
    span.metadata = {"k": {"v": text}}
    span.error = {"type": "E", "message": text}
    return span


@pytest.mark.parametrize("text", _SCANNED)
def test_the_scan_of_the_encoded_content_masks_exactly_what_a_walk_of_every_string_masks(text: str) -> None:
    rules = ContentRules(capture_content=True, redact=None, api_key=_ESCAPED_SECRET)
    prefiltered, walked = _span_holding(text), _span_holding(text)
    encoded = sanitize_span(prefiltered)
    assert encoded is not None and sanitize_span(walked) is not None
    rules.apply(prefiltered, encoded)
    rules.apply(walked, None)
    walked.span_id, walked.start_ns = prefiltered.span_id, prefiltered.start_ns
    assert prefiltered.to_dict() == walked.to_dict()
    assert prefiltered.trace_attrs == walked.trace_attrs
    secret_free = text.startswith(("plain", "mail"))
    assert (prefiltered.input == {"prompt": f"x {text} y", "n": 1}) is secret_free


def test_content_without_a_secret_marker_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[Any] = []
    monkeypatch.setattr(content, "scrub_value", lambda value, *args: walked.append(value) or value)
    span = _span_holding("plain words only")
    span.trace_attrs = TraceAttributes()
    ContentRules(capture_content=True, redact=None, api_key=None).apply(span, sanitize_span(span))
    assert walked == []


def _processed(**settings: Any) -> Span:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", **settings)
    with st.span("step", input={"q": "what is 2+2"}, metadata={"k": "v"}) as span:
        span.output = ["4"]
    return memory.spans[0]


def test_the_pipeline_hands_exporters_the_content_it_encoded_when_nothing_changed_it() -> None:
    span = _processed()
    assert span.encoded_content is not None
    assert json.loads(span.encoded_content) == json.loads(json.dumps(content_values(span)))


@pytest.mark.parametrize(
    "settings",
    [
        {"capture_content": False},
        {"redact": lambda data: {**data, "output": "hidden"}},
    ],
    ids=["capture off", "redact hook"],
)
def test_content_a_rule_changed_is_not_handed_over_as_encoded(settings: dict[str, Any]) -> None:
    assert _processed(**settings).encoded_content is None


def test_content_holding_a_secret_is_not_handed_over_as_encoded() -> None:
    rules = ContentRules(capture_content=True, redact=None, api_key=None)
    span = _span_holding("sk-proj-" + "a1B2c3D4e5" * 4)
    encoded = sanitize_span(span)
    assert encoded is not None and "sk-proj-" in encoded
    assert rules.apply(span, encoded) is None
    assert "<redacted>" in span.output[0]


def test_content_with_tool_calls_is_encoded_again_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tool calls' arguments are normalized after the first encode (and guard verdicts added):
    the content is encoded again, so the secret scan still skips content without a marker (it
    walked every string of such a span before, the whole history of an agent's model call) and
    the exporters get the text."""
    walked: list[Any] = []
    scrub = content.scrub_value
    monkeypatch.setattr(
        content, "scrub_value", lambda value, *args: walked.append(value) or scrub(value, *args)
    )
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    with st.span("chat", kind="llm", input=[{"role": "user", "content": "what is 2+2"}]) as span:
        span.usage = Usage(input=10, output=5)
        span.tool_calls = [{"id": "c1", "name": "add", "arguments": {"a": 2, "b": 2}}]
    span = memory.spans[0]
    assert span.tool_calls == [{"id": "c1", "name": "add", "arguments": '{"a": 2, "b": 2}'}]
    assert span.encoded_content is not None
    assert json.loads(span.encoded_content) == json.loads(json.dumps(content_values(span)))
    assert walked == []


def test_a_secret_in_tool_call_arguments_is_masked_and_not_handed_over_as_encoded() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    secret = "sk-proj-" + "a1B2c3D4e5" * 4
    with st.span("chat", kind="llm") as span:
        span.tool_calls = [{"id": "c1", "name": "login", "arguments": {"key": secret}}]
    span = memory.spans[0]
    assert secret not in span.tool_calls[0]["arguments"] and "<redacted>" in span.tool_calls[0]["arguments"]
    assert span.encoded_content is None


def test_a_secret_in_a_span_name_is_masked_every_time_the_name_recurs() -> None:
    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple")
    secret = "sk-proj-" + "a1B2c3D4e5" * 4
    for _ in range(3):
        with st.span(f"call with {secret}"):
            pass
    assert [span.name for span in memory.spans] == ["call with <redacted>"] * 3


def test_a_known_secret_holding_a_marker_is_found_through_that_marker() -> None:
    from staso_integrations._core.content import MASK, SecretScanner

    marked, unmarked = "db-admin@Vault-passphrase-91", "zebra-crossing-7741"  # no known shape: exact only
    scanner = SecretScanner([marked, unmarked])
    assert marked not in scanner.markers and unmarked in scanner.markers
    assert marked not in scanner.json_markers and unmarked in scanner.json_markers
    text = f"a {marked} b {unmarked} c"
    assert scanner.scrub(text) == f"a {MASK} b {MASK} c"
    assert scanner.may_hold_secret(json.dumps([text], ensure_ascii=False))
    assert not scanner.may_hold_secret(json.dumps(["db-admin Vault-passphrase-91"], ensure_ascii=False))


def test_the_redact_hook_gets_a_copy_it_may_edit_in_place() -> None:
    """Span content may be shared (a LangChain message's record is): the hook's in-place edits
    reach only its span. Values marshal does not take are copied too."""
    shared = {"role": "user", "content": "card 4242-4242"}
    text_kind = type("Text", (str,), {})

    def mask(span: dict[str, Any]) -> dict[str, Any]:
        for message in span["input"]["messages"]:
            message["content"] = "****"  # in place
        return span

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=mask)
    with st.span("a") as a:
        a.input = {"messages": [shared]}
    with st.span("b") as b:
        b.input = {"messages": [shared, {"role": "user", "content": text_kind("odd")}]}
    assert [m["content"] for s in memory.spans for m in s.input["messages"]] == ["****", "****", "****"]
    assert shared == {"role": "user", "content": "card 4242-4242"}
