"""Guard data: the proposed tool call, a rule's verdict, and the policy's decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """What a rule judges: one tool call, before it runs, with its trace context."""

    tool_name: str
    arguments: dict[str, Any]
    source: str  # "tool" (@st.tool), "langchain", "llama_index", "openai", "anthropic"
    agent_name: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    environment: str = "default"
    trace_id: str | None = None
    span_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule judging one tool call. ``passed`` is ``None`` when the rule itself failed."""

    passed: bool | None
    score: float | None = None
    reason: str | None = None
    rule: str | None = None
    error: str | None = None
    duration_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "score": self.score,
            "reason": self.reason,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one tool call: the verdicts and whether the call is blocked."""

    tool_name: str
    mode: str
    blocked: bool
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        failing = [v for v in self.verdicts if v.passed is False or (self.blocked and v.error)]
        return "; ".join(f"{v.rule}: {v.reason or v.error or 'failed'}" for v in failing) or "allowed"

    @property
    def refusal(self) -> str:
        """What an agent receives as the result of a blocked tool call."""
        return f"Tool call refused by policy: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool_name,
            "mode": self.mode,
            "decision": "blocked" if self.blocked else "allowed",
            "reason": self.reason,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


class ToolBlocked(Exception):
    """Raised instead of running a tool that an ``enforce`` policy blocked."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"tool {decision.tool_name!r} blocked by guard: {decision.reason}")
        self.decision = decision
        self.tool_name = decision.tool_name
        self.reason = decision.reason
