"""Same-frame wrappers: what the callback handler alone cannot do without attaching context.

1. ``_set_config_context`` (langchain-core and LangGraph): LangChain runs every step's user
   code (a tool's function, a ``RunnableLambda``, a LangGraph node) inside a fresh
   ``copy_context()`` that it prepares by calling ``ctx.run(_set_config_context, config)``
   (``langchain_core/runnables/config.py::set_config_context``, LangGraph's twin in
   ``langgraph/_internal/_runnable.py``), and throws away when the step ends. ``config`` holds
   the step's child callback manager, whose ``parent_run_id`` is the step's run. We make that
   run's span current *in that private copy only*: spans opened by our decorators or provider
   hooks inside the step nest under it; the caller's context is never touched and nothing is
   set in one callback and undone in another. Two patches cover every ``set_config_context``
   user (runnables, fallbacks, tools, LangGraph nodes and tasks).
2. ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache`` and BaseLLM's
   ``_generate_helper`` / ``_agenerate_helper``: the narrowest frame that holds the run manager
   (its ``run_id`` is our llm span) and contains the SDK call (plain, ``_stream`` and v2-event
   paths alike). ``provider_enriches(span)`` is set and reset around it, so the provider hook
   fills that span instead of opening a second one.
3. ``stream()`` / ``astream()`` of both model bases call ``_stream`` without a run manager and
   open the run inside the generator. A ``Target`` with no span yet is set and reset around
   each step of the generator (never across a ``yield``); the handler fills it when the run
   starts. Once a provider call has claimed it, the rest of the stream is passed through as
   it is: nothing else can fill that span, and the variable cost two calls per chunk.

Not covered: ``BaseRetriever.invoke`` calls ``_get_relevant_documents`` without a step
context, and every retriever overrides that method, so a span opened inside a retriever (say
an embeddings call) nests under the retriever's parent step, next to the retriever span.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..._core.context import _current_span
from ..._core.internal_errors import contain
from .._llm import Target, _target, provider_enriches
from . import _callback

Wrapped = Callable[..., Any]


def wrap_set_config_context(
    wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    result = wrapped(*args, **kwargs)
    try:  # runs for every step: a bare ``try`` costs nothing until it raises
        handler = _callback.ACTIVE
        if handler is not None:
            config = args[0] if args else kwargs.get("config")
            callbacks = config.get("callbacks") if isinstance(config, dict) else None
            span = handler.span_of(getattr(callbacks, "parent_run_id", None))
            if span is not None:
                _current_span.set(span)  # we run inside ctx.run(...): the step's private context
    except Exception as exc:
        _callback.swallow("config_context", exc)
    return result


def _llm_span(run_manager: Any) -> Any:
    handler = _callback.ACTIVE
    return handler.span_of(getattr(run_manager, "run_id", None)) if handler is not None else None


def _run_manager(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    manager = kwargs.get(name, args[index] if len(args) > index else None)
    if name == "run_managers":  # BaseLLM: one SDK call per batch; enrich only a batch of one
        return manager[0] if manager and len(manager) == 1 else None
    return manager


def wrap_generate(index: int, name: str) -> Wrapped:
    """``_generate_with_cache`` (``run_manager`` at 2) or ``_generate_helper`` (``run_managers``)."""

    def wrapper(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            span = _llm_span(_run_manager(args, kwargs, index, name))
        except Exception:
            with contain("langchain.generate"):
                raise
            span = None
        if span is None:
            return wrapped(*args, **kwargs)
        with provider_enriches(span):
            return wrapped(*args, **kwargs)

    return wrapper


def wrap_agenerate(index: int, name: str) -> Wrapped:
    async def wrapper(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            span = _llm_span(_run_manager(args, kwargs, index, name))
        except Exception:
            with contain("langchain.agenerate"):
                raise
            span = None
        if span is None:
            return await wrapped(*args, **kwargs)
        with provider_enriches(span):
            return await wrapped(*args, **kwargs)

    return wrapper


# BaseChatModel passes its run manager at position 2, BaseLLM a list of them.
wrap_generate_with_cache = wrap_generate(2, "run_manager")
wrap_agenerate_with_cache = wrap_agenerate(2, "run_manager")
wrap_generate_helper = wrap_generate(2, "run_managers")
wrap_agenerate_helper = wrap_agenerate(2, "run_managers")


def wrap_stream(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _steps(wrapped(*args, **kwargs))


def wrap_astream(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _asteps(wrapped(*args, **kwargs))


def _steps(inner: Iterator[Any]) -> Iterator[Any]:
    target = Target(None)
    try:
        while target.span is None or not target.claimed:  # until a provider call fills the run's span
            token = _target.set(target)
            try:
                item = next(inner)
            except StopIteration:
                return
            finally:
                _target.reset(token)
            yield item
        yield from inner
    finally:
        close = getattr(inner, "close", None)
        if close is not None:
            close()


async def _asteps(inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
    target = Target(None)
    try:
        while target.span is None or not target.claimed:  # until a provider call fills the run's span
            token = _target.set(target)
            try:
                item = await inner.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _target.reset(token)
            yield item
        async for item in inner:
            yield item
    finally:
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
