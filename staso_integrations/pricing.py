"""Cost from the maintained ``genai-prices`` library, with its bundled price data only.

Called from the pipeline's background thread, never the caller's. ``genai-prices`` is
imported on first use (it costs ~0.4 s) and never asked to fetch price updates.

``calc_price`` takes ~200 µs a call (it resolves units and tiers every time), and on a
2-core machine that time is taken from the application too (the GIL). Most models have one
price per token bucket, some with a higher tier above an input size (Claude Sonnet 4.x above
200k tokens): for those we read the model's ``ModelPrice`` once per day (``calc_price``
without a price context uses the same) and multiply; a call past a tier's threshold, and
any other price shape, and a call with server-side tool fees (web searches), goes through
``calc_price``. Both give the same figures (tests/pricing).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ._core.span import Span, Usage
from ._price_lists import own_price_list, priced_by_time_of_day

logger = logging.getLogger(__name__)

# Our provider names -> genai-prices provider ids (a model missing from that list may take
# another provider's price); any other named provider: ``_price_lists``.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "vertex": "google",
    "google": "google",
}
_FLAT_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
# Prices the flat path leaves out: a call with web searches goes through ``calc_price``;
# cache writes are one count, priced at the 5-minute rate as ``calc_price`` prices them
# when given no 1-hour count; per-modality rates (Gemini's audio, image, video) price
# per-modality counts, which ``Usage`` does not hold, so ``calc_price`` leaves them out too.
_UNUSED_KEYS = ("web_searches_kcount", "storage_searches_kcount", "cache_write_1h_mtok", "input_audio_mtok",
                "cache_audio_read_mtok", "output_audio_mtok", "input_image_mtok", "output_image_mtok",
                "input_video_mtok", "output_video_mtok")  # fmt: skip
WEB_SEARCHES = "web_searches"  # span metadata: server-side web searches the call ran (billed per search)
PRICED_AS = "priced_as"  # span metadata: the model the cost was priced by, when not the response's
_ZERO = Decimal(0)
_Rates = tuple[int, int, int, int, int]  # input, output, cache read, cache write: numerators; the denominator
_DAY_NS = 86_400 * 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def price_span(span: Span) -> None:
    """Set the cost of a model call: by its response model, else by its request model (a
    response model the price data does not know yet, e.g. a new dated snapshot; the span then
    says which model priced it), with server-side tool fees where the price data has them.
    """
    usage = span.usage
    if span.cost_usd is not None or usage is None:
        return
    searches = span.metadata.get(WEB_SEARCHES) or 0
    response_model, request_model = span.response_model, span.request_model
    cost = cost_for(span.provider, response_model, usage, searches) if response_model else None
    if cost is None and request_model and request_model != response_model:
        cost = cost_for(span.provider, request_model, usage, searches)
        if cost is not None and response_model:
            span.metadata[PRICED_AS] = request_model
    span.cost_usd = cost


def cost_for(
    provider: str | None, model: str | None, usage: Usage | None, web_searches: int = 0
) -> float | None:
    """USD cost of one call, each token bucket priced separately; ``None`` if unknown."""
    if not model or usage is None or (usage.input is None and usage.output is None):
        return None
    provider_id = _PROVIDER_IDS.get(provider or "")
    try:
        if provider_id is None and provider and (provider_id := own_price_list(provider, model)) is None:
            return None
        flat = _flat_rates(provider_id, model, time.time_ns() // _DAY_NS) if not web_searches else None
        if flat is not None:
            rates, tier_start = flat
            if tier_start is None or (usage.input or 0) <= tier_start:  # genai-prices' tier rule
                return _flat_cost(rates, usage)
        return _calc_price(provider_id, model, usage, web_searches)
    except LookupError:
        return None
    except Exception:
        logger.debug("pricing failed for %s/%s", provider, model, exc_info=True)
        return None


def _flat_cost(rates: _Rates, usage: Usage) -> float:
    """Exact: integer counts times integer rates over one denominator, then one correctly
    rounded division (the float of the exact sum, as ``float(Decimal)`` of an exact total is;
    Decimal arithmetic looks up its thread's context on every operation).
    """
    input_rate, output_rate, read_rate, write_rate, denominator = rates
    cache_read, cache_write = usage.cache_read or 0, usage.cache_write or 0
    total = ((usage.input or 0) - cache_read - cache_write) * input_rate + (usage.output or 0) * output_rate
    if cache_read:
        total += cache_read * read_rate
    if cache_write:
        total += cache_write * write_rate
    return total / denominator


def _integer_rates(rates: list[Decimal | None]) -> _Rates:
    """Per-MTok rates (input, output, cache read, cache write; a missing cache rate is the
    input rate, a missing input or output rate 0) as integers over one common denominator.
    """
    input_rate = rates[0] or _ZERO
    filled = [input_rate, rates[1] or _ZERO, *(input_rate if rate is None else rate for rate in rates[2:])]
    ratios = [rate.as_integer_ratio() for rate in filled]
    common = math.lcm(*(q for _, q in ratios))
    numerators = [p * (common // q) for p, q in ratios]
    return numerators[0], numerators[1], numerators[2], numerators[3], common * 1_000_000


@functools.lru_cache(maxsize=512)
def _flat_rates(provider_id: str | None, model: str, day: int) -> tuple[_Rates, int | None] | None:
    """Base per-MTok rates of a model priced per token bucket (as of ``day``, in days since
    1970-01-01 UTC), and the input size above which a tier applies instead (``None``: no
    tiers); ``None`` for other shapes.
    """
    from genai_prices import data_snapshot
    from genai_prices.types import TieredPrices

    snapshot = data_snapshot.get_snapshot()
    try:
        _, info = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        if provider_id is None:
            raise
        _, info = snapshot.find_provider_model(model, None, None, None)  # e.g. OpenAI's model on Azure
    if priced_by_time_of_day(info):
        return None
    prices = info.get_prices(_EPOCH + timedelta(days=day))
    values = {
        key: value for key, value in vars(prices).items() if value is not None and not key.startswith("_")
    }
    if set(values) - set(_FLAT_KEYS) - set(_UNUSED_KEYS):
        return None
    rates: list[Decimal | None] = []
    tier_start: int | None = None
    for key in _FLAT_KEYS:
        rate = values.get(key)
        if isinstance(rate, TieredPrices):
            if rate.tiers:
                start = min(tier.start for tier in rate.tiers)
                tier_start = start if tier_start is None else min(tier_start, start)
            rate = rate.base
        if rate is not None and not isinstance(rate, Decimal):
            return None
        rates.append(rate)
    return _integer_rates(rates), tier_start


def _calc_price(provider_id: str | None, model: str, usage: Usage, web_searches: int = 0) -> float:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    values = {"input_tokens": usage.input or 0, "output_tokens": usage.output or 0}
    if usage.cache_read:
        values["cache_read_tokens"] = usage.cache_read
    if usage.cache_write:
        values["cache_write_tokens"] = usage.cache_write
    if web_searches:
        values[WEB_SEARCHES] = web_searches
    price_usage: Any = PriceUsage(**values)
    try:
        result = calc_price(price_usage, model, provider_id=provider_id)
    except LookupError:
        if provider_id is None:
            raise
        result = calc_price(price_usage, model)
    return float(result.total_price)
