"""Guard on LangChain tools: ``BaseTool.run``/``arun`` judged before the tool runs.

Allowed (or audit): the tool runs as usual and the handler puts the decision on the tool span
it opens (handed over in a context variable set and reset around the call, in this frame).
Blocked (enforce): the tool does not run; a tool span records the refusal, and the agent gets
the refusal as the tool's result (a ``ToolMessage`` with ``status="error"`` when LangChain
called it with a tool call id), so it can answer around it, or ``ToolBlocked`` with
``policy(on_block="raise")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..._core.internal_errors import contain
from ..._core.runtime import start_span
from ..._core.serialize import to_jsonable
from ...guard._engine import ajudge, current_policy, has_rules, judge, tool_call
from ...guard._model import Decision, ToolBlocked
from .._llm import capture_content


class _Pending:
    __slots__ = ("decision", "taken")

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.taken = False


_pending: ContextVar[_Pending | None] = ContextVar("staso_langchain_guard", default=None)


def take_decision() -> Decision | None:
    """For ``on_tool_start``: the decision made for this tool call, once."""
    pending = _pending.get()
    if pending is None or pending.taken:
        return None
    pending.taken = True
    return pending.decision


@contextmanager
def _handing_over(decision: Decision | None) -> Iterator[None]:
    token = _pending.set(_Pending(decision)) if decision is not None else None
    try:
        yield
    finally:
        if token is not None:
            _pending.reset(token)


def _tool_input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("tool_input")


@contain("langchain.guard.call")
def _proposed(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    given = _tool_input(args, kwargs)
    arguments = dict(given) if isinstance(given, dict) else {"input": given}
    return tool_call(str(getattr(instance, "name", "tool")), arguments, "langchain", None)


def _refusal(instance: Any, decision: Decision, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Record the blocked call as a tool span, then answer it as LangChain would a failed tool."""
    blocked = ToolBlocked(decision)
    with contain("langchain.guard.span"):
        span = start_span(str(getattr(instance, "name", "tool")), "tool")
        if capture_content():
            span.input = to_jsonable(_tool_input(args, kwargs))
        span.metadata["guard"] = [decision.to_dict()]
        if kwargs.get("tool_call_id"):
            span.metadata["tool_call_id"] = kwargs["tool_call_id"]
        span.fail(blocked)
    if current_policy().on_block == "raise":
        raise blocked
    content = decision.refusal
    call_id = kwargs.get("tool_call_id")
    if call_id is None:
        return content
    from langchain_core.messages import ToolMessage

    return ToolMessage(
        content=content, name=getattr(instance, "name", None), tool_call_id=call_id, status="error"
    )


def wrap_tool_run(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not has_rules():
        return wrapped(*args, **kwargs)
    decision = None
    call = _proposed(instance, args, kwargs)
    if call is not None:
        with contain("langchain.guard.judge"):
            decision = judge(call, None)
    if decision is not None and decision.blocked:
        return _refusal(instance, decision, args, kwargs)
    with _handing_over(decision):
        return wrapped(*args, **kwargs)


async def wrap_tool_arun(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if not has_rules():
        return await wrapped(*args, **kwargs)
    decision = None
    call = _proposed(instance, args, kwargs)
    if call is not None:
        with contain("langchain.guard.ajudge"):
            decision = await ajudge(call, None)
    if decision is not None and decision.blocked:
        return _refusal(instance, decision, args, kwargs)
    with _handing_over(decision):
        return await wrapped(*args, **kwargs)
