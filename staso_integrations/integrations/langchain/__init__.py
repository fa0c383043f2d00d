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

Being a handler has one cost of LangChain's own that we take back: before each chat model call
and each step of a streamed runnable, LangChain asks every handler whether it streams with a
Protocol check of ~100 k instructions; the two modules that ask get a stand-in that answers
for ours at once (``_stream_check.py``).

Every entry of the table waits for its module to be imported: ``import langchain_core`` loads
almost nothing, and ``instrument_all()`` never loads LangChain's model, tool and tracer modules
(hundreds of milliseconds, most of it LangSmith's schemas) for an application that does not.
The handler is switched on when ``langchain_core.tracers.context`` is imported, which
``CallbackManager.configure`` does before any run.

Embeddings: LangChain emits no callbacks for ``Embeddings.embed_*``, and each embeddings class
overrides them, so there is no single point to patch. The provider layer records them instead
(``OpenAIEmbeddings`` calls the OpenAI SDK: an ``embedding`` span under the current LangChain
step).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

from ..._core.internal_errors import strict_mode
from .._base import Instrumentor
from .._patching import Entry, Patch, Setup

__all__ = ["LangChainInstrumentor"]

_CHAT = "langchain_core.language_models.chat_models"
_LLMS = "langchain_core.language_models.llms"
_TOOLS = "langchain_core.tools.base"
_TRACERS = "langchain_core.tracers.context"  # where configure hooks are registered and read
_RUNNABLES = "langchain_core.runnables.base"
_LANGGRAPH = "langgraph._internal._runnable"
# Wrappers named, not imported: their modules import LangChain's message types, which the
# patched modules load anyway.
_PATCHES = f"{__name__}._patches:"
_GUARD = f"{__name__}._guard:"
_TABLE = (
    ("langchain_core.runnables.config", "_set_config_context", _PATCHES + "wrap_set_config_context"),
    (_CHAT, "BaseChatModel._generate_with_cache", _PATCHES + "wrap_generate_with_cache"),
    (_CHAT, "BaseChatModel._agenerate_with_cache", _PATCHES + "wrap_agenerate_with_cache"),
    (_CHAT, "BaseChatModel.stream", _PATCHES + "wrap_stream"),
    (_CHAT, "BaseChatModel.astream", _PATCHES + "wrap_astream"),
    (_LLMS, "BaseLLM._generate_helper", _PATCHES + "wrap_generate_helper"),
    (_LLMS, "BaseLLM._agenerate_helper", _PATCHES + "wrap_agenerate_helper"),
    (_LLMS, "BaseLLM.stream", _PATCHES + "wrap_stream"),
    (_LLMS, "BaseLLM.astream", _PATCHES + "wrap_astream"),
    (_TOOLS, "BaseTool.run", _GUARD + "wrap_tool_run"),
    (_TOOLS, "BaseTool.arun", _GUARD + "wrap_tool_arun"),
)


class LangChainInstrumentor(Instrumentor):
    name: ClassVar[str] = "langchain"
    module: ClassVar[str] = "langchain_core"
    requires: ClassVar[tuple[str, ...]] = ("langchain-core>=1.0,<2",)

    def _patches(self) -> Sequence[Entry]:
        langgraph = _PATCHES + "wrap_set_config_context"  # its twin of _set_config_context
        return [
            Setup(_activate, _deactivate, after_import=_TRACERS),
            # The modules that ask every handler whether it streams (``_stream_check.py``).
            *(
                Setup(
                    functools.partial(_swap, module, True),
                    functools.partial(_swap, module, False),
                    after_import=module,
                )
                for module in (_CHAT, _RUNNABLES)
            ),
            *(Patch(module, path, wrapper, on_import=True) for module, path, wrapper in _TABLE),
            # Private to LangGraph: a version without it is skipped.
            Patch(_LANGGRAPH, "_set_config_context", langgraph, optional=True, on_import=True),
        ]


def _activate() -> None:
    from . import _callback

    _register_configure_hook()
    # One handler for the process: managers still running from before an uninstrument /
    # instrument cycle hold this same object, so the identity check never adds a second one.
    handler = _callback.HANDLER
    handler.raise_error = strict_mode()
    _callback.ACTIVE = handler


def _deactivate() -> None:
    from . import _callback

    _callback.ACTIVE = None


def _swap(module: str, stand_in: bool) -> None:
    from . import _stream_check

    (_stream_check.swap_in if stand_in else _stream_check.swap_out)(module)


@functools.cache  # LangChain cannot unregister a hook: once per process, inert while ACTIVE is None
def _register_configure_hook() -> None:
    from langchain_core.tracers.context import register_configure_hook

    from ._callback import HandlerSlot

    register_configure_hook(HandlerSlot(), True)  # type: ignore[arg-type]
