"""Which integrations exist, and ``instrument_all()`` over them.

Entries are strings, so importing this package imports no SDK. A library already imported is
patched at once; one imported later is patched by a ``wrapt.when_imported`` hook.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Iterable

import wrapt

from .._core.internal_errors import contain
from ._base import INSTRUMENTED, Instrumentor

logger = logging.getLogger("staso_integrations")

# name -> (top-level module to detect, "module:Class" of its Instrumentor)
REGISTRY: dict[str, tuple[str, str]] = {
    "openai": ("openai", "staso_integrations.integrations.openai:OpenAIInstrumentor"),
    "anthropic": ("anthropic", "staso_integrations.integrations.anthropic:AnthropicInstrumentor"),
    "google_genai": ("google.genai", "staso_integrations.integrations.google_genai:GoogleGenAIInstrumentor"),
    "langchain": ("langchain_core", "staso_integrations.integrations.langchain:LangChainInstrumentor"),
    "llama_index": ("llama_index.core", "staso_integrations.integrations.llama_index:LlamaIndexInstrumentor"),
}

_instances: dict[str, Instrumentor] = {}
_wanted: set[str] = set()
_hooked: set[str] = set()
_lock = threading.RLock()


def names() -> tuple[str, ...]:
    """Every integration ``instrument_all()`` knows, sorted."""
    return tuple(sorted(REGISTRY))


def load_instrumentor(name: str) -> Instrumentor:
    """The (single) Instrumentor instance for ``name``."""
    with _lock:
        instance = _instances.get(name)
        if instance is None:
            module_name, _, class_name = REGISTRY[name][1].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            instance = _instances[name] = cls()
        return instance


def _is_installed(module: str) -> bool:
    if sys.modules.get(module) is not None:  # imported: no search of the path
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def instrument_all(
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    disabled: Iterable[str] = (),
) -> dict[str, str]:
    """Patch every supported library that is installed; returns ``{name: status}``.

    A status is ``instrumented``, ``deferred: ...`` (patched when first imported) or
    ``skipped: <reason>``. One failing integration never stops the others.
    """
    include_set = set(include) if include is not None else None
    unknown = (include_set or set()) | set(exclude or ())
    unknown -= set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown integration(s) {sorted(unknown)}; allowed: {', '.join(names())}")
    skip = set(exclude or ()) | set(disabled)
    report: dict[str, str] = {}
    for name, (module, _) in REGISTRY.items():
        if include_set is not None and name not in include_set:
            report[name] = "skipped: not included"
        elif name in skip:
            report[name] = "skipped: disabled"
        elif not _is_installed(module):
            report[name] = "skipped: not installed"
        else:
            report[name] = _instrument_or_defer(name, module)
    return report


def _instrument_or_defer(name: str, module: str) -> str:
    with _lock:
        _wanted.add(name)
        if module in sys.modules:
            return _instrument(name)
        if name not in _hooked:
            wrapt.when_imported(module)(functools.partial(_on_import, name))
            _hooked.add(name)
    return f"deferred: instrumented when {module} is imported"


def _instrument(name: str) -> str:
    try:
        return load_instrumentor(name).instrument()
    except Exception as exc:
        logger.warning("staso: could not load the %s integration", name, exc_info=True)
        return f"skipped: error {type(exc).__name__}: {exc}"


@contain("registry.on_import")
def _on_import(name: str, _module: object) -> None:
    with _lock:
        if name in _wanted:
            status = _instrument(name)
            if status != INSTRUMENTED:
                logger.info("staso: %s %s", name, status)


def uninstrument_all() -> None:
    """Remove every patch we installed and cancel pending import hooks."""
    with _lock:
        _wanted.clear()
        for instance in _instances.values():
            with contain("registry.uninstrument"):
                instance.uninstrument()
