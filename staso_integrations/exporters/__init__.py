"""Exporters: where finished spans and trace summaries go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .console import ConsoleExporter
from .decimalai import DecimalAIExporter
from .jsonl import JsonlExporter
from .memory import InMemoryExporter
from .sqlite import SqliteExporter
from .staso import StasoExporter

if TYPE_CHECKING:
    from .._core.config import Config

__all__ = [
    "ConsoleExporter",
    "DecimalAIExporter",
    "InMemoryExporter",
    "JsonlExporter",
    "SqliteExporter",
    "StasoExporter",
    "build_exporters",
]


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
        elif name == "staso":
            assert config.api_key is not None  # load_config refuses 'staso' without a key
            built.append(
                StasoExporter(
                    config.api_key,
                    config.base_url,
                    compress=config.compress,
                    spool_dir=config.spool_dir,
                    spool_max_bytes=config.spool_max_bytes,
                )
            )
        elif name == "decimalai":
            assert config.decimalai_api_key is not None  # load_config refuses 'decimalai' without a key
            built.append(
                DecimalAIExporter(
                    config.decimalai_api_key,
                    config.decimalai_base_url,
                    spool_dir=config.spool_dir,
                    spool_max_bytes=config.spool_max_bytes,
                )
            )
        elif name == "otlp":
            from .otlp import OtlpExporter  # the OpenTelemetry SDK is an optional extra

            built.append(OtlpExporter(config))
    return built
