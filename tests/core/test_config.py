from __future__ import annotations

import pytest

import staso_integrations as st
from staso_integrations._core.config import SOURCE_TYPES, load_config


def test_unknown_source_type_names_the_value_and_every_allowed_one() -> None:
    with pytest.raises(ValueError) as info:
        st.init(source_type="prod")
    message = str(info.value)
    assert "'prod'" in message
    for allowed in SOURCE_TYPES:
        assert allowed in message


def test_source_type_allowlist_matches_the_seed_docs() -> None:
    assert SOURCE_TYPES == (
        "production", "sandbox", "test", "eval_replay", "evaluation", "sdk", "manual",
        "synthetic", "development", "sample", "demo",
    )  # fmt: skip


@pytest.mark.parametrize("rate", ["1.5", "-0.1", "half"])
def test_sample_rate_outside_0_1_is_rejected_at_init(rate: str) -> None:
    with pytest.raises(ValueError, match=f"sample_rate '{rate}'"):
        load_config(env={"STASO_SAMPLE_RATE": rate})


def test_unknown_exporter_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown exporter 'kafka'; allowed: .*sqlite.*console"):
        st.init(exporter="kafka")


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


def test_bad_boolean_env_names_the_variable() -> None:
    with pytest.raises(ValueError, match="STASO_CAPTURE_CONTENT='maybe'"):
        load_config(env={"STASO_CAPTURE_CONTENT": "maybe"})


def test_api_key_is_never_shown() -> None:
    config = load_config(env={"STASO_API_KEY": "sk-secret-123"})
    assert "sk-secret-123" not in repr(config)
    assert "sk-secret-123" not in str(config.public_dict())


def test_bad_env_fails_at_instrument_all_not_inside_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASO_SOURCE_TYPE", "nonsense")
    with pytest.raises(ValueError, match="unknown source_type 'nonsense'"):
        st.instrument_all()


def test_instrument_all_without_init_uses_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASO_ENVIRONMENT", "ci")
    monkeypatch.setenv("STASO_EXPORTER", "memory")
    report = st.instrument_all()
    assert isinstance(report, dict)
    from staso_integrations._core.runtime import get_runtime

    assert get_runtime().config.environment == "ci"
