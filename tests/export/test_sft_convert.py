"""Conversion of each stored message shape to a chat fine-tuning record, and the checker itself.

The span dicts are the shapes the integrations store (``integrations/*/_request.py``,
``_response.py``, ``langchain/_extract.py``, ``llama_index/_extract.py``); the scenario tests
produce them from real SDK calls, these pin the cases no cassette covers.
"""

from __future__ import annotations

from typing import Any

import pytest

from staso_integrations._core.serialize import MAX_ITEMS, MAX_STRING, to_jsonable
from staso_integrations._sft import was_cut
from staso_integrations.export import sft_record

from .sft_format import assert_valid, problems

USER, ANSWER = {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}
WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def _record(input: Any, output: Any = None, tool_calls: Any = None, **metadata: Any) -> dict[str, Any]:  # noqa: A002
    record, reason = sft_record(
        {"input": input, "output": output, "tool_calls": tool_calls, "metadata": metadata}
    )
    assert record is not None, reason
    assert_valid([record])
    return record


def _reason(input: Any, output: Any = None, tool_calls: Any = None, **metadata: Any) -> str | None:  # noqa: A002
    record, reason = sft_record(
        {"input": input, "output": output, "tool_calls": tool_calls, "metadata": metadata}
    )
    assert record is None
    return reason


def test_responses_items_become_tool_calls_and_tool_messages() -> None:
    """A second Responses turn: instructions, the function_call and function_call_output items
    the caller sent back, a reasoning item (dropped), typed content parts."""
    record = _record(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        ],
        {"role": "assistant", "content": "18C in Paris."},
        tools=[WEATHER],
    )
    assert record["messages"][1:] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "weight": 0, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "assistant", "content": "18C in Paris."},
    ]  # fmt: skip
    assert record["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["parameters"]}}
    ]


def test_anthropic_blocks_system_list_images_and_tools() -> None:
    record = _record(
        {
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "text", "text": "What is this?"}]},
            ],
        },  # fmt: skip
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Looks like a chart."}, {"type": "text", "text": "A chart."},
            {"type": "tool_use", "id": "toolu_1", "name": "zoom", "input": {"x": 1}}]},
        tools=[{"name": "zoom", "description": "Zoom in.", "input_schema": {"type": "object"}}],
    )  # fmt: skip
    assert record["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                                     {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": "A chart.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "zoom", "arguments": '{"x": 1}'}}]},
    ]  # fmt: skip
    assert record["tools"][0]["function"] == {
        "name": "zoom",
        "description": "Zoom in.",
        "parameters": {"type": "object"},
    }


def test_langchain_and_llamaindex_message_dicts() -> None:
    lc_history = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Time?", "name": "alice"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "clock", "arguments": {}}]},
        {"role": "tool", "content": "10:41", "tool_call_id": "c1", "name": "clock"},
    ]
    lc = _record(lc_history, {"role": "assistant", "content": "It is 10:41."})
    assert lc["messages"][1] == {"role": "user", "content": "Time?", "name": "alice"}
    assert lc["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "10:41"}
    llama = _record(
        [{"role": "user", "content": "Add 2 and 3."}],
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t1", "name": "add", "arguments": '{"a": 2, "b": 3}'}],
        },
    )
    assert llama["messages"][-1]["tool_calls"][0]["function"] == {
        "name": "add",
        "arguments": '{"a": 2, "b": 3}',
    }


