"""Our fast path for flat-priced models gives exactly what ``genai_prices.calc_price`` gives."""

from __future__ import annotations

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

import staso_integrations as st
from staso_integrations._core.span import Span, Usage
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.pricing import _calc_price, cost_for

MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o-mini-2024-07-18"), ("openai", "gpt-4o"), ("openai", "o4-mini"),
    ("openai", "gpt-4.1"), ("openai", "text-embedding-3-small"), ("azure", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-opus-4-1"),
    ("anthropic", "claude-3-5-haiku-20241022"), ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"),
]  # fmt: skip
USAGES = [
    Usage(input=1240, output=9, cache_read=1024), Usage(input=100, output=20),
    Usage(input=5000, output=300, cache_read=1000, cache_write=2000), Usage(input=250_000, output=1000),
    Usage(input=48, output=0), Usage(input=200_000, output=10), Usage(input=200_001, output=10, cache_read=100_000),
]  # fmt: skip


@pytest.mark.parametrize(("provider", "model"), MODELS)
def test_fast_path_equals_calc_price(provider: str, model: str) -> None:
    for usage in USAGES:
        assert cost_for(provider, model, usage) == pytest.approx(
            _calc_price(_id(provider), model, usage), rel=1e-12
        )


def _id(provider: str) -> str | None:
    return {"bedrock": "aws", "google": "google"}.get(provider, provider)


def test_known_figure_from_genai_prices() -> None:
    # gpt-4o-mini: 216 uncached x $0.15/M + 1024 cached x $0.075/M + 9 x $0.60/M
    expected = float(calc_price(PriceUsage(input_tokens=1240, output_tokens=9, cache_read_tokens=1024), "gpt-4o-mini",
                                provider_id="openai").total_price)  # fmt: skip
    assert cost_for("openai", "gpt-4o-mini", Usage(input=1240, output=9, cache_read=1024)) == pytest.approx(
        expected
    )


def test_unknown_model_or_missing_usage_is_none() -> None:
    assert cost_for("openai", "my-finetune-xyz", Usage(input=10, output=5)) is None
    assert cost_for("openai", "gpt-4o-mini", None) is None
    assert cost_for("openai", None, Usage(input=10, output=5)) is None


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"])
def test_current_claude_models_take_the_fast_path_below_their_tier(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claude 4.x prices carry a 1-hour cache-write rate, Sonnet a 200k-token tier: below it,
    # no call reaches calc_price (~200 µs each, on the pipeline thread).
    def slow_path(*args: object) -> float:
        raise AssertionError("calc_price was used")

    monkeypatch.setattr("staso_integrations.pricing._calc_price", slow_path)
    assert cost_for("anthropic", model, Usage(input=5000, output=300, cache_read=1000, cache_write=2000))


def _priced(exporter: InMemoryExporter, request_model: str, response_model: str, usage: Usage) -> Span:
    with st.span("chat", kind="llm") as span:  # priced by the pipeline, as every llm span is
        span.provider, span.request_model, span.response_model, span.usage = (
            "openai",
            request_model,
            response_model,
            usage,
        )
    (exported,) = exporter.spans
    return exported


def test_a_response_model_unknown_to_the_price_data_is_priced_by_the_request_model(
    exporter: InMemoryExporter,
) -> None:
    span = _priced(
        exporter, "gpt-4o-mini", "acme-gateway-4o-mini-v7", Usage(input=1240, output=9, cache_read=1024)
    )
    assert span.cost_usd is not None and span.cost_usd == cost_for("openai", "gpt-4o-mini", span.usage)
    assert span.metadata["priced_as"] == "gpt-4o-mini"


def test_a_known_response_model_prices_the_call_and_says_nothing_more(exporter: InMemoryExporter) -> None:
    span = _priced(exporter, "gpt-4o", "gpt-4o-mini-2024-07-18", Usage(input=100, output=10))
    assert span.cost_usd == cost_for("openai", "gpt-4o-mini-2024-07-18", span.usage)
    assert "priced_as" not in span.metadata
