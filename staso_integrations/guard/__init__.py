"""Guard: judge every tool call before it runs, with your own programmatic rules.

    import staso_integrations as st

    @st.guard.rule(tools=["delete_file"])
    def no_system_paths(call):
        return st.guard.Verdict(passed=not call.arguments["path"].startswith("/etc"), reason="system path")

    st.guard.policy(mode="enforce")      # "audit" (default) only records verdicts

Verdicts are recorded on the tool span (``metadata["guard"]``) and exported with it. In
``enforce`` mode a failing verdict stops the tool: ``@st.tool`` raises :class:`ToolBlocked`;
LangChain and LlamaIndex tools return the refusal to the agent (``on_block="raise"`` raises).
Tool calls proposed by OpenAI/Anthropic responses are judged in the background and recorded
on the llm span; nothing runs there, so nothing is blocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .._core.parts import PARTS
from ._engine import (
    Policy,
    ToolGuard,
    add_rule,
    clear,
    current_policy,
    judge_proposed,
    quarantined,
    set_policy,
)
from ._model import Decision, ToolBlocked, ToolCall, Verdict

__all__ = [
    "Decision",
    "Policy",
    "ToolBlocked",
    "ToolCall",
    "Verdict",
    "clear",
    "current_policy",
    "policy",
    "quarantined",
    "rule",
]

R = TypeVar("R", bound=Callable[[ToolCall], Any])

# What _core asks of the guard (it cannot import it: the guard imports _core), plugged in now.
PARTS.tool_guard = ToolGuard()
PARTS.judge_proposed = judge_proposed


def rule(
    fn: R | None = None,
    /,
    *,
    name: str | None = None,
    tools: Iterable[str] | str | None = None,
    agents: Iterable[str] | str | None = None,
    environments: Iterable[str] | str | None = None,
    budget_ms: float = 100.0,
) -> Any:
    """Register a rule: a callable taking a :class:`ToolCall` and returning a :class:`Verdict`
    (or a bool, or a dict with ``passed``/``score``/``reason``).

    Args:
        fn: the rule, when used as ``@rule`` without parentheses.
        name: the rule's name in verdicts (default: the function name); re-using a name replaces it.
        tools: judge only calls of these tools (default: all).
        agents: judge only calls made by these agents (default: all).
        environments: judge only calls in these environments (default: all).
        budget_ms: time a rule may take; over it, the verdict is an error and ``on_error`` decides,
            and the rule is quarantined (see :func:`quarantined`). The rules of a call run side by
            side, so the call waits at most the largest budget among them.

    Raises:
        ValueError: ``fn`` is not callable or ``budget_ms`` is not positive.
    """

    def register(function: R) -> R:
        add_rule(
            function, name=name, tools=tools, agents=agents, environments=environments, budget_ms=budget_ms
        )
        return function

    return register(fn) if fn is not None else register


def policy(mode: str = "audit", *, on_error: str = "open", on_block: str = "refuse") -> Policy:
    """Set how verdicts act.

    Args:
        mode: ``audit`` (the call runs, verdicts recorded) or ``enforce`` (a failing verdict stops it).
        on_error: a rule that raises or runs over budget: ``open`` lets the call run, ``closed`` blocks it.
        on_block: for framework tools, ``refuse`` returns the refusal as the tool result, ``raise`` raises.

    Raises:
        ValueError: a value outside the allowed ones (named in the message).
    """
    return set_policy(mode, on_error, on_block)
