"""OpenAI integration: one ``llm``/``embedding`` span per model call of the ``openai`` SDK.

Where we hook, and why: ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` (the
request-level hook), plus ``close()`` of the two streaming helpers.

- Every model call passes through ``request()`` exactly once, retries included (the retry loop
  is inside it): ``chat.completions.create/parse/stream``, ``responses.create/parse/stream``,
  ``embeddings.create``, legacy ``completions.create``. ``parse()`` does not go through
  ``create()`` (``openai/lib/_chat_completion_resources.py`` calls ``resource._post``), so
  resource-method hooks would need one patch per method and per sync/async class (16+),
  and still miss a ``with_raw_response`` wrapper built before we patched (it binds
  ``completions.create`` once, in a ``cached_property``).
- ``OpenAI``, ``AsyncOpenAI``, ``AzureOpenAI`` and ``AsyncAzureOpenAI`` share these two base
  classes; Azure rewrites the URL later (``_build_request``), so the route we read,
  ``options.url``, is the same for both.
- The body we read (``options.json_data``) is what the SDK sends: the user's one-shot
  iterators are already lists, a pydantic ``response_format`` already a JSON schema.
- ``with_raw_response`` (``X-Stainless-Raw-Response: true``) and ``with_streaming_response``
  (``: stream``) go through the same point; we give back their SDK object untouched.
- Cost: one dict lookup on the path decides; any other request (files, retrieve, list) passes
  straight through.

The SDK's async methods are plain functions returning coroutines
(``inspect.iscoroutinefunction`` is False for them), so the async wrapper is its own
``async def``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from .._base import Instrumentor
from .._patching import Patch
from ._wrappers import async_wrap_helper_close, async_wrap_request, wrap_helper_close, wrap_request

__all__ = ["OpenAIInstrumentor"]

_CHAT_STREAM = "openai.lib.streaming.chat._completions"
_RESPONSE_STREAM = "openai.lib.streaming.responses._responses"


class OpenAIInstrumentor(Instrumentor):
    """Traces every model call of ``openai`` 2.x and 3.x clients (OpenAI and Azure)."""

    name: ClassVar[str] = "openai"
    module: ClassVar[str] = "openai"
    requires: ClassVar[tuple[str, ...]] = ("openai>=2.0,<4",)

    def _patches(self) -> Sequence[Patch]:
        return [
            Patch("openai._base_client", "SyncAPIClient.request", wrap_request),
            Patch("openai._base_client", "AsyncAPIClient.request", async_wrap_request),
            Patch(
                _CHAT_STREAM, "ChatCompletionStream.close", wrap_helper_close, optional=True, on_import=True
            ),
            Patch(
                _CHAT_STREAM,
                "AsyncChatCompletionStream.close",
                async_wrap_helper_close,
                optional=True,
                on_import=True,
            ),
            Patch(_RESPONSE_STREAM, "ResponseStream.close", wrap_helper_close, optional=True, on_import=True),
            Patch(
                _RESPONSE_STREAM,
                "AsyncResponseStream.close",
                async_wrap_helper_close,
                optional=True,
                on_import=True,
            ),
        ]
