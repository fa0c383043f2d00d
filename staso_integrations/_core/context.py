"""Context propagation with ``contextvars``: the current span, agent and trace attributes.

Threads started with a copied context, asyncio tasks and our generator wrappers all see the
right parent. Values are only ever set and reset in the same frame, never across callbacks.

A block can still end in another context than it began in: a ``with st.span()`` held across a
``yield`` and resumed by another task or thread, or closed by the garbage collector. Leaving
it then never raises (``restore``), and the context it began in keeps pointing at a span that
has ended: readers skip ended spans (``open_or_ancestor``), so an ended span is never current.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from .sessions import session_turns
from .span import EMPTY_TRACE_ATTRIBUTES, Span, TraceAttributes

_current_span: ContextVar[Span | None] = ContextVar("staso_current_span", default=None)
_agent_name: ContextVar[str | None] = ContextVar("staso_agent_name", default=None)
_trace_attrs: ContextVar[TraceAttributes] = ContextVar(
    "staso_trace_attributes", default=EMPTY_TRACE_ATTRIBUTES
)

T = TypeVar("T")


def current_span() -> Span | None:
    """The innermost open span of this context, if any."""
    return open_or_ancestor(_current_span.get())


def open_or_ancestor(span: Span | None) -> Span | None:
    """``span`` if it is still open, else its nearest open ancestor (``None`` if none is)."""
    while span is not None and span.end_ns is not None:
        span = span.parent
    return span


def restore(var: ContextVar[T], token: Token[T], value: T, default: T) -> None:
    """Undo ``token = var.set(value)``; never raises, whichever context runs it.

    In the context that set it this is ``var.reset(token)``. Elsewhere (another task, thread or
    generator step) that context cannot be reached: where ``var`` holds ``value`` here too (a
    copied context), it gets the value from before the set.
    """
    try:
        var.reset(token)
    except ValueError:  # the token was made in another context
        if var.get() is value:
            previous = token.old_value
            var.set(default if previous is Token.MISSING else previous)


def leave_span(span: Span, token: Token[Span | None]) -> None:
    """End the activation of a user's ``with`` block on ``span`` (see ``restore``).

    Only where ``span`` is still the current span: a block left late (by the garbage collector,
    or by a generator resumed after another block began) must not cut that other block short.
    """
    if _current_span.get() is span:
        try:
            _current_span.reset(token)
        except ValueError:
            restore(_current_span, token, span, None)


def current_agent_name() -> str | None:
    return _agent_name.get()


def current_trace_attributes() -> TraceAttributes:
    return _trace_attrs.get()


@contextmanager
def use_span(span: Span) -> Iterator[Span]:
    """Make ``span`` the parent of spans opened inside the block (does not end it)."""
    token = _current_span.set(span)
    try:
        yield span
    finally:
        restore(_current_span, token, span, None)


@contextmanager
def conversation(
    conversation_id: str | None = None,
    user_id: str | None = None,
    *,
    session_id: str | None = None,
    turn_index: int | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Group every trace started inside the block into one conversation.

    Args:
        conversation_id: shared by the traces of one chat thread or multi-step task.
        user_id: the end user the conversation belongs to.
        session_id: groups traces into a multi-turn session; each trace that starts inside the
            block gets the session's next ``turn_index``, and later blocks of the same session
            in this process continue the count (one block per request is the usual pattern).
        turn_index: the turn of the block's first trace, for callers that know it (several
            server processes share a session); later traces count on from it.
        tags: labels copied onto every trace in the block.
        metadata: free-form trace-level metadata.
    """
    outer = _trace_attrs.get()
    session = session_id or outer.session_id
    turns = outer.turns
    if session_id is not None:
        turns = session_turns(session_id, turn_index)
    elif turn_index is not None:
        turns = itertools.count(turn_index)
    attrs = TraceAttributes(
        conversation_id=conversation_id or outer.conversation_id,
        user_id=user_id or outer.user_id,
        session_id=session,
        turns=turns,
        tags=tuple(outer.tags) + tuple(tags or ()),
        metadata={**(outer.metadata or {}), **(metadata or {})} or None,
    )
    token = _trace_attrs.set(attrs)
    try:
        yield
    finally:
        if _trace_attrs.get() is attrs:  # as ``leave_span``: never cut another block short
            restore(_trace_attrs, token, attrs, EMPTY_TRACE_ATTRIBUTES)
