"""``_extract.message`` and ``_extract.messages``: LangChain messages as the span records them.

A LangChain message is read from its instance dict (one read instead of six attribute reads,
each a generic lookup on a pydantic model); any other object, and a message given fields its
class does not declare, is read by attribute. Both ways give the same dict. A list of messages
gives each the record ``message`` gives it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableLambda

import staso_integrations as st
from staso_integrations._core.serialize import MAX_STRING, each, with_string_cap
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations._llm import full_content
from staso_integrations.integrations.langchain import _extract as ex

CALL = {"id": "call_1", "name": "lookup", "args": {"q": "x"}}
RECORDED_CALL = {"id": "call_1", "name": "lookup", "arguments": {"q": "x"}}
CASES = [
    (SystemMessage("be brief"), {"role": "system", "content": "be brief"}),
    (HumanMessage("hi", name="ann"), {"role": "user", "content": "hi", "name": "ann"}),
    (
        HumanMessage([{"type": "text", "text": "hi"}]),
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ),
    (AIMessage("", tool_calls=[CALL]), {"role": "assistant", "content": "", "tool_calls": [RECORDED_CALL]}),
    (
        AIMessage("", additional_kwargs={"function_call": {"name": "f", "arguments": "{}"}}),
        {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}},
    ),
    # a streamed reply put back into the history (before: role "AIMessageChunk")
    (AIMessageChunk("par"), {"role": "assistant", "content": "par"}),
    (HumanMessageChunk("hi"), {"role": "user", "content": "hi"}),
    (ToolMessage("42", tool_call_id="call_1"), {"role": "tool", "content": "42", "tool_call_id": "call_1"}),
    (FunctionMessage("42", name="f"), {"role": "function", "content": "42", "name": "f"}),
    (ChatMessage("hm", role="critic"), {"role": "critic", "content": "hm"}),  # before: role "chat"
    (ChatMessageChunk(content="hm", role="critic"), {"role": "critic", "content": "hm"}),
    # fields the class does not declare (pydantic extras): read as attributes, as before
    (HumanMessage("hi", tool_call_id="call_9"), {"role": "user", "content": "hi", "tool_call_id": "call_9"}),
    (
        SystemMessage("s", tool_calls=[CALL]),
        {"role": "system", "content": "s", "tool_calls": [RECORDED_CALL]},
    ),
]


class Lookalike:
    """Not a LangChain message: its fields are attributes behind ``__getattr__``, no instance dict."""

    __slots__ = ("_message",)

    def __init__(self, message: Any) -> None:
        self._message = message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)


@pytest.mark.parametrize(("message", "recorded"), CASES, ids=[type(m).__name__ for m, _ in CASES])
def test_each_kind_of_message_is_recorded_the_same_either_way(message: Any, recorded: dict[str, Any]) -> None:
    assert ex.message(message) == recorded
    assert ex.message(Lookalike(message)) == recorded


def test_content_is_still_serialized_with_its_rules() -> None:
    secret = "sk-" + "a" * 40
    assert ex.message(HumanMessage(secret)) == {"role": "user", "content": "<redacted>"}
    assert ex.message(HumanMessage("x" * 20_000))["content"].endswith("more chars>")


# -- one record per message, shared by the spans that record it --------------------------------


@pytest.fixture(autouse=True)
def _no_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no message recorded. A record used again is the same object: the
    tests tell a conversion from a reuse by identity (the compiled build calls its own
    functions directly, so a patched converter would not see its calls)."""
    monkeypatch.setattr(ex, "_recorded", {})


