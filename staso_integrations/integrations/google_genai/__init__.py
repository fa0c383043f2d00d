"""Google Gemini through ``google-genai``: one span per model request, sync and async.

Where we hook, and why: ``Models._generate_content`` / ``_generate_content_stream`` (and their
``AsyncModels`` twins), the methods that send exactly one request each, plus ``embed_content``.

- ``generate_content`` and ``generate_content_stream`` may send several requests for one call:
  automatic function calling runs the user's Python functions between model calls, and
  automatic continuation follows ``continuation_token`` hops. Each request is billed on its
  own usage and may propose function calls the guard should see, so each is its own span;
  the public method only hands back the last response's usage.
- ``chats.send_message(_stream)`` goes through ``models.generate_content``, so it is covered.
- The request hook (``BaseApiClient.request``) sees the REST body and raw JSON answer; here we
  read the SDK's typed objects without parsing the body again.
- ``embed_content`` sends one request (``batchEmbedContents`` on the Gemini API,
  ``embedContent``/``predict`` on Vertex AI).

The SDK's async methods are ``async def``; ``AsyncModels._generate_content_stream`` awaits the
response headers and returns an async generator, so errors of the request raise at the await.
Provider: ``google`` for the Gemini API, ``vertex`` for a client made with ``vertexai=True``
(the names the price data and the Anthropic-on-Vertex spans already use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from .._base import Instrumentor
from .._patching import Patch
from ._wrappers import (
    async_wrap_embed,
    async_wrap_generate,
    async_wrap_generate_stream,
    wrap_embed,
    wrap_generate,
    wrap_generate_stream,
)

__all__ = ["GoogleGenAIInstrumentor"]

_MODELS = "google.genai.models"


class GoogleGenAIInstrumentor(Instrumentor):
    """Traces every Gemini model request of ``google-genai`` clients (Gemini API and Vertex AI)."""

    name: ClassVar[str] = "google_genai"
    module: ClassVar[str] = "google.genai"
    requires: ClassVar[tuple[str, ...]] = ("google-genai>=2.0,<4",)

    def _patches(self) -> Sequence[Patch]:
        return [
            Patch(_MODELS, "Models._generate_content", wrap_generate),
            Patch(_MODELS, "Models._generate_content_stream", wrap_generate_stream),
            Patch(_MODELS, "Models.embed_content", wrap_embed),
            Patch(_MODELS, "AsyncModels._generate_content", async_wrap_generate),
            Patch(_MODELS, "AsyncModels._generate_content_stream", async_wrap_generate_stream),
            Patch(_MODELS, "AsyncModels.embed_content", async_wrap_embed),
        ]
