"""Whose price list prices a call: for providers reached at their own URL, only their own.

``pricing.cost_for`` keeps its table for the providers it always knew (``openai``, ``azure``,
``anthropic``, ``bedrock``, ``vertex``, ``google``); any other named provider comes here. Groq,
DeepSeek, OpenRouter and the rest (the OpenAI SDK pointed at their base URL, or a framework
naming them) are priced by their own list in ``genai-prices`` or not at all: a model missing
from it must not take OpenAI's price for a model of the same name. A ``self-hosted`` server and
a host we do not know (its name is the provider) have tokens and no cost.
"""

from __future__ import annotations

import functools
from typing import Any

SELF_HOSTED = "self-hosted"  # a model server on this machine or a private network

# Our provider ids whose genai-prices id differs (ours are OTel's ``gen_ai.provider.name``).
_PRICE_IDS = {"mistral_ai": "mistral", "x_ai": "x-ai"}


@functools.lru_cache(maxsize=1024)
def own_price_list(provider: str, model: str) -> str | None:
    """The genai-prices provider id that prices ``model`` as served by ``provider``; ``None``
    when that provider has no price for it (self-hosted, an unknown host, a model its list lacks).
    """
    price_id = _PRICE_IDS.get(provider)
    if price_id is None:
        if provider == SELF_HOSTED or "." in provider or ":" in provider:
            return None  # a host name: genai-prices would match "my-openai-proxy.example" to OpenAI
        price_id = provider  # genai-prices matches its ids and aliases ("mistralai", "xai"...)
    from genai_prices import data_snapshot

    try:
        found, _ = data_snapshot.get_snapshot().find_provider_model(model, None, price_id, None)
    except LookupError:
        return None
    return found.id


def priced_by_time_of_day(model_info: Any) -> bool:
    """Whether a model's price depends on the hour (DeepSeek's off-peak rates): one price per
    day does not hold for it.
    """
    from genai_prices.types import ModelPrice, TimeOfDateConstraint

    prices = model_info.prices
    return not isinstance(prices, ModelPrice) and any(
        isinstance(price.constraint, TimeOfDateConstraint) for price in prices
    )
