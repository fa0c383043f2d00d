"""LlamaIndex: query/chat engines, retrievers, LLM and embedding calls, agents and tools.

Span and event handlers on the root instrumentation dispatcher (``_handler``) turn
LlamaIndex's own spans into ours; ``FunctionTool.call/acall`` are patched (no tool event is
sent in 0.14.x); the SDK call inside ``llama-index-llms-openai``/``-embeddings-openai``
classes runs under ``provider_enriches`` so the OpenAI hook fills the LlamaIndex llm span
instead of adding a second one (patched when those modules are imported). Other LLM classes
(``llama-index-llms-anthropic``...) call their SDK inside LlamaIndex's span of the public
method: the provider hook claims that llm span through ``_llm.implicit_targets``.

All of it, the handlers and resolvers included, is an entry of the Instrumentor's table.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ..._core import runtime
from .. import _llm
from .._base import Instrumentor
from .._patching import Entry, Patch, Setup, in_list

if TYPE_CHECKING:  # they import llama_index: loaded by instrument(), not by this module
    from ._handler import StasoEventHandler, StasoSpanHandler

__all__ = ["LlamaIndexInstrumentor"]

_TOOL_MODULE = "llama_index.core.tools.function_tool"


class LlamaIndexInstrumentor(Instrumentor):
    name: ClassVar[str] = "llama_index"
    module: ClassVar[str] = "llama_index.core"
    requires: ClassVar[tuple[str, ...]] = ("llama-index-core>=0.14,<0.15",)

    def _patches(self) -> Sequence[Entry]:
        from ._handler import SPANS, StasoEventHandler, StasoSpanHandler
        from ._patches import SDK_CALLS, async_wrap_tool_call, claim_llm_span, wrap_sdk_call, wrap_tool_call

        handlers = (StasoSpanHandler(), StasoEventHandler())
        table: list[Entry] = [
            Setup(lambda: _add_handlers(*handlers), lambda: _remove_handlers(*handlers)),
            in_list(runtime.parent_resolvers, SPANS.resolve_parent),
            # LLM classes that call their SDK in their public method: the provider hook claims the span.
            in_list(_llm.implicit_targets, claim_llm_span),
            Patch(_TOOL_MODULE, "FunctionTool.call", wrap_tool_call),
            Patch(_TOOL_MODULE, "FunctionTool.acall", async_wrap_tool_call),
        ]
        for module, class_name, methods in SDK_CALLS:
            table += [
                Patch(module, f"{class_name}.{method}", wrap_sdk_call, optional=True, on_import=True)
                for method in methods
            ]
            table.append(_enriched_type(module, class_name))
        return table


def _add_handlers(span_handler: StasoSpanHandler, event_handler: StasoEventHandler) -> None:
    from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

    dispatcher = get_dispatcher()
    dispatcher.add_span_handler(span_handler)
    dispatcher.add_event_handler(event_handler)


def _remove_handlers(span_handler: StasoSpanHandler, event_handler: StasoEventHandler) -> None:
    from llama_index_instrumentation import get_dispatcher

    from ._handler import SPANS

    dispatcher = get_dispatcher()
    dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not span_handler]
    dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not event_handler]
    SPANS.clear()


def _enriched_type(module: str, class_name: str) -> Setup:
    """The class's llm spans take LlamaIndex's token counts: its SDK call runs in our wrapper."""
    from ._handler import SPANS

    added: list[type] = []

    def install() -> None:
        cls = getattr(sys.modules[module], class_name, None)
        if isinstance(cls, type):
            added.append(cls)
            SPANS.enriched_types = (*SPANS.enriched_types, cls)

    def uninstall() -> None:
        SPANS.enriched_types = tuple(t for t in SPANS.enriched_types if t not in added)
        added.clear()

    return Setup(install, uninstall, after_import=module)