def test_legacy_function_calling_pairs_results_in_order() -> None:
    """``functions=``/``function_call`` carry no ids: numbered ids pair each result with its call."""
    record = _record(
        [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": "{}"},
            },
            {"role": "function", "name": "get_weather", "content": "18C"},
        ],
        {"role": "assistant", "content": None},
        [{"id": None, "name": "get_weather", "arguments": '{"city": "Rome"}'}],
        tools=[
            {"name": "get_weather", "parameters": {"type": "object"}}
        ],  # as the OpenAI hook stores ``functions=``
    )
    asked, answered, final = record["messages"][1:]
    assert answered == {"role": "tool", "tool_call_id": asked["tool_calls"][0]["id"], "content": "18C"}
    assert final["tool_calls"][0]["id"] not in (None, asked["tool_calls"][0]["id"])
    assert record["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]


@pytest.mark.parametrize(
    ("input", "output", "reason"),
    [
        (None, "hi", "no captured input messages"),
        ([{"role": "user", "content": "hi"}], None, "no output captured"),
        ([{"role": "user", "content": "hi"}], [{"role": "assistant", "content": "a"}] * 2,
         "several choices (n > 1) in one call"),
        ([{"type": "function_call_output", "call_id": "c9", "output": "x"}], "ok",
         "a tool result whose call is not in the captured messages"),  # history kept by previous_response_id
        ([{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}], "ok",
         "'input_file' content in user messages"),
        ([{"type": "web_search_call", "id": "ws"}], "ok", "input item 'web_search_call'"),
        ({"messages": [USER, {"role": "assistant", "content": "{"}]}, '"a": 1}',
         "the request ends on an assistant turn the answer continues (a prefill)"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "name": "f", "arguments": "{}"}]}], "ok",
         "a tool call the request leaves unanswered"),
        ([{"role": "user", "content": "x"}], None, "tool call name 'get weather' is not a function name"),
        ([{"role": "user", "content": "x"}], None, "the arguments of 'f' are not JSON"),
    ],
)  # fmt: skip
def test_calls_without_a_faithful_record_say_why(input: Any, output: Any, reason: str) -> None:  # noqa: A002
    calls = {
        "tool call name 'get weather' is not a function name": [
            {"id": "c", "name": "get weather", "arguments": "{}"}
        ],
        "the arguments of 'f' are not JSON": [{"id": "c", "name": "f", "arguments": '{"a": '}],
    }
    assert _reason(input, output, calls.get(reason)) == reason


def test_a_call_to_an_undefined_tool_or_an_odd_participant_name() -> None:
    call = [{"id": "c", "name": "f", "arguments": "{}"}]
    assert _reason([USER], None, call, tools=[WEATHER]) == "a tool call to a tool the request did not define"
    record = _record([{"role": "user", "content": "hi", "name": "Alice Smith"}], "hello")
    assert record["messages"][0] == USER  # the API refuses names with spaces: the optional name is left out


def test_server_side_tools_have_no_function_form() -> None:
    reason = _reason(
        [{"role": "user", "content": "news?"}],
        "ok",
        tools=[{"type": "web_search_20250305", "name": "web_search"}],
    )
    assert reason == "tool 'web_search_20250305' has no function form"


def test_every_cut_the_serializer_makes_is_detected() -> None:
    """The notes ``serialize.py`` leaves when it cuts or replaces: a record with one is skipped."""
    cut = [
        to_jsonable("x" * (MAX_STRING + 5)),
        to_jsonable(list(range(MAX_ITEMS + 1))),
        to_jsonable({str(i): i for i in range(MAX_ITEMS + 1)}),
        to_jsonable(b"\x00\x01"),
        to_jsonable("data:image/png;base64," + "A" * 400),
        to_jsonable(_nested(12)),
    ]
    assert all(was_cut(value) for value in cut)
    assert not was_cut(to_jsonable({"text": "a <b> … 3 more items later", "n": [1, 2]}))
    span = {
        "input": [{"role": "user", "content": cut[0]}],
        "output": "ok",
        "tool_calls": None,
        "metadata": {},
    }
    assert sft_record(span) == (None, "content cut at capture (--include-truncated keeps it)")
    record, _ = sft_record(span, include_truncated=True, provenance=True)
    assert record is not None and record["metadata"]["content_truncated"] is True


def _nested(depth: int) -> Any:
    return {"a": _nested(depth - 1)} if depth else 1


