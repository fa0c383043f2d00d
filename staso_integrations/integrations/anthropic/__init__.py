"""Anthropic: ``messages.create`` / ``parse`` / ``stream`` / ``count_tokens``, sync and async.

Patch targets are the resource methods, not ``BaseClient.request``: ``messages.stream()``
bypasses ``create`` and must be traced at the manager anyway, the request hook sees only an
untyped JSON body and a cast type, and a per-method table lists exactly what is traced. The
same ``Messages`` classes serve ``Anthropic``, ``AnthropicBedrock``, ``AnthropicVertex`` and
``AnthropicFoundry`` (provider read from the client), and ``with_raw_response`` binds the
patched methods when it is first accessed. The Bedrock and Vertex beta ``Messages`` classes
copy ``create``/``parse``/``stream`` from the first-party beta class at import
(``anthropic/lib/bedrock/_beta_messages.py``), so they get their own patches.

A method the user bound before ``instrument_all()`` (``create = client.messages.create``, a
``with_raw_response`` wrapper, a ``messages.stream()`` manager) holds the original function, so
the resource hooks never see its calls. They still pass through ``SyncAPIClient.request`` /
``AsyncAPIClient.request`` (the generated client base that OpenAI's hook uses too), looked up on
the class at each call: a second hook there traces a messages request that no resource hook
claimed, from the arguments the SDK carries in ``options.json_data``. Inside a traced call it
costs one context-variable read.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._base import Instrumentor
from .._patching import Patch
from ._wrappers import (
    async_wrap_client_request,
    async_wrap_count_tokens,
    async_wrap_messages_create,
    async_wrap_messages_stream,
    skip_sdk_span,
    wrap_client_request,
    wrap_count_tokens,
    wrap_messages_create,
    wrap_messages_stream,
)

__all__ = ["AnthropicInstrumentor"]

_FIRST_PARTY = ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages")
_COPIES = ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages")


def _message_patches(module: str, *, count_tokens: bool, optional: bool) -> list[Patch]:
    patches = [
        Patch(module, "Messages.create", wrap_messages_create, optional),
        Patch(module, "Messages.parse", wrap_messages_create, optional=True),
        Patch(module, "Messages.stream", wrap_messages_stream, optional),
        Patch(module, "AsyncMessages.create", async_wrap_messages_create, optional),
        Patch(module, "AsyncMessages.parse", async_wrap_messages_create, optional=True),
        Patch(module, "AsyncMessages.stream", async_wrap_messages_stream, optional),
    ]
    if count_tokens:
        patches.append(Patch(module, "Messages.count_tokens", wrap_count_tokens, optional=True))
        patches.append(Patch(module, "AsyncMessages.count_tokens", async_wrap_count_tokens, optional=True))
    return patches


class AnthropicInstrumentor(Instrumentor):
    """Traces every Anthropic messages call as one ``llm`` span."""

    name = "anthropic"
    module = "anthropic"
    requires = ("anthropic>=2.0,<3",)

    def _patches(self) -> Sequence[Patch]:
        patches = [
            patch
            for module in _FIRST_PARTY
            for patch in _message_patches(module, count_tokens=True, optional=module != _FIRST_PARTY[0])
        ]
        for module in _COPIES:  # Bedrock/Vertex beta: copies made at import
            patches += _message_patches(module, count_tokens=False, optional=True)
        # Methods bound before we patched reach the API only through the client's request().
        patches.append(Patch("anthropic._base_client", "SyncAPIClient.request", wrap_client_request))
        patches.append(Patch("anthropic._base_client", "AsyncAPIClient.request", async_wrap_client_request))
        # The SDK's own OpenTelemetry call span would report each traced call a second time.
        patches.append(Patch("anthropic._base_client", "start_api_call_span", skip_sdk_span, optional=True))
        return patches