def _history() -> list[Any]:
    return [SystemMessage("be brief"), HumanMessage("hi"), AIMessage("", tool_calls=[CALL]),
            ToolMessage("42", tool_call_id="call_1"), AIMessage("It is 42.")]  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_run_of_a_chain_records_the_history_converting_each_message_once(
    langchain_only: Any, mode: str
) -> None:
    """A LangGraph-like state passed through three steps: each step's span records all of it
    (before: each message converted once per span, three times here)."""
    history = _history()
    chain = RunnableLambda(lambda s: s, name="a") | RunnableLambda(lambda s: s, name="b")
    if mode == "sync":
        chain.invoke({"messages": history})
    else:
        asyncio.run(chain.ainvoke({"messages": history}))

    spans = [s for s in langchain_only.spans if s.name in ("a", "b", "RunnableSequence")]
    assert len(spans) == 3
    records = [ex.message(m) for m in history]
    for span in spans:
        assert span.input == {"messages": records}
        assert all(
            kept is made for kept, made in zip(span.input["messages"], records, strict=True)
        )  # each once


def test_a_message_changed_since_its_record_is_recorded_again() -> None:
    message = AIMessage("draft", tool_calls=[CALL])
    first = ex.message(message)
    assert ex.message(message) is first

    message.content = "final"  # a field replaced
    second = ex.message(message)
    assert second is not first and second["content"] == "final"
    message.tool_calls.append({**CALL, "id": "call_2"})  # a list grown in place
    third = ex.message(message)
    assert third is not second and [c["id"] for c in third["tool_calls"]] == ["call_1", "call_2"]
    message.additional_kwargs["function_call"] = {"name": "f", "arguments": "{}"}  # a dict grown in place
    fourth = ex.message(message)
    assert fourth is not third and fourth["function_call"] == {"name": "f", "arguments": "{}"}
    assert ex.message(message) is fourth
    assert first["content"] == "draft" and len(first["tool_calls"]) == 1  # the old record is untouched


def test_a_message_with_a_string_past_the_cap_is_recorded_whole_for_a_model_call() -> None:
    """A chain's span cuts a long message at the default cap; the model call's span, which
    converts again under ``llm_content_max_chars`` when a string was cut, must see that cut."""
    st.init(exporter=InMemoryExporter(), processor="simple", llm_content_max_chars=MAX_STRING * 2)
    message = HumanMessage("x" * (MAX_STRING + 500))
    assert ex.message(message)["content"].endswith("… <500 more chars>")  # a chain's input
    (whole,) = full_content(each, ex.message, [message])
    assert whole["content"] == message.content
    assert ex.message(message)["content"].endswith("… <500 more chars>")
    short = HumanMessage("short")
    assert ex.message(short) is ex.message(short)  # one without a cut is kept


def test_a_record_is_shared_across_caps_only_when_it_met_no_string_past_the_default_cap() -> None:
    short = HumanMessage("y" * 100)
    assert with_string_cap(MAX_STRING * 2, ex.message, short) is ex.message(short)  # the same under any cap
    long = HumanMessage("y" * (MAX_STRING + 500))
    assert with_string_cap(MAX_STRING * 2, ex.message, long)["content"] == long.content  # whole, not kept
    assert ex.message(long)["content"].endswith("… <500 more chars>")
    assert ex._recorded.keys() == {id(short)}


def test_a_message_edited_in_place_is_recorded_again() -> None:
    """What was an edit no record saw: a content block appended, a tool call replaced."""
    message = HumanMessage([{"type": "text", "text": "hi"}])
    first = ex.message(message)
    message.content.append({"type": "text", "text": "again"})  # type: ignore[union-attr]
    assert ex.message(message)["content"] == [
        {"type": "text", "text": "hi"},
        {"type": "text", "text": "again"},
    ]
    call = AIMessage("", tool_calls=[CALL])
    before = ex.message(call)
    call.tool_calls[0] = {**CALL, "id": "call_9"}
    after = ex.message(call)
    assert after is not before and after["tool_calls"][0]["id"] == "call_9"
    assert first["content"] == [{"type": "text", "text": "hi"}]


