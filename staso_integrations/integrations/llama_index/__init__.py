"""LlamaIndex: query/chat engines, retrievers, LLM and embedding calls, agents and tools.

Span and event handlers on the root instrumentation dispatcher (``_handler``) turn
LlamaIndex's own spans into ours; ``FunctionTool.call/acall`` are patched (no tool event is
sent in 0.14.x); the SDK call inside ``llama-index-llms-openai``/``-embeddings-openai``
classes runs under ``provider_enriches`` so the OpenAI hook fills the LlamaIndex llm span
instead of adding a second one (patched when those modules are imported). Other LLM classes
(``llama-index-llms-anthropic``...) call their SDK inside LlamaIndex's span of the public
method: the provider hook claims that llm span through ``_llm.implicit_targets``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import wrapt

from ..._core import runtime
from ..._core.internal_errors import contain
from .. import _llm
from .._base import Instrumentor
from .._patching import Patch

if TYPE_CHECKING:  # they import llama_index: loaded by instrument(), not by this module
    from ._handler import StasoEventHandler, StasoSpanHandler

__all__ = ["LlamaIndexInstrumentor"]

_TOOL_MODULE = "llama_index.core.tools.function_tool"


class LlamaIndexInstrumentor(Instrumentor):
    name = "llama_index"
    module = "llama_index.core"
    requires = ("llama-index-core>=0.14,<0.15",)

    def __init__(self) -> None:
        super().__init__()
        self._span_handler: StasoSpanHandler | None = None
        self._event_handler: StasoEventHandler | None = None
        self._sdk_patches: list[Patch] = []
        self._hooked: set[str] = set()

    def _patches(self) -> Sequence[Patch]:
        from ._patches import async_wrap_tool_call, wrap_tool_call

        return (
            Patch(_TOOL_MODULE, "FunctionTool.call", wrap_tool_call),
            Patch(_TOOL_MODULE, "FunctionTool.acall", async_wrap_tool_call),
        )

    def _on_instrument(self) -> None:
        from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

        from ._handler import SPANS, StasoEventHandler, StasoSpanHandler
        from ._patches import SDK_CALLS, claim_llm_span

        dispatcher = get_dispatcher()
        self._span_handler, self._event_handler = StasoSpanHandler(), StasoEventHandler()
        dispatcher.add_span_handler(self._span_handler)
        dispatcher.add_event_handler(self._event_handler)
        runtime.parent_resolvers.append(SPANS.resolve_parent)
        _llm.implicit_targets.append(claim_llm_span)  # LLM classes that call the SDK in their public method
        for module, _, _ in SDK_CALLS:
            if module in sys.modules:
                self._patch_sdk_calls(module)
            elif module not in self._hooked:  # a hook cannot be removed: it checks we are still on
                self._hooked.add(module)
                wrapt.when_imported(module)(self._on_sdk_import)

    @contain("llama_index.on_import")
    def _on_sdk_import(self, module: Any) -> None:
        if self._span_handler is not None:
            self._patch_sdk_calls(module.__name__)

    def _patch_sdk_calls(self, module: str) -> None:
        from ._handler import SPANS
        from ._patches import SDK_CALLS, wrap_sdk_call

        for name, class_name, methods in SDK_CALLS:
            if name != module:
                continue
            for method in methods:
                patch = Patch(module, f"{class_name}.{method}", wrap_sdk_call, optional=True)
                if patch.apply():
                    self._sdk_patches.append(patch)
            cls = getattr(sys.modules[module], class_name, None)
            if isinstance(cls, type):
                SPANS.enriched_types = (*SPANS.enriched_types, cls)

    def _on_uninstrument(self) -> None:
        if self._span_handler is None:
            return  # nothing was set up (instrument() failed before _on_instrument)
        from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

        from ._handler import SPANS
        from ._patches import claim_llm_span

        dispatcher = get_dispatcher()
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not self._span_handler]
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not self._event_handler]
        self._span_handler = self._event_handler = None
        if SPANS.resolve_parent in runtime.parent_resolvers:
            runtime.parent_resolvers.remove(SPANS.resolve_parent)
        if claim_llm_span in _llm.implicit_targets:
            _llm.implicit_targets.remove(claim_llm_span)
        while self._sdk_patches:
            self._sdk_patches.pop().revert()
        SPANS.clear()
