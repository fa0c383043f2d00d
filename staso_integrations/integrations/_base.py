"""The Instrumentor base: version check, idempotent instrument, exact uninstrument.

Everything an integration changes in a library is an entry of its table (``_patches()``):
attribute wrappers (:class:`Patch`) and other set-up (:class:`Setup`), applied at once or when
their module is imported, and reverted by ``uninstrument()`` in reverse order.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import wrapt

from .._core.internal_errors import contain
from ._patching import Entry

logger = logging.getLogger("staso_integrations")

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")
_CLAUSE = re.compile(r"^(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.\-+]*)$")

INSTRUMENTED = "instrumented"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.end() != len(piece):  # 1.0rc1: stop at the pre-release tag
            break
    return tuple(parts)


def version_satisfies(version: str, specifier: str) -> bool:
    """``specifier`` is a comma-separated list like ``>=2.0,<4``."""
    have = _version_tuple(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ValueError(f"unsupported version clause {clause!r}")
        op, bound = match.group(1), _version_tuple(match.group(2))
        width = max(len(have), len(bound))
        left, right = have + (0,) * (width - len(have)), bound + (0,) * (width - len(bound))
        ok = {
            ">=": left >= right,
            "<=": left <= right,
            ">": left > right,
            "<": left < right,
            "==": left == right,
            "!=": left != right,
        }[op]
        if not ok:
            return False
    return True


def split_requirement(requirement: str) -> tuple[str, str]:
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"bad requirement {requirement!r}")
    return match.group(1), match.group(2)


def installed_version(distribution: str, module: str | None = None) -> str | None:
    """The installed version: the ``__version__`` of ``module`` when it is that distribution's
    package and already imported (reading package metadata scans every path entry), else the
    distribution's metadata.
    """
    if module is not None and _distribution_name(module) == _distribution_name(distribution):
        version = getattr(sys.modules.get(module), "__version__", None)
        if isinstance(version, str):
            return version
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _distribution_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Instrumentor(ABC):
    """Subclasses set ``name``, ``module`` (what is imported) and ``requires`` (pip ranges)."""

    name: ClassVar[str]
    module: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self._applied: list[Entry] = []
        self._waiting: list[tuple[str, Entry]] = []  # entries whose module is not imported yet
        self._hooked: set[str] = set()
        self._instrumented = False

    def unsupported_reason(self) -> str | None:
        """Why this integration cannot run here, or ``None`` when every requirement is met."""
        for requirement in self.requires:
            distribution, specifier = split_requirement(requirement)
            version = installed_version(distribution, self.module)
            if version is None:
                return f"{distribution} not installed"
            if not version_satisfies(version, specifier):
                return f"{distribution} {version} is outside the supported range {specifier}"
        return None

    def instrument(self) -> str:
        """Apply the table; returns ``instrumented`` or ``skipped: <reason>``. Idempotent."""
        if self._instrumented:
            logger.debug("staso: %s already instrumented", self.name)
            return INSTRUMENTED
        reason = self.unsupported_reason()
        if reason is not None:
            return f"skipped: {reason}"
        try:
            for entry in self._patches():
                module = entry.waits_for()
                if module is not None and module not in sys.modules:
                    self._wait_for_import(module, entry)
                elif entry.apply():
                    self._applied.append(entry)
        except Exception as exc:
            self._revert_all()
            logger.warning("staso: instrumenting %s failed", self.name, exc_info=True)
            return f"skipped: error {type(exc).__name__}: {exc}"
        self._instrumented = True
        return INSTRUMENTED

    def uninstrument(self) -> None:
        """Restore exactly what ``instrument()`` replaced."""
        if not self._instrumented:
            return
        self._revert_all()
        self._instrumented = False

    def _revert_all(self) -> None:
        self._waiting.clear()
        while self._applied:
            self._applied.pop().revert()

    def _wait_for_import(self, module: str, entry: Entry) -> None:
        self._waiting.append((module, entry))
        if module not in self._hooked:  # wrapt hooks cannot be removed: one per module
            self._hooked.add(module)
            wrapt.when_imported(module)(functools.partial(self._on_import, module))

    def _on_import(self, module: str, _imported: object) -> None:
        ready = [entry for waits_for, entry in self._waiting if waits_for == module]
        self._waiting = [pair for pair in self._waiting if pair[0] != module]
        for entry in ready:
            with contain("instrumentor.on_import"):
                if entry.apply():
                    self._applied.append(entry)

    @abstractmethod
    def _patches(self) -> Sequence[Entry]:
        """The table: every change this integration makes, in the order it makes them."""
