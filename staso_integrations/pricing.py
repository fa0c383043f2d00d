"""Cost from the maintained ``genai-prices`` library, with its bundled price data only.

Called from the pipeline's background thread, never the caller's. ``genai-prices`` is
imported on first use (it costs ~0.4 s) and never asked to fetch price updates.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from ._core.span import Usage

logger = logging.getLogger(__name__)

# Our provider names -> genai-prices provider ids.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "vertex": "google",
    "google": "google",
    "groq": "groq",
    "mistral": "mistral",
}


def cost_for(provider: str | None, model: str | None, usage: Usage | None) -> float | None:
    """USD cost of one call, each token bucket priced separately; ``None`` if unknown."""
    if not model or usage is None or (usage.input is None and usage.output is None):
        return None
    try:
        calc = _calc_price()
        price_usage = _price_usage(usage)
        provider_id = _PROVIDER_IDS.get(provider or "")
        try:
            result = calc(price_usage, model, provider_id=provider_id)
        except LookupError:
            if provider_id is None:
                return None
            result = calc(price_usage, model)  # e.g. an OpenAI model served by Azure
        return float(result.total_price)
    except LookupError:
        return None
    except Exception:
        logger.debug("pricing failed for %s/%s", provider, model, exc_info=True)
        return None


@functools.cache
def _calc_price() -> Any:
    from genai_prices import calc_price

    return calc_price


def _price_usage(usage: Usage) -> Any:
    from genai_prices import Usage as PriceUsage

    values = {
        "input_tokens": usage.input or 0,
        "output_tokens": usage.output or 0,
    }
    if usage.cache_read:
        values["cache_read_tokens"] = usage.cache_read
    if usage.cache_write:
        values["cache_write_tokens"] = usage.cache_write
    return PriceUsage(**values)
