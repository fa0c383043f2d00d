"""Raw responses whose body the user reads: ``with_streaming_response`` and raw streams.

The span is filled from the bytes the user reads, and we read none they do not."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from staso_integrations._core.span import Usage

HELLO = [{"role": "user", "content": "Say hello in five words."}]
CHAT = {"model": "gpt-4o-mini", "messages": HELLO}
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


def _streaming(api: Any, read: str, **kwargs: Any) -> Any:
    """``with with_streaming_response.create(...) as response``, reading the body as ``read`` says."""

    def sync(client: Any) -> Any:
        with client.chat.completions.with_streaming_response.create(**kwargs) as response:
            assert not response.http_response.is_stream_consumed  # we left the body alone
            if read == "parse":
                return response.parse()
            if read == "lines":
                return [line for line in response.iter_lines() if line]
            return None

    async def coro(client: Any) -> Any:
        async with client.chat.completions.with_streaming_response.create(**kwargs) as response:
            assert not response.http_response.is_stream_consumed
            if read == "parse":
                return await response.parse()
            if read == "lines":
                return [line async for line in response.iter_lines() if line]
            return None

    return api._run(sync, coro)


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_streaming_response_parsed_by_the_user_is_recorded(api: Any, instrumented: Any) -> None:
    completion = _streaming(api, "parse", temperature=0.2, **CHAT)

    assert completion.usage.total_tokens == 1249
    (span,) = instrumented.spans
    assert span.metadata["raw_response"] == "stream" and span.status == "ok"
    assert span.usage == Usage(input=1240, output=9, total=1249, cache_read=1024, reasoning=0)
    assert span.response_model == "gpt-4o-mini-2024-07-18" and span.cost_usd is not None
    assert span.output == {"role": "assistant", "content": "Hello there, nice to meet!"}


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_create.yaml")
def test_streaming_response_never_read_records_nothing_and_ends(api: Any, instrumented: Any) -> None:
    assert _streaming(api, "nothing", temperature=0.2, **CHAT) is None

    (span,) = instrumented.spans
    assert span.status == "ok" and span.end_ns is not None
    assert span.usage is None and span.output is None and span.response_model is None


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_streamed_lines_the_user_reads_are_recorded(api: Any, instrumented: Any) -> None:
    lines = _streaming(api, "lines", **CHAT, **STREAM)

    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    (span,) = instrumented.spans
    assert span.stream is True and span.ttft_ms is not None
    assert span.output == {"role": "assistant", "content": text}
    assert span.usage is not None and span.usage.total == chunks[-1]["usage"]["total_tokens"]
    assert span.response_model == chunks[0]["model"] and span.finish_reason == "stop"


@pytest.mark.vcr
@pytest.mark.default_cassette("chat_stream_usage.yaml")
def test_raw_stream_parsed_and_iterated_is_recorded(api: Any, instrumented: Any) -> None:
    def sync(client: Any) -> list[Any]:
        raw = client.chat.completions.with_raw_response.create(**CHAT, **STREAM)
        assert type(raw) is openai._legacy_response.LegacyAPIResponse
        return list(raw.parse())

    async def coro(client: Any) -> list[Any]:
        raw = await client.chat.completions.with_raw_response.create(**CHAT, **STREAM)
        return [chunk async for chunk in raw.parse()]

    chunks = api._run(sync, coro)

    (span,) = instrumented.spans
    assert span.metadata["raw_response"] == "true" and span.stream is True
    assert span.output["content"] == "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert span.usage is not None and span.usage.total == chunks[-1].usage.total_tokens
    assert span.ttft_ms is not None and span.end_ns is not None
