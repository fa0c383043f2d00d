"""OpenAI-compatible providers through the OpenAI SDK: provider from the base URL, their own prices.

Cassettes ``compat_*.yaml`` are each provider's public chat-completions format at its real
endpoint. To re-record one live: delete it, set ``GROQ_API_KEY``/``DEEPSEEK_API_KEY``/
``OPENROUTER_API_KEY`` (or run Ollama with ``llama3.2`` pulled) and run this module with
``--record-mode=once``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from staso_integrations._core.span import Span, Usage
from staso_integrations._price_lists import priced_by_time_of_day
from staso_integrations.exporters._otel_attributes import span_attributes
from staso_integrations.integrations.openai import _providers
from staso_integrations.integrations.openai._providers import endpoint_of
from staso_integrations.pricing import cost_for
from tests.integrations.openai.conftest import Api

HELLO = [{"role": "user", "content": "Say hello in five words."}]
ANSWER = "Hello there, nice to meet!"
STREAM = {"stream": True, "stream_options": {"include_usage": True}}
GROQ = ("https://api.groq.com/openai/v1", "GROQ_API_KEY")
DEEPSEEK = ("https://api.deepseek.com", "DEEPSEEK_API_KEY")
OPENROUTER = ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY")
OLLAMA = ("http://localhost:11434/v1", "OLLAMA_API_KEY")


def _clients(endpoint: tuple[str, str]) -> Callable[[bool], Any]:
    base_url, key = endpoint

    def make(asynchronous: bool) -> Any:
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(api_key=os.environ.get(key, "test-key"), base_url=base_url, max_retries=0)

    return make


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest, instrumented: Any) -> str:
    return str(request.param)


def _genai_prices_cost(provider_id: str, model: str, usage: Usage) -> float:
    """What genai-prices itself says the call costs at that provider."""
    counts = {"input_tokens": usage.input or 0, "output_tokens": usage.output or 0}
    if usage.cache_read:
        counts["cache_read_tokens"] = usage.cache_read
    return float(calc_price(PriceUsage(**counts), model, provider_id=provider_id).total_price)


def _streamed(mode: str, endpoint: tuple[str, str], model: str, exporter: Any) -> Span:
    """Stream one chat call to the end; the user gets every word, we get one span."""
    chunks = Api(mode, _clients(endpoint)).stream(
        "chat.completions.create", model=model, messages=HELLO, **STREAM
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == ANSWER
    (span,) = exporter.spans
    assert (span.stream, span.response_model) == (True, model)
    return span


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_groq_chat.yaml")
def test_groq(mode: str, instrumented: Any) -> None:
    result = Api(mode, _clients(GROQ)).call(
        "chat.completions.create", model="llama-3.3-70b-versatile", messages=HELLO
    )

    assert result.choices[0].message.content == ANSWER
    assert result.x_groq["id"] == "req_01kbx7d3qsf2m9r4t6v8w0y2a4"  # untouched
    (span,) = instrumented.spans
    assert (span.provider, span.request_model, span.response_model) == (
        "groq",
        "llama-3.3-70b-versatile",
        "llama-3.3-70b-versatile",
    )
    assert span.usage == Usage(input=45, output=8, total=53)  # queue_time & co. are not tokens
    assert span.cost_usd == pytest.approx(_genai_prices_cost("groq", "llama-3.3-70b-versatile", span.usage))
    assert "server" not in span.metadata
    attributes = span_attributes(span)
    assert attributes["gen_ai.provider.name"] == "groq" and attributes["llm.provider"] == "groq"


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_groq_stream.yaml")
def test_groq_stream_usage_on_the_finish_chunk(mode: str, instrumented: Any) -> None:
    span = _streamed(mode, GROQ, "llama-3.3-70b-versatile", instrumented)

    assert (span.provider, span.finish_reason) == ("groq", "stop")
    assert span.usage == Usage(input=45, output=8, total=53)
    assert span.cost_usd == pytest.approx(_genai_prices_cost("groq", "llama-3.3-70b-versatile", span.usage))
    assert span.ttft_ms is not None


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_deepseek_chat.yaml")
def test_deepseek_cache_hits(mode: str, instrumented: Any) -> None:
    Api(mode, _clients(DEEPSEEK)).call("chat.completions.create", model="deepseek-chat", messages=HELLO)

    (span,) = instrumented.spans
    assert (span.provider, span.response_model) == ("deepseek", "deepseek-chat")
    # prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens
    assert span.usage == Usage(input=1240, output=9, total=1249, cache_read=1152)
    # DeepSeek prices by the time of day: genai-prices prices the call at the time it runs.
    assert span.cost_usd == pytest.approx(_genai_prices_cost("deepseek", "deepseek-chat", span.usage))


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_deepseek_stream.yaml")
def test_deepseek_reasoner_stream_with_its_own_cache_counts(mode: str, instrumented: Any) -> None:
    span = _streamed(mode, DEEPSEEK, "deepseek-reasoner", instrumented)

    assert span.provider == "deepseek"
    # Documented usage shape: no prompt_tokens_details, the cache hits in prompt_cache_hit_tokens.
    assert span.usage == Usage(input=1100, output=96, total=1196, cache_read=1024, reasoning=88)
    assert span.cost_usd == pytest.approx(_genai_prices_cost("deepseek", "deepseek-reasoner", span.usage))
    assert span.output == {"role": "assistant", "content": ANSWER}


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_openrouter_chat.yaml")
def test_openrouter(mode: str, instrumented: Any) -> None:
    result = Api(mode, _clients(OPENROUTER)).call(
        "chat.completions.create", model="openai/gpt-4o-mini", messages=HELLO
    )

    assert result.provider == "OpenAI" and result.usage.cost == 0.0001146  # the SDK object as sent
    (span,) = instrumented.spans
    assert (span.provider, span.response_model) == ("openrouter", "openai/gpt-4o-mini")
    assert span.usage == Usage(input=1240, output=9, total=1249, cache_read=1024, reasoning=0)
    expected = _genai_prices_cost("openrouter", "openai/gpt-4o-mini", span.usage)
    assert span.cost_usd == pytest.approx(expected)
    assert expected == pytest.approx(result.usage.cost)  # genai-prices agrees with OpenRouter's bill


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_openrouter_stream.yaml")
def test_openrouter_stream(mode: str, instrumented: Any) -> None:
    model = "meta-llama/llama-3.3-70b-instruct"
    span = _streamed(mode, OPENROUTER, model, instrumented)

    assert (span.provider, span.finish_reason) == ("openrouter", "stop")
    assert span.usage == Usage(input=45, output=8, total=53, cache_read=0, reasoning=0)
    assert span.cost_usd == pytest.approx(_genai_prices_cost("openrouter", model, span.usage))


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_ollama_chat.yaml")
def test_ollama_is_self_hosted_with_tokens_and_no_cost(mode: str, instrumented: Any) -> None:
    Api(mode, _clients(OLLAMA)).call("chat.completions.create", model="llama3.2", messages=HELLO)

    (span,) = instrumented.spans
    assert (span.provider, span.response_model, span.metadata["server"]) == (
        "self-hosted",
        "llama3.2",
        "ollama",
    )
    assert span.usage == Usage(input=33, output=8, total=41)
    assert span.cost_usd is None


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_ollama_stream.yaml")
def test_ollama_stream(mode: str, instrumented: Any) -> None:
    span = _streamed(mode, OLLAMA, "llama3.2", instrumented)

    assert (span.provider, span.metadata["server"]) == ("self-hosted", "ollama")
    assert span.usage == Usage(input=33, output=8, total=41)
    assert span.cost_usd is None


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.openai.com/v1", ("openai", None)),
        ("https://api.groq.com/openai/v1", ("groq", None)),
        ("https://api.deepseek.com", ("deepseek", None)),
        ("https://api.together.xyz/v1", ("together", None)),
        ("https://openrouter.ai/api/v1", ("openrouter", None)),
        ("https://api.mistral.ai/v1", ("mistral_ai", None)),
        ("https://api.x.ai/v1", ("x_ai", None)),
        ("https://api.fireworks.ai/inference/v1", ("fireworks", None)),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", ("google", None)),
        ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/endpoints/openapi",
         ("vertex", None)),
        ("https://my-resource.openai.azure.com/openai/v1/", ("azure", None)),
        ("http://localhost:11434/v1", ("self-hosted", "ollama")),
        ("http://127.0.0.1:1234/v1", ("self-hosted", "lmstudio")),
        ("http://[::1]:8000/v1", ("self-hosted", "vllm")),
        ("http://192.168.1.20:8080/v1", ("self-hosted", "llama.cpp")),
        ("http://vllm:9000/v1", ("self-hosted", None)),  # a container's name
        ("http://gpu-box.local:11434/v1", ("self-hosted", "ollama")),
        ("http://host.docker.internal:1234/v1", ("self-hosted", "lmstudio")),
        ("https://LLM.Example.COM/v1", ("llm.example.com", None)),  # unknown host: its own name
        ("https://8.8.8.8/v1", ("8.8.8.8", None)),
    ],
)  # fmt: skip
def test_provider_from_base_url(base_url: str, expected: tuple[str, str | None]) -> None:
    assert endpoint_of(_Client(base_url)) == expected


class _Client:
    """What ``endpoint_of`` reads of an SDK client (a real one takes ~0.1 s to build)."""

    def __init__(self, base_url: str) -> None:
        self._base_url = httpx2.URL(base_url)


def test_azure_clients_are_azure_whatever_their_host() -> None:
    client = openai.AzureOpenAI(
        api_key="k", azure_endpoint="https://gateway.example.com", api_version="2024-10-21"
    )
    assert endpoint_of(client) == ("azure", None)


def test_read_once_per_client_and_again_after_base_url_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Any] = []
    read = _providers._from_url
    monkeypatch.setattr(_providers, "_from_url", lambda url: reads.append(url) or read(url))
    client = openai.OpenAI(api_key="k", base_url="https://api.groq.com/openai/v1")

    assert endpoint_of(client) == endpoint_of(client) == ("groq", None)
    assert len(reads) == 1
    client.base_url = "http://localhost:11434/v1"  # type: ignore[assignment]
    assert endpoint_of(client) == ("self-hosted", "ollama") and len(reads) == 2


def test_cache_is_bounded() -> None:
    for port in range(9000, 9000 + 2 * _providers._CACHE_LIMIT):
        endpoint_of(_Client(f"http://localhost:{port}/v1"))
    assert len(_providers._endpoints) <= _providers._CACHE_LIMIT


def test_a_model_the_provider_does_not_list_is_never_priced_as_openai() -> None:
    usage = Usage(input=1000, output=100)
    assert cost_for("openai", "gpt-4o-mini", usage) is not None
    assert cost_for("groq", "gpt-4o-mini", usage) is None  # Groq does not list it
    assert cost_for("self-hosted", "gpt-4o-mini", usage) is None
    assert cost_for("llm.example.com", "gpt-4o-mini", usage) is None
    assert cost_for("my-openai-gateway.example.com", "gpt-4o-mini", usage) is None


@pytest.mark.parametrize(
    ("provider", "price_id", "model"),
    [
        ("mistral_ai", "mistral", "mistral-small-latest"),
        ("x_ai", "x-ai", "grok-3-mini"),
        ("google", "google", "gemini-2.5-flash"),
        ("together", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("fireworks", "fireworks", "accounts/fireworks/models/deepseek-v3-0324"),
    ],
)
def test_each_provider_takes_its_own_price_list(provider: str, price_id: str, model: str) -> None:
    usage = Usage(input=5000, output=300, cache_read=1000)
    assert cost_for(provider, model, usage) == pytest.approx(_genai_prices_cost(price_id, model, usage))


@pytest.mark.parametrize(
    ("provider", "openinference", "otel"),
    [
        ("mistral_ai", "mistralai", "mistral_ai"),
        ("x_ai", "xai", "x_ai"),
        ("google", "google", "gcp.gemini"),
        ("vertex", "google", "gcp.vertex_ai"),
        ("bedrock", "aws", "aws.bedrock"),
        ("azure", "azure", "azure.ai.openai"),
        ("self-hosted", "self-hosted", "self-hosted"),
    ],
)
def test_exporters_name_the_provider_in_each_convention(
    provider: str, openinference: str, otel: str, exporter: Any
) -> None:
    import staso_integrations as st

    with st.span("chat", kind="llm") as span:
        span.provider = provider
    attributes = span_attributes(exporter.spans[0])
    assert (attributes["llm.provider"], attributes["gen_ai.provider.name"]) == (openinference, otel)


@pytest.mark.vcr
@pytest.mark.default_cassette("compat_groq_chat.yaml")
def test_a_bug_reading_the_base_url_leaves_the_call_untouched(
    mode: str, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")  # as users run

    def broken(url: Any) -> Any:
        raise RuntimeError("bug in our base URL reading")

    monkeypatch.setattr(_providers, "_from_url", broken)
    monkeypatch.setattr(_providers, "_endpoints", {})
    result = Api(mode, _clients(GROQ)).call(
        "chat.completions.create", model="llama-3.3-70b-versatile", messages=HELLO
    )

    assert result.choices[0].message.content == ANSWER
    assert instrumented.spans == []


def test_prices_that_change_within_a_day_are_not_taken_once_per_day() -> None:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    _, deepseek = snapshot.find_provider_model("deepseek-chat", None, "deepseek", None)
    _, gpt = snapshot.find_provider_model("gpt-4o-mini", None, "openai", None)
    assert priced_by_time_of_day(deepseek) and not priced_by_time_of_day(gpt)
