"""staso-integrations: every LLM call, tool call, retrieval, chain step and agent run as spans.

import staso_integrations as st
st.instrument_all()
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import exporters, pricing
from ._core.context import conversation, current_span
from ._core.decorators import agent, span, tool, trace
from ._core.parts import PARTS
from ._core.runtime import flush, get_runtime, init, shutdown, stats
from ._core.span import Span, Usage
from .integrations import _registry

if TYPE_CHECKING:
    from . import guard

# The parts of the pipeline that live outside _core (they import it; it never imports them).
# The guard plugs its own in when it is first imported: before that, no rule exists.
PARTS.price = pricing.price_span
PARTS.build_exporters = exporters.build_exporters
PARTS.integrations = _registry.names

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


def __getattr__(name: str) -> Any:
    if name == "guard":  # imported on first use (st.guard.rule(...))
        return importlib.import_module(f"{__name__}.guard")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
