"""Our own bugs never reach the user's code.

``contain`` swallows and logs exceptions raised by instrumentation code. With
``STASO_STRICT=1`` (the test suite sets it) it re-raises them instead, so tests see our bugs.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

logger = logging.getLogger("staso_integrations")

F = TypeVar("F", bound=Callable[..., Any])


def strict_mode() -> bool:
    return os.environ.get("STASO_STRICT", "").lower() in ("1", "true", "yes")


class contain:  # noqa: N801 - used like a function: ``with contain("where"):`` / ``@contain("where")``
    """Context manager and decorator that keeps our exceptions away from user code."""

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        if strict_mode():
            return False
        logger.debug("staso instrumentation error in %s", self.where, exc_info=exc)
        return True

    def __call__(self, fn: F) -> F:
        where = self.where

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:  # free until it raises, where ``with contain(where)`` is an object and two calls
                return fn(*args, **kwargs)
            except Exception:
                with contain(where):
                    raise
            return None

        return guarded  # type: ignore[return-value]
