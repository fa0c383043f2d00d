"""What ``_core`` runs but does not own: pricing, the tool-call guard, the exporters, the registry.

Each of them imports ``_core``; ``_core`` never imports them (``tests/core/test_layers.py``).
The package's ``__init__`` sets them on :data:`PARTS` as it is imported, so before any span
can exist, and the guard sets its own when it is first imported (no rule exists before);
``runtime.init()`` hands them to the pipeline it builds (the processor's enrichment stages
and the exporters), the ``@tool`` decorator asks :attr:`Parts.tool_guard`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import Config
    from .exporting import Exporter
    from .span import Span


class ToolGuard(Protocol):
    """The public guard (``staso_integrations.guard``) as ``@st.tool`` uses it."""

    def has_rules(self) -> bool:
        """Whether any rule is registered (else no call is judged)."""

    def check(self, tool_name: str, arguments: dict[str, Any], span: Span) -> BaseException | None:
        """Judge a tool call about to run; the exception to raise instead of running it if blocked."""

    async def acheck(self, tool_name: str, arguments: dict[str, Any], span: Span) -> BaseException | None:
        """``check`` for async tools."""


class _NoGuard:
    def has_rules(self) -> bool:
        return False

    def check(self, tool_name: str, arguments: dict[str, Any], span: Span) -> BaseException | None:
        return None

    async def acheck(self, tool_name: str, arguments: dict[str, Any], span: Span) -> BaseException | None:
        return None


def _skip(span: Span) -> None:
    return None


def _judge_nothing(span: Span) -> bool:
    return False


def _no_exporters(config: Config) -> list[Exporter]:
    return []


class Parts:
    """The plugged-in parts; a stage or guard plugged later is seen by pipelines already built."""

    __slots__ = ("build_exporters", "integrations", "judge_proposed", "price", "tool_guard")

    def __init__(self) -> None:
        self.price: Callable[[Span], None] = _skip  # cost from the span's usage
        # Guard on the tool calls a model proposed; whether it judged any (verdicts added).
        self.judge_proposed: Callable[[Span], bool] = _judge_nothing
        self.tool_guard: ToolGuard = _NoGuard()
        self.build_exporters: Callable[[Config], list[Exporter]] = _no_exporters  # by config.exporters
        self.integrations: Callable[[], tuple[str, ...]] = tuple  # names instrument_all() knows


PARTS = Parts()
