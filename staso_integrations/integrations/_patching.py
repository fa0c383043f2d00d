"""A patch is one wrapt wrapper on one attribute, revertible to exactly what was there."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wrapt

logger = logging.getLogger("staso_integrations")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass
class Patch:
    """Wrap ``module:path`` (``path`` like ``Class.method``) with a wrapt-style ``wrapper``.

    ``optional`` patches are skipped when the attribute does not exist (older SDK versions).
    ``on_import`` patches of a module not imported yet wait for its import instead of forcing it
    (for SDK modules loaded lazily and costly to load).
    """

    module: str
    path: str
    wrapper: Wrapper
    optional: bool = False
    on_import: bool = False
    _applied: tuple[Any, str, Any, Any, bool] | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return f"{self.module}:{self.path}"

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
        proxy = wrapt.FunctionWrapper(original, self.wrapper)
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
