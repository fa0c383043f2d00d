"""Configuration: explicit ``init()`` arguments over ``STASO_*`` environment variables.

Every check runs here, at ``init()``, so bad input fails loudly before any call is traced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .serialize import MAX_STRING

SOURCE_TYPES: tuple[str, ...] = (
    "production",
    "sandbox",
    "test",
    "eval_replay",
    "evaluation",
    "sdk",
    "manual",
    "synthetic",
    "development",
    "sample",
    "demo",
)
EXPORTERS: tuple[str, ...] = ("sqlite", "console", "jsonl", "memory", "none", "staso", "otlp")
PROCESSORS: tuple[str, ...] = ("batch", "simple")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings; build with :func:`load_config`."""

    agent_name: str | None = None
    environment: str = "default"
    workspace_slug: str | None = None
    source_type: str = "production"
    session_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str = "https://api.staso.ai"
    exporters: tuple[str, ...] = ("sqlite",)
    sqlite_path: str = ".staso/traces.db"
    jsonl_path: str = ".staso/traces.jsonl"
    capture_content: bool = True
    llm_content_max_chars: int = 1_000_000  # cap per string of an llm span's messages (others: 16,000)
    sample_rate: float = 1.0
    keep_errors: bool = False
    redact: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, compare=False)
    processor: str = "batch"
    disabled_integrations: tuple[str, ...] = ()
    max_queue_size: int = 10_000
    batch_size: int = 256
    flush_interval_s: float = 1.0
    compress: bool = True  # gzip request bodies of the ``staso`` exporter
    spool_dir: str = ".staso/spool"  # batches the ``staso`` exporter could not deliver yet
    spool_max_bytes: int = 50_000_000

    def public_dict(self) -> dict[str, Any]:
        """Settings for display: the API key is reduced to whether it is set."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["api_key"] = "set" if self.api_key else "not set"
        return out


def _env_bool(name: str, env: Mapping[str, str]) -> bool | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean; use one of {_TRUE + _FALSE}")


def _env_list(raw: str | None) -> tuple[str, ...] | None:
    if raw is None or raw.strip() == "":
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _as_tuple(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value)


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Merge ``overrides`` (``init()`` keyword arguments, ``None`` = unset) over ``env``.

    Raises:
        ValueError: a value is outside its allowed set, naming the value and the allowed ones.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    from_env = {
        "agent_name": env.get("STASO_AGENT_NAME") or None,
        "environment": env.get("STASO_ENVIRONMENT") or None,
        "workspace_slug": env.get("STASO_WORKSPACE_SLUG") or None,
        "source_type": env.get("STASO_SOURCE_TYPE") or None,
        "session_id": env.get("STASO_SESSION_ID") or None,
        "api_key": env.get("STASO_API_KEY") or None,
        "base_url": env.get("STASO_BASE_URL") or None,
        "exporters": _env_list(env.get("STASO_EXPORTER")),
        "capture_content": _env_bool("STASO_CAPTURE_CONTENT", env),
        "llm_content_max_chars": env.get("STASO_LLM_CONTENT_MAX_CHARS") or None,
        "sample_rate": env.get("STASO_SAMPLE_RATE") or None,
        "keep_errors": _env_bool("STASO_KEEP_ERRORS", env),
        "disabled_integrations": _env_list(env.get("STASO_DISABLED_INTEGRATIONS")),
        "sqlite_path": env.get("STASO_SQLITE_PATH") or None,
        "compress": _env_bool("STASO_COMPRESSION", env),
        "spool_dir": env.get("STASO_SPOOL_DIR") or None,
        "spool_max_bytes": env.get("STASO_SPOOL_MAX_BYTES") or None,
    }
    for key, value in from_env.items():
        if value is not None:
            values[key] = value
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    if "exporters" not in values:
        values["exporters"] = _default_exporters(values.get("api_key"), env)
    return _validated(replace(Config(), **values))


def _default_exporters(api_key: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """DESIGN.md section 3: ``staso`` with an API key, ``otlp`` with an OTLP endpoint, else ``sqlite``."""
    if api_key:
        return ("staso",)
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ("otlp",)
    return ("sqlite",)


def _validated(config: Config) -> Config:
    if config.source_type not in SOURCE_TYPES:
        raise ValueError(
            f"unknown source_type {config.source_type!r}; allowed: {', '.join(SOURCE_TYPES)}"
        )
    exporters = _as_tuple(config.exporters)
    for name in exporters:
        if name not in EXPORTERS:
            raise ValueError(f"unknown exporter {name!r}; allowed: {', '.join(EXPORTERS)}")
    try:
        rate = float(config.sample_rate)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_rate {config.sample_rate!r} is not a number between 0 and 1"
        ) from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sample_rate {config.sample_rate!r} is outside the allowed range 0..1")
    if "staso" in exporters and not config.api_key:
        raise ValueError("exporter 'staso' needs an API key: set STASO_API_KEY or init(api_key=...)")
    try:
        spool_max_bytes = int(config.spool_max_bytes)
    except (TypeError, ValueError):
        raise ValueError(f"spool_max_bytes {config.spool_max_bytes!r} is not a whole number of bytes") from None
    if config.processor not in PROCESSORS:
        raise ValueError(f"unknown processor {config.processor!r}; allowed: {', '.join(PROCESSORS)}")
    if config.redact is not None and not callable(config.redact):
        raise ValueError(f"redact must be a callable taking and returning a span dict, got {config.redact!r}")
    if not config.environment or not isinstance(config.environment, str):
        raise ValueError(f"environment {config.environment!r} must be a non-empty string")
    return replace(
        config,
        exporters=exporters,
        sample_rate=rate,
        spool_max_bytes=spool_max_bytes,
        llm_content_max_chars=_llm_content_max_chars(config.llm_content_max_chars),
        disabled_integrations=_as_tuple(config.disabled_integrations),
    )


def _llm_content_max_chars(value: Any) -> int:
    try:
        chars = int(value)
    except (TypeError, ValueError):
        chars = -1
    if chars < MAX_STRING or isinstance(value, (bool, float)):
        raise ValueError(
            f"llm_content_max_chars {value!r} must be a whole number of characters >= {MAX_STRING}"
            " (the cap of other strings)"
        )
    return chars
