"""staso-integrations: every LLM call, tool call, retrieval, chain step and agent run as spans.

import staso_integrations as st
st.instrument_all()
"""

from __future__ import annotations

from collections.abc import Iterable

from . import exporters, guard, pricing
from ._core.context import conversation, current_span
from ._core.decorators import agent, span, tool, trace
from ._core.parts import plug
from ._core.runtime import flush, get_runtime, init, shutdown, stats
from ._core.span import Span, Usage
from .guard import _engine
from .integrations import _registry

# The parts of the pipeline that live outside _core (they import it; it never imports them).
plug(
    price=pricing.price_span,
    judge_proposed=_engine.judge_proposed,
    tool_guard=_engine.ToolGuard(),
    build_exporters=exporters.build_exporters,
    integrations=_registry.names,
)

__all__ = [
    "Span",
    "Usage",
    "agent",
    "conversation",
    "current_span",
    "flush",
    "guard",
    "init",
    "instrument_all",
    "shutdown",
    "span",
    "stats",
    "tool",
    "trace",
    "uninstrument_all",
]


def instrument_all(
    include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
) -> dict[str, str]:
    """Trace every supported library that is installed, with no other code change.

    Works without ``init()`` (configuration then comes from ``STASO_*`` variables). Libraries
    imported later are patched on import. Calling it again is harmless.

    Args:
        include: only these integrations (names as in the report).
        exclude: not these (``STASO_DISABLED_INTEGRATIONS`` adds to it).

    Returns:
        ``{integration: "instrumented" | "deferred: ..." | "skipped: <reason>"}``.

    Raises:
        ValueError: bad configuration, or an unknown integration name.
    """
    config = get_runtime().config
    return _registry.instrument_all(include, exclude, disabled=config.disabled_integrations)


def uninstrument_all() -> None:
    """Remove every patch ``instrument_all()`` installed, restoring the original objects."""
    _registry.uninstrument_all()