GOOD = {"messages": [USER, ANSWER]}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({**GOOD, "metadata": {}}, "unknown key 'metadata'"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message to train on"),
        ({"messages": [{"role": "human", "content": "hi"}, ANSWER]}, "message 0: unknown role 'human'"),
        ({"messages": [{"role": "user", "content": "hi", "weight": 1}, ANSWER]},
         "message 0: key 'weight' not allowed on user"),
        ({"messages": [USER, {"role": "assistant", "content": "x", "weight": 0}]},
         "no assistant message to train on"),
        ({"messages": [USER, {"role": "assistant", "content": None}]},
         "message 1: assistant message without content"),
        ({"messages": [USER, {"role": "assistant", "tool_calls": [
            {**CALL, "function": {"name": "f", "arguments": {}}}]}]},
         "message 1: arguments of 'f' must be a string"),
        ({"messages": [USER, {"role": "assistant", "tool_calls": [{**CALL, "type": "custom"}]}]},
         "message 1: a tool call needs an id, type 'function' and a function"),
        ({"messages": [USER, {"role": "tool", "tool_call_id": "c1", "content": "x"}, ANSWER]},
         "message 1: tool_call_id 'c1' answers no earlier call"),
        ({"messages": [USER, {"role": "assistant", "tool_calls": [CALL], "weight": 0},
                       {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "x"}]},
                       ANSWER]}, "message 2: tool content must be a string"),
        ({"messages": [USER, {"role": "assistant", "tool_calls": [CALL], "weight": 0}, ANSWER]},
         "tool call 'c1' is never answered"),
        ({**GOOD, "tools": [{"name": "f"}]}, "tool 0: must be {'type': 'function', 'function': {...}}"),
        ({"messages": [USER, {"role": "assistant", "tool_calls": [CALL]}],
          "tools": [{"type": "function", "function": {"name": "g"}}]},
         "message 1: tool call 'f' is not among the record's tools"),
        ({"messages": [USER, USER]}, "the last message must be the assistant answer"),
    ],
)  # fmt: skip
def test_the_checker_catches_each_broken_rule(record: dict[str, Any], problem: str) -> None:
    assert problems(GOOD) == []
    assert problem in problems(record)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"metadata": {"stream_closed_early": True}}, "stream closed before the answer ended"),
        ({"finish_reason": "length"}, "answer cut at the token limit"),
        ({"finish_reason": "max_tokens"}, "answer cut at the token limit"),
    ],
)
def test_answers_cut_short_are_skipped_unless_asked(fields: dict[str, Any], reason: str) -> None:
    span = {
        "input": [{"role": "user", "content": "Count to 100."}],
        "output": "1, 2, 3",
        "tool_calls": None,
        **fields,
    }
    assert sft_record(span) == (None, f"{reason} (--include-truncated keeps it)")
    assert sft_record(span, include_truncated=True)[0] is not None


def test_llamaindex_tool_results_say_which_call_they_answer() -> None:
    """A LlamaIndex agent sends tool results as ``tool`` messages with the call id in
    ``additional_kwargs``: kept, so the agent's later calls have records too."""
    llms = pytest.importorskip("llama_index.core.base.llms.types")
    from staso_integrations.integrations.llama_index._extract import message_dict

    call = llms.ChatMessage(role="assistant", blocks=[
        llms.ToolCallBlock(tool_call_id="c1", tool_name="add", tool_kwargs={"a": 2, "b": 3})])  # fmt: skip
    result = llms.ChatMessage(
        role="tool", content="5", additional_kwargs={"tool_call_id": "c1", "name": "add"}
    )
    record = _record(
        [
            message_dict(llms.ChatMessage(role="user", content="2 + 3?")),
            message_dict(call),
            message_dict(result),
        ],
        message_dict(llms.ChatMessage(role="assistant", content="5.")),
    )
    assert record["messages"][2] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
