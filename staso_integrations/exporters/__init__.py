"""Exporters: where finished spans and trace summaries go.

Each exporter's module is imported when it is first used (``init()`` builds only the exporters
it is configured with), so importing the package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._core.config import Config
    from .console import ConsoleExporter
    from .decimalai import DecimalAIExporter
    from .jsonl import JsonlExporter
    from .memory import InMemoryExporter
    from .sqlite import SqliteExporter
    from .staso import StasoExporter

__all__ = [
    "ConsoleExporter",
    "DecimalAIExporter",
    "InMemoryExporter",
    "JsonlExporter",
    "SqliteExporter",
    "StasoExporter",
    "build_exporters",
]

_MODULES = {
    "ConsoleExporter": "console",
    "DecimalAIExporter": "decimalai",
    "InMemoryExporter": "memory",
    "JsonlExporter": "jsonl",
    "SqliteExporter": "sqlite",
    "StasoExporter": "staso",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def build_exporters(config: Config) -> list[Any]:
    """Exporter objects for the names in ``config.exporters`` (validated by ``load_config``)."""
    built: list[Any] = []
    spool: dict[str, Any] = {"spool_dir": config.spool_dir, "spool_max_bytes": config.spool_max_bytes}
    for name in config.exporters:
        if name == "sqlite":
            from .sqlite import SqliteExporter

            built.append(SqliteExporter(config.sqlite_path))
        elif name == "jsonl":
            from .jsonl import JsonlExporter

            built.append(JsonlExporter(config.jsonl_path))
        elif name == "console":
            from .console import ConsoleExporter

            built.append(ConsoleExporter())
        elif name == "memory":
            from .memory import InMemoryExporter

            built.append(InMemoryExporter())
        elif name == "staso":
            from .staso import StasoExporter

            assert config.api_key is not None  # load_config refuses 'staso' without a key
            built.append(StasoExporter(config.api_key, config.base_url, compress=config.compress, **spool))
        elif name == "decimalai":
            from .decimalai import DecimalAIExporter

            assert config.decimalai_api_key is not None  # load_config refuses 'decimalai' without a key
            built.append(DecimalAIExporter(config.decimalai_api_key, config.decimalai_base_url, **spool))
        elif name == "otlp":
            from .otlp import OtlpExporter  # the OpenTelemetry SDK is an optional extra

            built.append(OtlpExporter(config))
    return built
