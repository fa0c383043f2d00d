"""Rules, the policy, and judging a tool call under the policy.

Rules run on guard threads (``_runner``) so a rule over its time budget cannot hold the tool
call longer than the budget; it is recorded as an error verdict and ``on_error`` decides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._core.context import current_agent_name, current_span, current_trace_attributes
from .._core.runtime import get_runtime
from .._core.span import Span
from . import _runner
from ._model import Decision, ToolBlocked, ToolCall, Verdict

MODES = ("audit", "enforce")
ON_ERROR = ("open", "closed")
ON_BLOCK = ("refuse", "raise")
RuleFn = Callable[[ToolCall], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    fn: RuleFn
    tools: frozenset[str] | None
    agents: frozenset[str] | None
    environments: frozenset[str] | None
    budget_ms: float
    health: _runner.Health = field(default_factory=_runner.Health, compare=False, repr=False)

    def applies(self, call: ToolCall) -> bool:
        return (
            (self.tools is None or call.tool_name in self.tools)
            and (self.agents is None or call.agent_name in self.agents)
            and (self.environments is None or call.environment in self.environments)
        )


@dataclass(frozen=True, slots=True)
class Policy:
    mode: str = "audit"
    on_error: str = "open"
    on_block: str = "refuse"


_rules: dict[str, Rule] = {}
_policy = Policy()


def _choice(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    return value


def _names(values: Iterable[str] | str | None) -> frozenset[str] | None:
    if values is None:
        return None
    return frozenset([values] if isinstance(values, str) else values)


def add_rule(
    fn: RuleFn,
    *,
    name: str | None,
    tools: Iterable[str] | str | None,
    agents: Iterable[str] | str | None,
    environments: Iterable[str] | str | None,
    budget_ms: float,
) -> Rule:
    if not callable(fn):
        raise ValueError(f"a guard rule must be callable, got {fn!r}")  # noqa: TRY004 - the API's one error type
    if budget_ms <= 0:
        raise ValueError(f"budget_ms must be positive, got {budget_ms!r}")
    rule = Rule(
        str(name or getattr(fn, "__name__", "rule")),
        fn,
        _names(tools),
        _names(agents),
        _names(environments),
        budget_ms,
    )
    _rules[rule.name] = rule
    return rule


def set_policy(mode: str, on_error: str, on_block: str) -> Policy:
    global _policy
    _policy = Policy(_choice("mode", mode, MODES), _choice("on_error", on_error, ON_ERROR),
                     _choice("on_block", on_block, ON_BLOCK))  # fmt: skip
    return _policy


def current_policy() -> Policy:
    return _policy


def clear() -> None:
    """Remove every rule and return to the default policy (audit, fail-open, refuse)."""
    global _policy
    _rules.clear()
    _policy = Policy()


def has_rules() -> bool:
    return bool(_rules)


def tool_call(tool_name: str, arguments: dict[str, Any], source: str, span: Span | None) -> ToolCall:
    """The proposed call with its context: from ``span`` when given, else the current context."""
    trace_id: str | None
    span_id: str | None
    if span is not None:
        attrs, agent, environment = span.trace_attrs, span.agent_name, span.resource.environment
        trace_id, span_id = span.trace_id, span.span_id
    else:
        parent = current_span()
        attrs = current_trace_attributes() if parent is None else parent.trace_attrs
        agent = current_agent_name() or get_runtime().resource.agent_name
        environment = get_runtime().resource.environment
        trace_id = parent.trace_id if parent else None
        span_id = parent.span_id if parent else None
    return ToolCall(tool_name, dict(arguments), source, agent, attrs.conversation_id, attrs.user_id,
                    attrs.session_id, environment, trace_id, span_id)  # fmt: skip


def _normalize(rule: Rule, result: Any, started: float) -> Verdict:
    duration = (time.perf_counter() - started) * 1000
    if isinstance(result, Verdict):
        return Verdict(result.passed, result.score, result.reason, rule.name, result.error, duration)
    if isinstance(result, bool):
        return Verdict(result, rule=rule.name, duration_ms=duration)
    if isinstance(result, dict) and isinstance(result.get("passed"), bool):
        return Verdict(result["passed"], result.get("score"), result.get("reason"), rule.name, None, duration)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return Verdict(result[0], None, str(result[1]), rule.name, None, duration)
    returned = type(result).__name__
    error = f"rule returned {returned}; return a Verdict, a bool, or a dict with 'passed'"
    return Verdict(None, rule=rule.name, duration_ms=duration, error=error)


def _evaluate(rule: Rule, call: ToolCall) -> Verdict:
    """On a guard thread; what the rule raises becomes an error verdict there (``_runner``)."""
    started = time.perf_counter()
    return _normalize(rule, rule.fn(call), started)


def _decide(call: ToolCall, verdicts: list[Verdict], span: Span | None, may_block: bool) -> Decision:
    policy = _policy
    failed = any(v.passed is False for v in verdicts)
    errored = any(v.passed is None for v in verdicts)
    blocked = may_block and policy.mode == "enforce" and (failed or (errored and policy.on_error == "closed"))
    decision = Decision(call.tool_name, policy.mode if may_block else "audit", blocked, tuple(verdicts))
    if span is not None:
        span.metadata.setdefault("guard", []).append(decision.to_dict())
    return decision


def judge(call: ToolCall, span: Span | None, *, may_block: bool = True) -> Decision | None:
    """Run every rule in scope for ``call``; ``None`` when no rule applies."""
    rules = [rule for rule in _rules.values() if rule.applies(call)]
    if not rules:
        return None
    since = time.monotonic()
    return _decide(call, _runner.wait(_runner.start(rules, call, _evaluate), since), span, may_block)


def judge_proposed(span: Span) -> bool:
    """Judge the tool calls an llm span's response proposes; recorded only, never blocking.
    Whether any was judged (its verdicts added to the span).
    """
    if not _rules or not span.tool_calls:
        return False
    for proposed in span.tool_calls:
        arguments = proposed.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments else {}
            except ValueError:
                arguments = {"_raw": arguments}
        if not isinstance(arguments, dict):
            arguments = {"_value": arguments}
        call = tool_call(str(proposed.get("name")), arguments, span.provider or "llm", span)
        judge(call, span, may_block=False)
    return True


async def ajudge(call: ToolCall, span: Span | None) -> Decision | None:
    """``judge`` for async tools: waits without blocking the event loop."""
    rules = [rule for rule in _rules.values() if rule.applies(call)]
    if not rules:
        return None
    since = time.monotonic()
    return _decide(call, await _runner.await_all(_runner.start(rules, call, _evaluate), since), span, True)


class ToolGuard:
    """The guard as ``@st.tool`` uses it (``_core.parts.ToolGuard``, plugged in by the package)."""

    def has_rules(self) -> bool:
        return bool(_rules)

    def check(self, tool_name: str, arguments: dict[str, Any], span: Span) -> ToolBlocked | None:
        return _blocked(judge(tool_call(tool_name, arguments, "tool", span), span))

    async def acheck(self, tool_name: str, arguments: dict[str, Any], span: Span) -> ToolBlocked | None:
        return _blocked(await ajudge(tool_call(tool_name, arguments, "tool", span), span))


def _blocked(decision: Decision | None) -> ToolBlocked | None:
    return ToolBlocked(decision) if decision is not None and decision.blocked else None


def quarantined() -> dict[str, str]:
    """Rules left out of judging right now, by name, with the reason: ``while its earlier run
    hangs`` (back once that run returns) or ``after 3 runs over budget`` (until registered again).
    A quarantined rule's verdict is an error, and ``on_error`` decides.
    """
    return _runner.quarantined(list(_rules.values()))
