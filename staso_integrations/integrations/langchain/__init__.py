"""LangChain / LangGraph: chains, graphs, agents, chat models, tools and retrievers as spans.

Mechanism: one ``StasoCallbackHandler`` injected through LangChain's own extension point,
``langchain_core.tracers.context.register_configure_hook``. Every callback manager LangChain
builds for a run goes through ``CallbackManager.configure`` → ``_configure``, which adds each
hook's handler once (an identity check: never a second copy) and as inheritable, so child
managers (``get_child``) carry it too. We prefer it to patching ``BaseCallbackManager.__init__``:
no wrapper on a constructor LangChain calls for every child run, no scan of the handler list on
each of them, and it is the same path LangChain's own ``usage_metadata`` and run-collector
handlers use. The hook is registered once per process (LangChain has no unregister) and is
inert after ``uninstrument()``: its ``get()`` returns ``None``, so no new manager gets the
handler, while runs already in flight still finish (and are popped) normally.

The handler parents spans by ``run_id`` and never touches context variables; what needs the
current span (user spans and provider calls inside a step, one llm span per model call) is done
by the same-frame wrappers in ``_patches.py``.

Embeddings: LangChain emits no callbacks for ``Embeddings.embed_*``, and each embeddings class
overrides them, so there is no single point to patch. The provider layer records them instead
(``OpenAIEmbeddings`` calls the OpenAI SDK: an ``embedding`` span under the current LangChain
step).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import ClassVar

import wrapt

from ..._core.internal_errors import contain, strict_mode
from .._base import Instrumentor
from .._patching import Patch

_CHAT = "langchain_core.language_models.chat_models"
_LLMS = "langchain_core.language_models.llms"
_LANGGRAPH = "langgraph._internal._runnable"
_hook_registered = False
_langgraph_hooked = False
_instrumented: LangChainInstrumentor | None = None  # the instance a late LangGraph import joins


class LangChainInstrumentor(Instrumentor):
    name: ClassVar[str] = "langchain"
    module: ClassVar[str] = "langchain_core"
    requires: ClassVar[tuple[str, ...]] = ("langchain-core>=1.0,<2",)

    def _patches(self) -> Sequence[Patch]:
        from ._guard import wrap_tool_arun, wrap_tool_run
        from ._patches import (
            wrap_agenerate,
            wrap_astream,
            wrap_generate,
            wrap_set_config_context,
            wrap_stream,
        )

        patches = [
            Patch("langchain_core.runnables.config", "_set_config_context", wrap_set_config_context),
            Patch(_CHAT, "BaseChatModel._generate_with_cache", wrap_generate(2, "run_manager")),
            Patch(_CHAT, "BaseChatModel._agenerate_with_cache", wrap_agenerate(2, "run_manager")),
            Patch(_CHAT, "BaseChatModel.stream", wrap_stream),
            Patch(_CHAT, "BaseChatModel.astream", wrap_astream),
            Patch(_LLMS, "BaseLLM._generate_helper", wrap_generate(2, "run_managers")),
            Patch(_LLMS, "BaseLLM._agenerate_helper", wrap_agenerate(2, "run_managers")),
            Patch(_LLMS, "BaseLLM.stream", wrap_stream),
            Patch(_LLMS, "BaseLLM.astream", wrap_astream),
            Patch("langchain_core.tools.base", "BaseTool.run", wrap_tool_run),
            Patch("langchain_core.tools.base", "BaseTool.arun", wrap_tool_arun),
        ]
        if _LANGGRAPH in sys.modules:
            patches.append(_langgraph_patch())
        return patches

    def _on_instrument(self) -> None:
        global _hook_registered, _langgraph_hooked, _instrumented
        from . import _callback

        if not _hook_registered:
            from langchain_core.tracers.context import register_configure_hook

            register_configure_hook(_callback.HandlerSlot(), True)  # type: ignore[arg-type]
            _hook_registered = True
        # One handler for the process: managers still running from before an uninstrument /
        # instrument cycle hold this same object, so the identity check never adds a second one.
        handler = _callback.HANDLER
        handler.raise_error = strict_mode()
        _callback.ACTIVE = handler
        _instrumented = self
        if _LANGGRAPH not in sys.modules and not _langgraph_hooked:
            wrapt.when_imported(_LANGGRAPH)(lambda _module: _patch_langgraph_late())
            _langgraph_hooked = True

    def _on_uninstrument(self) -> None:
        global _instrumented
        from . import _callback

        _callback.ACTIVE = None
        _instrumented = None


def _langgraph_patch() -> Patch:
    from ._patches import wrap_set_config_context

    return Patch(_LANGGRAPH, "_set_config_context", wrap_set_config_context)


@contain("langchain.langgraph_import")
def _patch_langgraph_late() -> None:
    """LangGraph imported after ``instrument()``: add its patch to the instrumentor's list."""
    instrumentor = _instrumented
    if instrumentor is None:
        return
    patch = _langgraph_patch()
    if patch.apply():
        instrumentor._patches_applied.append(patch)


__all__ = ["LangChainInstrumentor"]
