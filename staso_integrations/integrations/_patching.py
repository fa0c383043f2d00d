"""The entries of an Instrumentor's table: what it changes in a library, each revertible exactly.

A :class:`Patch` is one wrapt wrapper on one attribute; a :class:`Setup` is any other change
(a handler registered with the library's own extension point). Both can wait for their module
to be imported (``on_import``) instead of importing it, so set-up never pays for SDK modules
the application has not loaded.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import wrapt

logger = logging.getLogger("staso_integrations")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class Entry(Protocol):
    """One line of an Instrumentor's table."""

    def waits_for(self) -> str | None:
        """The module to wait for when it is not imported yet (``None``: apply at once)."""

    def apply(self) -> bool:
        """Make the change; ``False`` when an optional target is missing."""

    def revert(self) -> None:
        """Undo what ``apply`` did (nothing if it did not run)."""


@dataclass
class Patch:
    """Wrap ``module:path`` (``path`` like ``Class.method``) with a wrapt-style ``wrapper``.

    ``wrapper`` may be a ``"package.module:function"`` name, imported when the patch applies:
    for wrappers whose module imports parts of the SDK that the target module loads anyway.
    ``optional`` patches are skipped when the attribute does not exist (other SDK versions).
    ``on_import`` patches of a module not imported yet wait for its import instead of forcing it
    (for SDK modules loaded lazily and costly to load).
    """

    module: str
    path: str
    wrapper: Wrapper | str
    optional: bool = False
    on_import: bool = False
    _applied: tuple[Any, str, Any, Any, bool] | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return f"{self.module}:{self.path}"

    def waits_for(self) -> str | None:
        return self.module if self.on_import else None

    def apply(self) -> bool:
        """Install the wrapper; ``False`` if an optional target is missing."""
        if self._applied is not None:
            return True
        try:
            parent, attribute, original = wrapt.resolve_path(self.module, self.path)
        except (wrapt.PathResolutionError, wrapt.TargetModuleNotFoundError):
            if self.optional:
                return False
            raise
        owned = not inspect.isclass(parent) or attribute in vars(parent)
        proxy = wrapt.FunctionWrapper(original, _resolved(self.wrapper))
        setattr(parent, attribute, proxy)
        self._applied = (parent, attribute, original, proxy, owned)
        return True

    def revert(self) -> None:
        """Put back the original, unless someone wrapped over us (then leave theirs, log it)."""
        if self._applied is None:
            return
        parent, attribute, original, proxy, owned = self._applied
        self._applied = None
        current = vars(parent).get(attribute) if inspect.isclass(parent) else getattr(parent, attribute, None)
        if current is not proxy:
            logger.warning("staso: %s was re-wrapped by someone else; left in place", self.target)
            return
        if owned:
            setattr(parent, attribute, original)
        else:  # it was inherited: remove our copy so the base class attribute shows through
            delattr(parent, attribute)


@dataclass
class Setup:
    """A change that is not an attribute wrapper: ``install()`` it, ``uninstall()`` to revert.

    With ``after_import``, it waits until that module is imported (then runs right after it).
    """

    install: Callable[[], object]
    uninstall: Callable[[], object]
    after_import: str | None = None
    _applied: bool = field(default=False, repr=False)

    def waits_for(self) -> str | None:
        return self.after_import

    def apply(self) -> bool:
        if not self._applied:
            self.install()
            self._applied = True
        return True

    def revert(self) -> None:
        if self._applied:
            self._applied = False
            self.uninstall()


def in_list(items: list[Any], item: Any, after_import: str | None = None) -> Setup:
    """A :class:`Setup` that appends ``item`` to ``items`` and removes it again."""
    return Setup(lambda: items.append(item), lambda: _remove(items, item), after_import)


def _remove(items: list[Any], item: Any) -> None:
    if item in items:
        items.remove(item)


def _resolved(wrapper: Wrapper | str) -> Wrapper:
    if not isinstance(wrapper, str):
        return wrapper
    module, _, name = wrapper.partition(":")
    found: Wrapper = getattr(importlib.import_module(module), name)
    return found
