"""The Instrumentor base: version check, idempotent instrument, exact uninstrument."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import wrapt

from .._core.internal_errors import contain
from ._patching import Patch

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


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class Instrumentor(ABC):
    """Subclasses set ``name``, ``module`` (what is imported) and ``requires`` (pip ranges)."""

    name: ClassVar[str]
    module: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self._patches_applied: list[Patch] = []
        self._waiting: list[Patch] = []  # ``on_import`` patches whose module is not imported yet
        self._hooked: set[str] = set()
        self._instrumented = False

    def unsupported_reason(self) -> str | None:
        """Why this integration cannot run here, or ``None`` when every requirement is met."""
        for requirement in self.requires:
            distribution, specifier = split_requirement(requirement)
            version = installed_version(distribution)
            if version is None:
                return f"{distribution} not installed"
            if not version_satisfies(version, specifier):
                return f"{distribution} {version} is outside the supported range {specifier}"
        return None

    def instrument(self) -> str:
        """Apply every patch; returns ``instrumented`` or ``skipped: <reason>``. Idempotent."""
        if self._instrumented:
            logger.debug("staso: %s already instrumented", self.name)
            return INSTRUMENTED
        reason = self.unsupported_reason()
        if reason is not None:
            return f"skipped: {reason}"
        try:
            for patch in self._patches():
                if patch.on_import and patch.module not in sys.modules:
                    self._wait_for_import(patch)
                elif patch.apply():
                    self._patches_applied.append(patch)
            self._on_instrument()
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
        self._on_uninstrument()
        self._waiting.clear()
        while self._patches_applied:
            self._patches_applied.pop().revert()

    def _wait_for_import(self, patch: Patch) -> None:
        self._waiting.append(patch)
        if patch.module not in self._hooked:  # wrapt hooks cannot be removed: one per module
            self._hooked.add(patch.module)
            wrapt.when_imported(patch.module)(lambda _module, name=patch.module: self._on_import(name))

    @contain("instrumentor.on_import")
    def _on_import(self, module: str) -> None:
        for patch in [p for p in self._waiting if p.module == module]:
            self._waiting.remove(patch)
            if patch.apply():
                self._patches_applied.append(patch)

    @abstractmethod
    def _patches(self) -> Sequence[Patch]:
        """The wrappers this integration installs."""

    def _on_instrument(self) -> None:
        """Extra set-up that is not an attribute patch (e.g. registering a callback handler)."""

    def _on_uninstrument(self) -> None:
        """Undo ``_on_instrument``."""
