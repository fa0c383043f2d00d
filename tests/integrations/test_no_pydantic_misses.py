"""Our readers make no read that misses on a pydantic model (see ``integrations/_attrs.py``).

A name a pydantic model lacks costs ~4 µs to ask for, 40 times a hit, and shows in no
functional test: these run each reader over the objects it usually meets and fail on any miss
made from our code.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from pydantic import BaseModel

from staso_integrations._core.span import EMPTY_TRACE_ATTRIBUTES, Resource, Span


@pytest.fixture
def misses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    original = BaseModel.__getattr__

    def counting(self: BaseModel, name: str) -> Any:
        code = sys._getframe(1).f_code
        if "staso_integrations" in code.co_filename:
            found.append((type(self).__name__, name, code.co_name))
        return original(self, name)

    monkeypatch.setattr(BaseModel, "__getattr__", counting)
    return found


def _span() -> Span:
    return Span("s", "llm", "1" * 32, None, None, EMPTY_TRACE_ATTRIBUTES, None, Resource(), None)


def test_langchain_messages_and_results(misses: list[tuple[str, str, str]]) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

    from staso_integrations.integrations.langchain import _extract as ex

    call = {"id": "call_1", "name": "lookup", "args": {"q": "x"}}
    for message in (SystemMessage("be brief"), HumanMessage("hi"), AIMessage("", tool_calls=[call]),
                    ToolMessage("42", tool_call_id="call_1")):  # fmt: skip
        ex.message(message)
    ex.response_fields(ChatGeneration(message=AIMessage("done")))
    ex.response_fields(Generation(text="plain"))
    ex.chunk_has_output(GenerationChunk(text="x"))
    ex.chunk_has_output(ChatGenerationChunk(message=AIMessageChunk("x")))

    class Weather(BaseModel):  # what a tool may return
        city: str = "Paris"

    assert ex.tool_output(Weather()) == {"city": "Paris"}
    assert ex.tool_output(ToolMessage("42", tool_call_id="call_1")) == "42"
    assert misses == []


def test_llama_index_llms_and_responses(misses: list[tuple[str, str, str]]) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
    from llama_index.core.llms import MockLLM

    from staso_integrations.integrations.llama_index import _extract

    _extract.model_of(MockLLM())
    for response in (
        CompletionResponse(text="hi"),
        ChatResponse(message=ChatMessage(role="assistant", content="hi")),
    ):
        _extract.call_output("llm", response)
        _extract.response_details(response)
    assert misses == []


def test_gemini_configs(misses: list[tuple[str, str, str]]) -> None:
    pytest.importorskip("google.genai")
    from google.genai import types

    from staso_integrations.integrations.google_genai._request import record_request

    for operation, config in (
        ("generate_content", types.GenerateContentConfig(temperature=0.2)),
        ("embed_content", types.EmbedContentConfig(output_dimensionality=8)),
    ):
        record_request(_span(), operation, {"config": config, "contents": "hi"}, True)
    assert misses == []


def test_openai_usage_without_details(misses: list[tuple[str, str, str]]) -> None:
    from openai.types import CompletionUsage

    from staso_integrations.integrations.openai._response import read_usage

    read_usage(CompletionUsage(prompt_tokens=3, completion_tokens=2, total_tokens=5))
    assert misses == []
