"""Exporters: where finished spans and trace summaries go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .console import ConsoleExporter
from .jsonl import JsonlExporter
from .memory import InMemoryExporter
from .sqlite import SqliteExporter

if TYPE_CHECKING:
    from .._core.config import Config

__all__ = ["ConsoleExporter", "InMemoryExporter", "JsonlExporter", "SqliteExporter", "build_exporters"]


def build_exporters(config: Config) -> list[Any]:
    """Exporter objects for the names in ``config.exporters`` (validated by ``load_config``)."""
    built: list[Any] = []
    for name in config.exporters:
        if name == "sqlite":
            built.append(SqliteExporter(config.sqlite_path))
        elif name == "jsonl":
            built.append(JsonlExporter(config.jsonl_path))
        elif name == "console":
            built.append(ConsoleExporter())
        elif name == "memory":
            built.append(InMemoryExporter())
    return built
