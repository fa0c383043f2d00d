"""Configuration: explicit ``init()`` arguments over ``STASO_*`` environment variables.

Every check runs here, at ``init()``, so bad input fails loudly before any call is traced.
One table (:data:`SETTINGS`) says, for each setting, its ``STASO_*`` variable and its check;
a check gets the raw value and where it came from (an environment string or a Python value).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ._checks import (
    Invalid,
    boolean,
    callable_or_none,
    choice,
    credential,
    names,
    number,
    path,
    text,
    url,
    url_is_insecure,
)
from .content import scrub_text
from .parts import PARTS
from .serialize import MAX_STRING

logger = logging.getLogger("staso_integrations")

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
EXPORTERS: tuple[str, ...] = ("sqlite", "console", "jsonl", "memory", "none", "staso", "otlp", "decimalai")
PROCESSORS: tuple[str, ...] = ("batch", "simple")
OTLP_CONVENTIONS: tuple[str, ...] = ("both", "genai", "openinference")  # what the otlp exporter emits
# Exporters that need an optional extra: the modules it installs, and the extra's name.
EXPORTER_EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "otlp": (("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"), "otlp"),
}


def integration_names() -> tuple[str, ...]:
    """What ``instrument_all()`` knows (the registry's names, plugged in by the package)."""
    return PARTS.integrations()


# Read by other modules, not settings of ``init()``; listed so they are not taken for typos.
OTHER_VARIABLES = ("STASO_STRICT",)


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
    decimalai_api_key: str | None = field(default=None, repr=False)  # the DecimalAI SDK's variable
    decimalai_base_url: str = "https://api.decimal.ai"
    allow_insecure_http: bool = False  # plain http:// to a host other than this machine
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
    shutdown_timeout: float = 3.0  # seconds exit (flush + exporter shutdown) may take at most
    otlp_conventions: str = "both"  # OTel GenAI (``gen_ai.*``), OpenInference, or both

    def public_dict(self) -> dict[str, Any]:
        """Settings for display: the API key is reduced to whether it is set, URLs lose credentials."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["api_key"] = "set" if self.api_key else "not set"
        out["base_url"] = scrub_text(self.base_url)
        out["decimalai_api_key"] = "set" if self.decimalai_api_key else "not set"
        out["decimalai_base_url"] = scrub_text(self.decimalai_base_url)
        return out


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``init()`` keyword (a :class:`Config` field), its ``STASO_*`` variable and its check."""

    name: str
    env: str | None
    check: Callable[[Any, bool], Any]  # (value, from_env) -> the validated value, or raise Invalid


SETTINGS: tuple[Setting, ...] = (
    Setting("agent_name", "STASO_AGENT_NAME", text),
    Setting("environment", "STASO_ENVIRONMENT", text),
    Setting("workspace_slug", "STASO_WORKSPACE_SLUG", text),
    Setting("source_type", "STASO_SOURCE_TYPE", choice(SOURCE_TYPES)),
    Setting("session_id", "STASO_SESSION_ID", text),
    Setting("api_key", "STASO_API_KEY", credential),
    Setting("base_url", "STASO_BASE_URL", url),
    Setting("decimalai_api_key", "DECIMAL_API_KEY", credential),
    Setting("decimalai_base_url", "STASO_DECIMALAI_BASE_URL", url),
    Setting("allow_insecure_http", "STASO_ALLOW_INSECURE_HTTP", boolean),
    Setting("exporters", "STASO_EXPORTER", names(EXPORTERS)),
    Setting("sqlite_path", "STASO_SQLITE_PATH", path(directory=False)),
    Setting("jsonl_path", "STASO_JSONL_PATH", path(directory=False)),
    Setting("capture_content", "STASO_CAPTURE_CONTENT", boolean),
    Setting("sample_rate", "STASO_SAMPLE_RATE", number(float, 0.0, 1.0)),
    Setting("keep_errors", "STASO_KEEP_ERRORS", boolean),
    Setting("redact", None, callable_or_none),
    Setting("processor", "STASO_PROCESSOR", choice(PROCESSORS)),
    Setting("disabled_integrations", "STASO_DISABLED_INTEGRATIONS", names(integration_names)),
    Setting("max_queue_size", "STASO_MAX_QUEUE_SIZE", number(int, 1, 10_000_000)),
    Setting("batch_size", "STASO_BATCH_SIZE", number(int, 1, 100_000)),
    Setting("flush_interval_s", "STASO_FLUSH_INTERVAL", number(float, 0.01, 3600.0)),
    Setting("compress", "STASO_COMPRESSION", boolean),
    Setting("spool_dir", "STASO_SPOOL_DIR", path(directory=True)),
    Setting("spool_max_bytes", "STASO_SPOOL_MAX_BYTES", number(int, 0, 10**12)),
    Setting("shutdown_timeout", "STASO_SHUTDOWN_TIMEOUT", number(float, 0.0, 300.0)),
    Setting("llm_content_max_chars", "STASO_LLM_CONTENT_MAX_CHARS", number(int, MAX_STRING, 10**9)),
    Setting("otlp_conventions", "STASO_OTLP_CONVENTIONS", choice(OTLP_CONVENTIONS)),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}
KNOWN_VARIABLES: tuple[str, ...] = tuple(s.env for s in SETTINGS if s.env) + OTHER_VARIABLES


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Merge ``overrides`` (``init()`` keyword arguments, ``None`` = unset) over ``env``.

    Every ``STASO_*`` variable that is set is checked, even one an argument overrides.

    Raises:
        ValueError: one line naming the bad value, where it came from, and what is allowed.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env) if setting.env else None
        if raw is not None and raw.strip() != "":
            values[setting.name] = _checked(setting, setting.env or "", raw, from_env=True)
    for name, value in overrides.items():
        if value is not None:
            values[name] = _checked(_BY_NAME[name], name, value, from_env=False)
    _warn_about_misspelled_variables(env)
    if "exporters" not in values:
        values["exporters"] = _default_exporters(values.get("api_key"), env)
    config = replace(Config(), **values)
    _check_together(config, env)
    return config


