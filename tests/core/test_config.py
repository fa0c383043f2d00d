"""Every ``init()`` argument and ``STASO_*`` variable is checked at ``init()``, table-driven."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core.config import (
    SETTINGS,
    SOURCE_TYPES,
    load_config,
)

# (init() keyword, bad value, what the one-line error must say)
BAD_ARGUMENTS: list[tuple[str, Any, str]] = [
    ("capture_content", "false", "capture_content='false' is a str, not a boolean; allowed: True or False"),
    ("capture_content", 0, "capture_content=0 is a int, not a boolean"),
    ("keep_errors", "yes", "keep_errors='yes' is a str, not a boolean"),
    ("allow_insecure_http", 1, "allow_insecure_http=1 is a int, not a boolean"),
    ("sample_rate", 1.5, "sample_rate=1.5 is outside the allowed range 0..1"),
    ("sample_rate", -0.1, "sample_rate=-0.1 is outside the allowed range 0..1"),
    ("sample_rate", float("nan"), "sample_rate=nan is outside the allowed range 0..1"),
    ("sample_rate", "0.5", "sample_rate='0.5' is a str; allowed: a number in 0..1"),
    ("sample_rate", True, "sample_rate=True is a bool; allowed: a number in 0..1"),
    ("source_type", "prod", "source_type='prod' is unknown; allowed: " + ", ".join(SOURCE_TYPES)),
    ("processor", "threaded", "processor='threaded' is unknown; allowed: batch, simple"),
    ("otlp_conventions", "otel", "otlp_conventions='otel' is unknown; allowed: both, genai, openinference"),
    ("exporter", "kafka", "exporters=('kafka',) names unknown 'kafka'; allowed: sqlite, console"),
    ("exporter", 42, "exporter=42 is neither an exporter name (sqlite, console"),
    ("exporter", ["jsonl", object()], "is neither an exporter name"),
    (
        "disabled_integrations",
        "openai,crewai",
        "names unknown 'crewai'; allowed: anthropic, google_genai, langchain, llama_index, openai",
    ),
    ("disabled_integrations", 3, "disabled_integrations=3 is a int; allowed: a name or a list of names"),
    ("environment", "", "environment='' is empty; allowed: a non-empty string"),
    ("environment", 5, "environment=5 is a int; allowed: a non-empty string"),
    ("agent_name", "bot\n", "agent_name='bot\\n' contains a control character"),
    ("api_key", "sk-x\n", "contains a control character"),
    ("api_key", " sk-abc", "api_key=' sk-abc' contains whitespace (pasted with a space?)"),
    ("base_url", "api.staso.ai", "base_url='api.staso.ai' has no http:// or https:// scheme"),
    ("base_url", "ftp://api.staso.ai", "has no http:// or https:// scheme"),
    ("base_url", "https://", "base_url='https://' has no host"),
    ("base_url", "https://host:port", "is not a URL"),
    ("sqlite_path", "", "sqlite_path='' is not a usable path"),
    ("sqlite_path", 7, "sqlite_path=7 is a int; allowed: a path"),
    ("redact", "mask", "redact='mask' is not callable"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_ARGUMENTS, ids=lambda v: repr(v)[:30])
def test_a_bad_argument_is_one_line_naming_value_and_allowed(name: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        st.init(**{name: value})
    text = str(info.value)
    assert message in text and "\n" not in text


# (STASO_* variable, bad value, what the error must say)
BAD_VARIABLES: list[tuple[str, str, str]] = [
    (
        "STASO_CAPTURE_CONTENT",
        "maybe",
        "STASO_CAPTURE_CONTENT='maybe' (setting capture_content) is not a boolean",
    ),
    ("STASO_KEEP_ERRORS", "2", "is not a boolean; allowed: 1, true, yes, on, 0, false, no, off"),
    ("STASO_COMPRESSION", "gzip", "STASO_COMPRESSION='gzip' (setting compress) is not a boolean"),
    ("STASO_ALLOW_INSECURE_HTTP", "sure", "is not a boolean"),
    (
        "STASO_SAMPLE_RATE",
        "1.5",
        "STASO_SAMPLE_RATE='1.5' (setting sample_rate) is outside the allowed range 0..1",
    ),
    ("STASO_SAMPLE_RATE", "half", "STASO_SAMPLE_RATE='half' (setting sample_rate) is not a number"),
    ("STASO_MAX_QUEUE_SIZE", "0", "is outside the allowed range 1..1e+07"),
    ("STASO_BATCH_SIZE", "2.5", "STASO_BATCH_SIZE='2.5' (setting batch_size) is not a whole number"),
    ("STASO_FLUSH_INTERVAL", "0", "is outside the allowed range 0.01..3600"),
    ("STASO_SPOOL_MAX_BYTES", "-1", "is outside the allowed range 0..1e+12"),
    ("STASO_SPOOL_MAX_BYTES", "50MB", "is not a whole number"),
    (
        "STASO_SOURCE_TYPE",
        "nonsense",
        "STASO_SOURCE_TYPE='nonsense' (setting source_type) is unknown; allowed:",
    ),
    ("STASO_PROCESSOR", "fast", "is unknown; allowed: batch, simple"),
    ("STASO_OTLP_CONVENTIONS", "phoenix", "is unknown; allowed: both, genai, openinference"),
    ("STASO_EXPORTER", "sqlite,kafka", "names unknown 'kafka'"),
    ("STASO_DISABLED_INTEGRATIONS", "openai,haystack", "names unknown 'haystack'"),
    ("STASO_BASE_URL", "api.staso.ai/v1", "has no http:// or https:// scheme"),
    ("STASO_API_KEY", "sk-abc\n", "contains a control character (a stray newline?)"),
    ("DECIMAL_API_KEY", "dai-abc\n", "contains a control character (a stray newline?)"),
    ("STASO_DECIMALAI_BASE_URL", "api.decimal.ai", "has no http:// or https:// scheme"),
    ("STASO_SESSION_ID", "s\t1", "contains a control character"),
    ("STASO_WORKSPACE_SLUG", "acme\r\n", "contains a control character"),
    ("STASO_SPOOL_DIR", "/etc/passwd", "STASO_SPOOL_DIR='/etc/passwd' (setting spool_dir) is a file"),
    ("STASO_JSONL_PATH", "/", "STASO_JSONL_PATH='/' (setting jsonl_path) is a directory"),
    ("STASO_SHUTDOWN_TIMEOUT", "-1", "is outside the allowed range 0..300"),
    (
        "STASO_SHUTDOWN_TIMEOUT",
        "soon",
        "STASO_SHUTDOWN_TIMEOUT='soon' (setting shutdown_timeout) is not a number",
    ),
    ("STASO_LLM_CONTENT_MAX_CHARS", "100", "is outside the allowed range 16000..1e+09"),
]


@pytest.mark.parametrize(("variable", "value", "message"), BAD_VARIABLES, ids=lambda v: repr(v)[:30])
def test_a_bad_variable_is_refused_at_instrument_all(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as info:
        st.instrument_all()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_every_setting_is_in_a_table_row() -> None:
    """A new setting must come with a bad-value row above."""
    covered = {row[0] for row in BAD_ARGUMENTS} | {"exporters"}
    variables = {row[0] for row in BAD_VARIABLES}
    for setting in SETTINGS:
        assert setting.name in covered or setting.env in variables, setting.name


def test_a_variable_overridden_by_an_argument_is_still_checked() -> None:
    with pytest.raises(ValueError, match="STASO_CAPTURE_CONTENT='maybe'"):
        load_config(env={"STASO_CAPTURE_CONTENT": "maybe"}, capture_content=False)


def test_disabled_integrations_takes_a_name_a_string_or_a_list() -> None:
    assert load_config(env={}, disabled_integrations="langchain").disabled_integrations == ("langchain",)
    assert load_config(env={}, disabled_integrations="openai, llama-index").disabled_integrations == (
        "openai",
        "llama_index",
    )
    assert load_config(env={}, disabled_integrations=["anthropic"]).disabled_integrations == ("anthropic",)
    config = st.init(disabled_integrations="langchain", exporter="none")
    assert config.disabled_integrations == ("langchain",)  # not ('l', 'a', 'n', ...)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:4318/",
        "http://[::1]:9000",
        "http://api.localhost",
        "https://x.io",
    ],
)
def test_http_to_this_machine_or_https_is_allowed(url: str) -> None:
    assert load_config(env={}, api_key="k", base_url=url).base_url == url.rstrip("/")


def test_plain_http_to_another_host_needs_an_explicit_allowance() -> None:
    with pytest.raises(ValueError) as info:
        load_config(env={"STASO_API_KEY": "k", "STASO_BASE_URL": "http://user:pw@ingest.example.com"})
    message = str(info.value)
    assert "plain http:// to another machine" in message and "allow_insecure_http=True" in message
    assert "pw" not in message  # the URL is shown without its credentials
    allowed = load_config(
        env={"STASO_API_KEY": "k", "STASO_ALLOW_INSECURE_HTTP": "1"}, base_url="http://10.0.0.5"
    )
    assert allowed.base_url == "http://10.0.0.5"
    assert load_config(
        env={}, api_key="k", base_url="http://10.0.0.5", allow_insecure_http=True
    ).allow_insecure_http


def test_otlp_headers_over_plain_http_to_another_host_need_the_allowance() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example.com:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "x=1",
    }
    with pytest.raises(
        ValueError, match="OTEL_EXPORTER_OTLP_ENDPOINT='http://collector.example.com:4318' is plain"
    ):
        load_config(env=env)
    assert load_config(env=env, allow_insecure_http=True).exporters == ("otlp",)
    without_headers = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example.com:4318"}
    assert load_config(env=without_headers).exporters == ("otlp",)  # nothing secret to carry
    assert load_config(env={**env, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}).exporters == (
        "otlp",
    )


def test_paths_of_the_wrong_kind_are_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="sqlite_path=.* is a directory; allowed: a file path"):
        load_config(env={}, sqlite_path=str(tmp_path))
    with pytest.raises(ValueError, match="STASO_SPOOL_DIR=.* is a file; allowed: a directory"):
        load_config(env={"STASO_SPOOL_DIR": str(tmp_path / "file")})
    assert load_config(env={}, sqlite_path=tmp_path / "new.db").sqlite_path == str(tmp_path / "new.db")


def test_a_misspelled_variable_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="staso_integrations"):
        load_config(env={"STASO_CAPTURE_CONTNET": "false", "STASO_SOMETHING_ELSE": "1"})
    assert (
        "STASO_CAPTURE_CONTNET is not a setting and is ignored; did you mean STASO_CAPTURE_CONTENT?"
        in caplog.text
    )
    assert "STASO_SOMETHING_ELSE" not in caplog.text  # not close to any setting: not ours to judge


def test_source_type_allowlist_matches_the_seed_docs() -> None:
    assert SOURCE_TYPES == (
        "production", "sandbox", "test", "eval_replay", "evaluation", "sdk", "manual",
        "synthetic", "development", "sample", "demo",
    )  # fmt: skip


def test_defaults() -> None:
    config = load_config(env={})
    assert config.environment == "default"
    assert config.source_type == "production"
    assert config.exporters == ("sqlite",)
    assert config.capture_content is True


def test_env_vars_are_read_and_arguments_win() -> None:
    env = {
        "STASO_AGENT_NAME": "env-agent",
        "STASO_ENVIRONMENT": "staging",
        "STASO_WORKSPACE_SLUG": "acme",
        "STASO_SOURCE_TYPE": "test",
        "STASO_SESSION_ID": "s-1",
        "STASO_CAPTURE_CONTENT": "false",
        "STASO_SAMPLE_RATE": "0.25",
        "STASO_EXPORTER": "console,jsonl",
        "STASO_DISABLED_INTEGRATIONS": "langchain, llama_index",
        "STASO_MAX_QUEUE_SIZE": "500",
        "STASO_FLUSH_INTERVAL": "0.5",
    }
    config = load_config(env=env, environment="prod")
    assert config.agent_name == "env-agent"
    assert config.environment == "prod"
    assert config.workspace_slug == "acme"
    assert config.source_type == "test"
    assert config.session_id == "s-1"
    assert config.capture_content is False
    assert config.sample_rate == 0.25
    assert config.exporters == ("console", "jsonl")
    assert config.disabled_integrations == ("langchain", "llama_index")
    assert (config.max_queue_size, config.flush_interval_s) == (500, 0.5)


def test_api_key_is_never_shown() -> None:
    config = load_config(env={"STASO_API_KEY": "sk-secret-123"})
    assert "sk-secret-123" not in repr(config)
    assert "sk-secret-123" not in str(config.public_dict())


def test_instrument_all_without_init_uses_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASO_ENVIRONMENT", "ci")
    monkeypatch.setenv("STASO_EXPORTER", "memory")
    report = st.instrument_all()
    assert isinstance(report, dict)
    from staso_integrations._core.runtime import get_runtime

    assert get_runtime().config.environment == "ci"
