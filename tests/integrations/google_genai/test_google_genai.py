"""Gemini through ``google-genai``: one span per model request, with the API's exact data."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from google import genai
from google.genai import errors, models, types

import staso_integrations as st
from staso_integrations._core.span import Span, Usage
from staso_integrations.export import sft_record
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.exporters._otel_attributes import span_attributes
from staso_integrations.integrations import _registry
from staso_integrations.integrations.google_genai import (
    GoogleGenAIInstrumentor,
    _request,
    _response,
    _wrappers,
)
from staso_integrations.pricing import cost_for

if TYPE_CHECKING:
    from conftest import Driver

# Where aiohttp is installed (the LlamaIndex env), the SDK's async client subclasses
# ``aiohttp.ClientSession``, which aiohttp warns about: the SDK's warning, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class Aiohttp\\w* from ClientSession is discouraged:DeprecationWarning"
)

FLASH = "gemini-2.5-flash"
QUESTION = "What is the capital of France? Answer in one word."
BASIC = {
    "model": FLASH,
    "contents": QUESTION,
    "config": types.GenerateContentConfig(
        system_instruction="You are a terse geography tutor.", temperature=0.2, max_output_tokens=256
    ),
}
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Current weather for a city.",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
ASK_WEATHER = "What's the weather in Paris?"


def _price(model: str, **tokens: int) -> float:
    return float(calc_price(PriceUsage(**tokens), model, provider_id="google").total_price)


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_basic.yaml")
def test_generate_content(gemini: Driver, traced: InMemoryExporter) -> None:
    response = gemini.generate(**BASIC)
    assert response.text == "Paris"
    [span] = traced.spans
    assert (span.kind, span.name, span.status) == ("llm", "chat gemini-2.5-flash", "ok")
    assert (span.provider, span.operation, span.stream) == ("google", "chat", False)
    assert (span.request_model, span.response_model) == (FLASH, FLASH)
    assert span.input == {
        "system": "You are a terse geography tutor.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
    }
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "Paris"}]}
    assert span.finish_reason == "STOP"
    # the 42 thinking tokens are billed as output, so they are in it
    assert span.usage == Usage(input=18, output=43, total=61, reasoning=42)
    assert span.metadata["params"] == {"temperature": 0.2, "max_output_tokens": 256}
    assert span.metadata["response_id"] == "Xq0nafGzLpHEz7IP4O2x8Ao"
    assert span.cost_usd == pytest.approx(_price(FLASH, input_tokens=18, output_tokens=43))
    assert span.ttft_ms is None and span.error is None


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_basic.yaml")
def test_capture_off_keeps_content_out(gemini: Driver, exporter: InMemoryExporter) -> None:
    st.init(exporter=exporter, processor="simple", capture_content=False)
    st.instrument_all(include=["google_genai"])
    gemini.generate(**BASIC)
    [span] = exporter.spans
    assert span.input is None and span.output is None
    assert span.usage is not None and span.usage.output == 43 and span.cost_usd


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_stream.yaml")
def test_stream(gemini: Driver, traced: InMemoryExporter) -> None:
    chunks = gemini.stream(model=FLASH, contents="Count to three.")
    assert "".join(chunk.text for chunk in chunks) == "One, two, three."
    [span] = traced.spans
    assert (span.name, span.stream, span.status) == ("chat gemini-2.5-flash", True, "ok")
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "One, two, three."}]}
    assert span.usage == Usage(input=5, output=33, total=38, reasoning=27)  # the last chunk's counts
    assert (span.finish_reason, span.response_model) == ("STOP", FLASH)
    assert span.metadata["response_id"] == "Yq0naYKCNr7Vz7IPh9a1uQk"
    assert span.ttft_ms is not None and 0 <= span.ttft_ms <= (span.end_ns - span.start_ns) / 1e6
    assert span.cost_usd == pytest.approx(_price(FLASH, input_tokens=5, output_tokens=33))


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_stream_thinking_tools.yaml")
def test_stream_with_thoughts_and_a_function_call(gemini: Driver, traced: InMemoryExporter) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        thinking_config=types.ThinkingConfig(include_thoughts=True),
    )
    chunks = gemini.stream(model=FLASH, contents=ASK_WEATHER, config=config)
    assert chunks[-1].function_calls[0].name == "get_weather"
    [span] = traced.spans
    assert span.output == {
        "role": "assistant",
        "content": [
            {
                "type": "thinking",
                "thinking": "**Finding the tool**\n\nThe user wants Paris weather; get_weather takes a city.",
            },
            {"type": "tool_use", "id": None, "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }
    assert span.tool_calls == [{"id": None, "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert span.usage == Usage(input=61, output=67, total=128, reasoning=52)
    assert span.metadata["params"]["thinking_config"] == {"include_thoughts": True}


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_stream.yaml")
def test_stream_stopped_early_keeps_what_arrived(gemini: Driver, traced: InMemoryExporter) -> None:
    gemini.stream(stop_after=1, model=FLASH, contents="Count to three.")
    [span] = traced.spans
    assert span.metadata["stream_closed_early"] is True
    assert span.output == {"role": "assistant", "content": [{"type": "text", "text": "One"}]}
    assert span.usage == Usage(input=5, output=None, total=5)


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_tools.yaml")
def test_function_call_is_a_tool_call_and_judged_by_the_guard(
    gemini: Driver, traced: InMemoryExporter
) -> None:
    st.guard.rule(lambda call: call.arguments["city"] != "Paris", tools=["get_weather"], name="no_paris")
    st.guard.policy(mode="enforce")
    try:
        response = gemini.generate(
            model=FLASH,
            contents=ASK_WEATHER,
            config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])]),
        )
    finally:
        st.guard.clear()
    assert response.function_calls[0].args == {"city": "Paris"}  # the user's result is untouched
    [span] = traced.spans
    assert span.tool_calls == [{"id": None, "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert span.output == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": None, "name": "get_weather", "input": {"city": "Paris"}}],
    }
    assert span.metadata["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": WEATHER.parameters_json_schema,
        }
    ]
    [decision] = span.metadata["guard"]  # proposed calls are judged, never blocked
    assert (decision["tool"], decision["mode"], decision["decision"]) == ("get_weather", "audit", "allowed")
    assert decision["verdicts"][0]["passed"] is False and span.status == "ok"


def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temperature_c": 18, "sky": "cloudy"}


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_afc.yaml")
def test_automatic_function_calling_is_one_span_per_request(gemini: Driver, traced: InMemoryExporter) -> None:
    response = gemini.generate(
        model=FLASH, contents=ASK_WEATHER, config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert response.text == "It's 18 °C and cloudy in Paris."
    first, second = traced.spans
    assert first.tool_calls == [{"id": None, "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert first.usage == Usage(input=54, output=44, total=98, reasoning=39)
    assert first.metadata["tools"] == [{"name": "get_weather", "type": "function"}]
    assert second.usage == Usage(input=98, output=12, total=110) and second.tool_calls is None
    assert second.input["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": None, "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": None,
                    "name": "get_weather",
                    "content": {"result": {"city": "Paris", "temperature_c": 18, "sky": "cloudy"}},
                }
            ],
        },
    ]


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_thinking_cached.yaml")
def test_thinking_and_cached_tokens_are_priced_apart(gemini: Driver, traced: InMemoryExporter) -> None:
    gemini.generate(
        model="models/gemini-2.5-pro",
        contents="How can either party terminate the contract?",
        config=types.GenerateContentConfig(
            cached_content="cachedContents/k3c9x0m2p7qv",
            thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024),
        ),
    )
    [span] = traced.spans
    assert span.request_model == "gemini-2.5-pro"  # without the ``models/`` prefix
    assert span.usage == Usage(input=12045, output=431, total=12476, cache_read=11520, reasoning=412)
    thought, answer = span.output["content"]
    assert thought["type"] == "thinking" and thought["thinking"].startswith("**Weighing the clauses**")
    assert answer == {
        "type": "text",
        "text": "Either party may terminate with 30 days' written notice (section 12.2).",
    }
    assert span.metadata["params"]["cached_content"] == "cachedContents/k3c9x0m2p7qv"
    assert span.metadata["params"]["thinking_config"] == {"include_thoughts": True, "thinking_budget": 1024}
    expected = _price("gemini-2.5-pro", input_tokens=12045, output_tokens=431, cache_read_tokens=11520)
    assert span.cost_usd == pytest.approx(expected)
    assert expected < _price("gemini-2.5-pro", input_tokens=12045, output_tokens=431)  # reads are cheaper


@pytest.mark.vcr
@pytest.mark.default_cassette("embed_content.yaml")
def test_embed_content(gemini: Driver, traced: InMemoryExporter) -> None:
    texts = ["How do I reset my password?", "Refund policy"]
    result = gemini.embed(
        model="gemini-embedding-001", contents=texts, config=types.EmbedContentConfig(output_dimensionality=4)
    )
    assert len(result.embeddings) == 2
    [span] = traced.spans
    assert (span.kind, span.name, span.operation) == (
        "embedding",
        "embeddings gemini-embedding-001",
        "embeddings",
    )
    assert span.input == texts and span.output == {"count": 2, "dimensions": 4}
    assert span.usage == Usage(input=11, output=0, total=11)
    assert span.metadata["params"] == {"output_dimensionality": 4}
    assert span.cost_usd == pytest.approx(_price("gemini-embedding-001", input_tokens=11))


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_error_404.yaml")
def test_api_error_propagates_unchanged_and_fails_the_span(gemini: Driver, traced: InMemoryExporter) -> None:
    with pytest.raises(errors.ClientError) as raised:
        gemini.generate(model="gemini-0.9-nano", contents="Hello")
    assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"
    [span] = traced.spans
    assert span.status == "error" and span.usage is None
    assert span.error["type"] == "google.genai.errors.ClientError"
    assert span.error["status_code"] == 404
    assert "is not found for API version v1" in span.error["message"]


def _broken(*args: Any) -> None:
    raise RuntimeError("bug in our code")


@pytest.mark.vcr
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("response", marks=pytest.mark.default_cassette("generate_basic.yaml")),
        pytest.param("request", marks=pytest.mark.default_cassette("generate_basic.yaml")),
        pytest.param("stream", marks=pytest.mark.default_cassette("generate_stream.yaml")),
        pytest.param("read", marks=pytest.mark.default_cassette("generate_basic.yaml")),
        pytest.param("fail", marks=pytest.mark.default_cassette("generate_error_404.yaml")),
    ],
)
def test_our_errors_are_swallowed(
    gemini: Driver, traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    if path == "stream":
        monkeypatch.setattr("staso_integrations.integrations.google_genai._stream.part_block", _broken)
        chunks = gemini.stream(model=FLASH, contents="Count to three.")
        assert "".join(chunk.text for chunk in chunks) == "One, two, three."
    elif path == "read":  # the call runs untraced
        monkeypatch.setattr(_wrappers, "model_name", _broken)
        assert gemini.generate(**BASIC).text == "Paris"
        assert traced.spans == []
        return
    elif path == "fail":  # the user's error still reaches the user, unchanged
        monkeypatch.setattr(Span, "record_error", _broken)
        with pytest.raises(errors.ClientError):
            gemini.generate(model="gemini-0.9-nano", contents="Hello")
        return
    else:
        monkeypatch.setattr(_wrappers, f"record_{path}", _broken)
        assert gemini.generate(**BASIC).text == "Paris"
    [span] = traced.spans
    assert span.end_ns is not None


def test_the_client_is_traced_whether_made_before_or_after_instrumenting(exporter: InMemoryExporter) -> None:
    before = genai.Client(api_key="k")
    st.instrument_all(include=["google_genai"])
    after = genai.Client(api_key="k")
    assert before.models._generate_content.__func__ is after.models._generate_content.__func__
    assert hasattr(models.Models._generate_content, "__wrapped__")
    asyncio.run(after.aio.aclose())


_TARGETS = [
    (cls, name)
    for cls in (models.Models, models.AsyncModels)
    for name in ("_generate_content", "_generate_content_stream", "embed_content")
]


def test_uninstrument_restores_every_original_and_double_instrument_is_a_noop() -> None:
    before = {key: vars(key[0])[key[1]] for key in _TARGETS}
    assert st.instrument_all(include=["google_genai"])["google_genai"] == "instrumented"
    patched = {key: vars(key[0])[key[1]] for key in _TARGETS}
    assert all(patched[key].__wrapped__ is before[key] for key in _TARGETS)
    assert st.instrument_all(include=["google_genai"])["google_genai"] == "instrumented"
    assert {key: vars(key[0])[key[1]] for key in _TARGETS} == patched
    st.uninstrument_all()
    assert all(vars(key[0])[key[1]] is before[key] for key in _TARGETS)


def test_registry_and_requirement() -> None:
    import tomllib
    from pathlib import Path

    instrumentor = _registry.load_instrumentor("google_genai")
    assert isinstance(instrumentor, GoogleGenAIInstrumentor) and instrumentor.unsupported_reason() is None
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert list(GoogleGenAIInstrumentor.requires) == extras["google-genai"]
    assert json.dumps(extras["test"]).count("google-genai") == 1


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_stream_error_429.yaml")
def test_stream_refused_propagates_and_fails_the_span(gemini: Driver, traced: InMemoryExporter) -> None:
    with pytest.raises(errors.ClientError) as raised:
        gemini.stream(model=FLASH, contents="Count to three.")
    assert raised.value.code == 429
    [span] = traced.spans
    assert (span.status, span.stream, span.output) == ("error", True, None)
    assert span.error["type"] == "google.genai.errors.ClientError"
    assert "RESOURCE_EXHAUSTED" in span.error["message"]


@pytest.mark.vcr
@pytest.mark.default_cassette("vertex_generate.yaml")
def test_vertex_ai_client(traced: InMemoryExporter) -> None:
    with genai.Client(vertexai=True) as client:
        assert client.models.generate_content(model=FLASH, contents=QUESTION).text == "Paris"
    [span] = traced.spans
    assert (span.provider, span.response_model) == ("vertex", FLASH)
    assert span.usage == Usage(input=18, output=40, total=58, reasoning=39)
    assert span.cost_usd == pytest.approx(_price(FLASH, input_tokens=18, output_tokens=40))
    assert span_attributes(span)["gen_ai.provider.name"] == "gcp.vertex_ai"


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_basic.yaml")
def test_chat_send_message_is_traced(traced: InMemoryExporter) -> None:
    with genai.Client() as client:
        chat = client.chats.create(model=FLASH, config=BASIC["config"])
        assert chat.send_message(QUESTION).text == "Paris"
    [span] = traced.spans
    assert span.input["messages"] == [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]


@pytest.mark.vcr
@pytest.mark.default_cassette("generate_tools.yaml")
def test_exporters_read_the_span(traced: InMemoryExporter) -> None:
    with genai.Client() as client:
        client.models.generate_content(
            model=FLASH,
            contents=ASK_WEATHER,
            config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])]),
        )
    [span] = traced.spans
    attributes = span_attributes(span)
    assert attributes["gen_ai.provider.name"] == "gcp.gemini" and attributes["llm.provider"] == "google"
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 48
    assert attributes["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == "get_weather"
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": ASK_WEATHER}]}
    ]
    record, reason = sft_record(json.loads(json.dumps(span.to_dict())))
    assert reason is None and record["tools"][0]["function"]["name"] == "get_weather"
    assert record["messages"][-1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }


def test_readers_of_shapes_the_cassettes_do_not_hold(exporter: InMemoryExporter) -> None:
    vertex = types.EmbedContentResponse(
        embeddings=[
            types.ContentEmbedding(
                values=[0.1, 0.2], statistics=types.ContentEmbeddingStatistics(token_count=3)
            ),
            types.ContentEmbedding(
                values=[0.3, 0.4], statistics=types.ContentEmbeddingStatistics(token_count=4)
            ),
        ]
    )
    with st.span("embeddings", kind="embedding") as span:
        _response.record_embeddings(span, vertex, True)  # Vertex AI counts tokens per embedding
    assert span.usage == Usage(input=7, output=0, total=7) and span.output == {"count": 2, "dimensions": 2}
    blocked = types.GenerateContentResponse(
        prompt_feedback=types.GenerateContentResponsePromptFeedback(block_reason=types.BlockedReason.SAFETY),
        usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=9, total_token_count=9),
    )
    with st.span("chat", kind="llm") as span:
        _response.record_response(span, blocked, True)
    assert (span.finish_reason, span.usage, span.output) == ("SAFETY", Usage(input=9, total=9), None)
    mixed = [
        "Describe",
        types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG")),
        "briefly",
    ]
    assert _request.messages(mixed) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"inline_data": {"mime_type": "image/png", "data": "iVBORw=="}},
                {"type": "text", "text": "briefly"},
            ],
        }
    ]


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-flash-preview"])
def test_gemini_prices_take_the_fast_path(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Gemini prices carry audio (and image, video) rates for per-modality counts we do not
    # record: below a tier, no call reaches calc_price (~1M instructions, on the pipeline thread).
    usage = Usage(input=5000, output=300, cache_read=1000, reasoning=120)
    expected = _price(model, input_tokens=5000, output_tokens=300, cache_read_tokens=1000)

    def slow_path(*args: object) -> float:
        raise AssertionError("calc_price was used")

    monkeypatch.setattr("staso_integrations.pricing._calc_price", slow_path)
    assert cost_for("google", model, usage) == pytest.approx(expected, rel=1e-12)