def _checked(setting: Setting, label: str, value: Any, *, from_env: bool) -> Any:
    try:
        return setting.check(value, from_env)
    except Invalid as problem:
        origin = "" if label == setting.name else f" (setting {setting.name})"
        raise ValueError(f"{label}={value!r}{origin} {problem}") from None


def _default_exporters(api_key: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """DESIGN.md section 3: ``staso`` with an API key, ``otlp`` with an OTLP endpoint, else ``sqlite``."""
    if api_key:
        return ("staso",)
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ("otlp",)
    return ("sqlite",)


def _check_together(config: Config, env: Mapping[str, str]) -> None:
    """Rules that involve more than one setting, or what is installed."""
    if "staso" in config.exporters and not config.api_key:
        raise ValueError("exporter 'staso' needs an API key: set STASO_API_KEY or init(api_key=...)")
    if "decimalai" in config.exporters and not config.decimalai_api_key:
        raise ValueError("exporter 'decimalai' needs an API key: set DECIMAL_API_KEY")
    insecure = _insecure_destination(config, env)
    if insecure is not None and not config.allow_insecure_http:
        name, url_text, secret = insecure
        raise ValueError(
            f"{name}={_shown(url_text)} is plain http:// to another machine: {secret} would travel in "
            "clear; use https://, or allow it with allow_insecure_http=True (STASO_ALLOW_INSECURE_HTTP=1)"
        )
    for exporter in config.exporters:
        missing = missing_extra(exporter)
        if missing is not None:
            raise ValueError(missing)


def _insecure_destination(config: Config, env: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(setting, URL, what it carries) of an exporter that would send credentials over plain http."""
    if "staso" in config.exporters and url_is_insecure(config.base_url):
        return "base_url", config.base_url, "the API key"
    if "decimalai" in config.exporters and url_is_insecure(config.decimalai_base_url):
        return "decimalai_base_url", config.decimalai_base_url, "the DecimalAI API key"
    if "otlp" in config.exporters:
        for kind in ("TRACES_", ""):
            endpoint = env.get(f"OTEL_EXPORTER_OTLP_{kind}ENDPOINT")
            if endpoint:
                headers = env.get(f"OTEL_EXPORTER_OTLP_{kind}HEADERS") or env.get(
                    "OTEL_EXPORTER_OTLP_HEADERS"
                )
                if headers and url_is_insecure(endpoint):
                    return f"OTEL_EXPORTER_OTLP_{kind}ENDPOINT", endpoint, "OTEL_EXPORTER_OTLP_HEADERS"
                break
    return None


def _shown(url_text: str) -> str:
    return repr(scrub_text(url_text))


def missing_extra(exporter: str) -> str | None:
    """Why ``exporter`` cannot run here (its optional extra is not installed), or ``None``."""
    needs = EXPORTER_EXTRAS.get(exporter)
    if needs is None:
        return None
    modules, extra = needs
    absent = [module for module in modules if not _installed(module)]
    if not absent:
        return None
    return (
        f"exporter {exporter!r} needs the {extra!r} extra ({', '.join(absent)} not installed): "
        f"pip install 'staso-integrations[{extra}]'"
    )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _warn_about_misspelled_variables(env: Mapping[str, str]) -> None:
    """A ``STASO_*`` variable close to a known one is most likely a typo that would be ignored."""
    for name in env:
        if name.startswith("STASO_") and name not in KNOWN_VARIABLES:
            import difflib  # only for an unknown variable: not worth importing at every start

            close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1, cutoff=0.85)
            if close:
                logger.warning("staso: %s is not a setting and is ignored; did you mean %s?", name, close[0])


def split_exporters(exporter: Any) -> tuple[tuple[str, ...], list[Any]]:
    """``init(exporter=...)``: names (checked by :func:`load_config`) and exporter objects.

    Raises:
        ValueError: an item is neither a name nor an object with ``export()`` and ``shutdown()``.
    """
    if exporter is None:
        return (), []
    if isinstance(exporter, str) or not isinstance(exporter, (list, tuple)):
        exporter = [exporter]
    for item in exporter:
        if not isinstance(item, str) and not (
            callable(getattr(item, "export", None)) and callable(getattr(item, "shutdown", None))
        ):
            raise ValueError(  # noqa: TRY004 - bad configuration is a ValueError at init()
                f"exporter={item!r} is neither an exporter name ({', '.join(EXPORTERS)}) "
                "nor an object with export(spans, traces) and shutdown()"
            )
    return tuple(item for item in exporter if isinstance(item, str)), [
        item for item in exporter if not isinstance(item, str)
    ]
