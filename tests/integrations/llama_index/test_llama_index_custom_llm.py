"""A LlamaIndex LLM class that calls a provider SDK inside its own public method (as
``llama-index-llms-anthropic`` does, and as users' ``CustomLLM`` wrappers do): the provider
hook fills LlamaIndex's llm span, so one model call is one llm span with the SDK's usage."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from llama_index.core.llms import CompletionResponse, CompletionResponseGen, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

from staso_integrations._core.span import Usage
from staso_integrations.exporters import InMemoryExporter

HAIKU = "claude-haiku-4-5"
PROMPT = "Say hello in French, one word."


class TerseClaude(CustomLLM):
    """Claude through the Anthropic SDK, called inside LlamaIndex's span of ``complete``."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=HAIKU, is_chat_model=False)

    def _request(self, prompt: str) -> dict[str, Any]:
        return {"model": HAIKU, "max_tokens": 256, "system": "You are terse.",
                "messages": [{"role": "user", "content": prompt}]}  # fmt: skip

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        with anthropic.Anthropic(api_key="sk-ant-test-key", max_retries=0) as client:
            message = client.messages.create(**self._request(prompt))
        return CompletionResponse(text=message.content[0].text, raw=message)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        async with anthropic.AsyncAnthropic(api_key="sk-ant-test-key", max_retries=0) as client:
            message = await client.messages.create(**self._request(prompt))
        return CompletionResponse(text=message.content[0].text, raw=message)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError


@pytest.mark.vcr
@pytest.mark.default_cassette("custom_llm_anthropic.yaml")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_llm_span_with_the_sdk_usage(mode: str, traced: InMemoryExporter) -> None:
    llm = TerseClaude()
    response = llm.complete(PROMPT) if mode == "sync" else asyncio.run(llm.acomplete(PROMPT))

    assert response.text == "Bonjour !"
    (span,) = [s for s in traced.spans if s.kind == "llm"]
    assert span.name == "TerseClaude.complete" if mode == "sync" else "TerseClaude.acomplete"
    assert (span.provider, span.response_model) == ("anthropic", "claude-haiku-4-5-20251001")
    assert span.usage == Usage(input=21, output=6, cache_read=0, cache_write=0)
    assert span.cost_usd is not None and span.cost_usd > 0
    assert span.metadata["response_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
