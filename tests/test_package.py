from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib

import pytest

import staso_integrations as st
from staso_integrations._core.internal_errors import contain
from staso_integrations.integrations import _registry
from tests.compiled import ASKED, compiled
from tests.conftest import REPO


def test_public_api() -> None:
    assert sorted(st.__all__) == [
        "Span", "Usage", "agent", "conversation", "current_span", "flush", "guard", "init",
        "instrument_all", "shutdown", "span", "stats", "tool", "trace", "uninstrument_all",
    ]  # fmt: skip
    for name in st.__all__:
        assert getattr(st, name) is not None


def test_import_pulls_in_no_sdk_and_no_pricing() -> None:
    heavy = [
        "openai",
        "anthropic",
        "langchain_core",
        "llama_index",
        "genai_prices",
        "httpx2",
        "opentelemetry",
    ]
    code = f"import sys, staso_integrations; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_registry_entry_resolves_and_its_extra_matches_requires() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    all_requirements = {req for reqs in extras.values() for req in reqs}
    for name in _registry.REGISTRY:
        instrumentor = _registry.load_instrumentor(name)
        assert instrumentor.name == name
        for requirement in instrumentor.requires:
            assert requirement in all_requirements, f"{requirement} of {name} is in no extra"


def test_contain_swallows_our_errors_and_strict_mode_reraises(monkeypatch: pytest.MonkeyPatch) -> None:
    @contain("decorated")
    def broken() -> int:
        raise RuntimeError("bug")

    @contain("decorated")
    def working(value: int) -> int:
        return value

    with pytest.raises(KeyError):
        with contain("strict"):
            raise KeyError("bug")
    with pytest.raises(RuntimeError):
        broken()
    monkeypatch.delenv("STASO_STRICT")
    with contain("relaxed"):
        raise KeyError("bug")
    assert broken() is None
    assert working(value=7) == 7


def test_contain_never_swallows_keyboard_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STASO_STRICT")
    with pytest.raises(KeyboardInterrupt):
        with contain("x"):
            raise KeyboardInterrupt

    @contain("decorated")
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()


def test_our_bug_at_span_start_does_not_break_the_user_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from staso_integrations._core import decorators

    monkeypatch.delenv("STASO_STRICT")

    def broken_start(*args: object, **kwargs: object) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(decorators, "start_span", broken_start)

    @st.trace
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    with st.span("block") as s:
        s.output = "still usable"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    command = next(line for line in readme.splitlines() if 'pip install -e ".[test]"' in line)
    assert command in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_build_under_test_is_the_one_staso_compile_asks_for() -> None:
    # STASO_COMPILE=1 (set for CI's compiled run): every listed module is mypyc's extension
    # module; otherwise none is, and an extension module left in the checkout by an editable
    # compiled install (imported in place of the edited source) fails here.
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["staso"]["compiled"]
    names = ["staso_integrations." + path.removesuffix(".py").replace("/", ".") for path in listed]
    assert [name for name in names if compiled(importlib.import_module(name)) != ASKED] == []