def test_a_list_of_messages_gives_each_message_its_record() -> None:
    """``messages`` checks a whole history at once; it gives what ``message`` gives for each."""
    history = _history()
    first = ex.messages(history)
    assert first == [ex.message(m) for m in history]
    assert all(a is b for a, b in zip(ex.messages(history), first, strict=True))  # all recorded already
    history[1].content = "hello"  # one replaced field, one new message
    grown = [*history, HumanMessage("and now?")]
    again = ex.messages(grown)
    assert again[1] == {"role": "user", "content": "hello"} and again[1] is not first[1]
    assert all(again[i] is first[i] for i in (0, 2, 3, 4))
    assert again[5] == {"role": "user", "content": "and now?"}
    assert ex.messages(tuple(grown)) == again and ex.messages(iter(grown)) == again


def test_a_list_of_messages_copes_with_what_is_not_a_plain_message() -> None:
    class Touchy(dict):  # type: ignore[type-arg]
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("compared")

        __hash__ = None  # type: ignore[assignment]

    history = _history()
    ex.messages(history)
    history[4].response_metadata = Touchy(model="m")  # its ``__eq__`` raises when compared
    history[3].tool_call_id = "call_2"
    lookalike = Lookalike(HumanMessage("hi"))  # no instance dict
    extra = HumanMessage("hi", tool_call_id="call_9")  # a field its class does not declare
    items = [*history, lookalike, extra]
    assert ex.messages(items) == [ex.message(m) for m in items]
    assert ex.messages(items)[3]["tool_call_id"] == "call_2"
    assert ex.messages(items)[-1] == {"role": "user", "content": "hi", "tool_call_id": "call_9"}
    late = HumanMessage("hi")
    ex.messages([late, *history])  # three or more: checked as a list
    late.tool_call_id = "call_7"  # given an undeclared field after its record
    assert ex.messages([late, *history])[0] == {"role": "user", "content": "hi", "tool_call_id": "call_7"}


def test_a_state_and_a_prompt_value_record_their_messages_through_the_same_records() -> None:
    from langchain_core.prompt_values import ChatPromptValue

    history = _history()
    records = ex.value({"messages": history})["messages"]
    assert records == [ex.message(m) for m in history]
    assert all(a is b for a, b in zip(ex.value(ChatPromptValue(messages=history)), records, strict=True))
    mixed = [history[0], {"role": "user", "content": "hi"}, "text"]  # a list that is not all messages
    assert ex.value(mixed) == [records[0], {"role": "user", "content": "hi"}, "text"]


def test_a_redact_hook_editing_a_shared_record_in_place_changes_only_its_span() -> None:
    def hook(span: dict[str, Any]) -> dict[str, Any]:
        for message in (span["input"] or {}).get("messages", ()):
            message["content"] = f"edited in {span['name']}"  # in place, nested
        return span

    memory = InMemoryExporter()
    st.init(exporter=memory, processor="simple", redact=hook)
    assert st.instrument_all(include=["langchain"])["langchain"] == "instrumented"
    try:
        history = _history()
        (RunnableLambda(lambda s: s, name="a") | RunnableLambda(lambda s: s, name="b")).invoke(
            {"messages": history}
        )
    finally:
        st.uninstrument_all()
    for span in memory.spans:
        assert {m["content"] for m in span.input["messages"]} == {f"edited in {span.name}"}
    record = ex.message(history[0])
    assert record == {"role": "system", "content": "be brief"} and ex.message(history[0]) is record


def test_the_records_keep_no_message_alive() -> None:
    """An entry goes with its message: a server's finished conversations are not kept."""
    import gc
    import weakref

    message = HumanMessage("x" * 1000)
    ex.message(message)
    assert len(ex._recorded) == 1
    alive = weakref.ref(message)
    del message
    gc.collect()
    assert alive() is None and ex._recorded == {}


def test_a_field_replaced_by_a_value_whose_eq_raises_is_recorded_again() -> None:
    class Touchy(dict):  # type: ignore[type-arg]  # compared with the old value: its ``__eq__`` raises
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("compared")

        __hash__ = None  # type: ignore[assignment]

    message = AIMessage("x")
    first = ex.message(message)
    message.response_metadata = Touchy(model="m")
    again = ex.message(message)
    assert again == {"role": "assistant", "content": "x"} and again is not first
