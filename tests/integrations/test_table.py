"""The Instrumentor's table: Setup entries, wrappers named by string, one revert path."""

from __future__ import annotations

import importlib
import itertools
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import wrapt

from staso_integrations.integrations._base import Instrumentor, installed_version
from staso_integrations.integrations._patching import Entry, Patch, Setup, in_list

LIBRARY = """
class Client:
    def ping(self):
        return "pong"
"""
WRAPPERS = """
import sys
LOADED_WITH = sorted(m for m in sys.modules if m.startswith("tablelib_"))

def shout(wrapped, instance, args, kwargs):
    return wrapped(*args, **kwargs).upper()
"""
_counter = itertools.count()


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fake library and a module of wrappers for it, neither imported yet."""
    library, wrappers = f"tablelib_{next(_counter)}", f"tablewrappers_{next(_counter)}"
    (tmp_path / f"{library}.py").write_text(LIBRARY)
    (tmp_path / f"{wrappers}.py").write_text(WRAPPERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield library, wrappers
    sys.modules.pop(library, None)
    sys.modules.pop(wrappers, None)


def _instrumentor(library: str, table: Sequence[Entry]) -> Instrumentor:
    class Table(Instrumentor):
        name = library
        module = library
        requires = ("wrapt>=2",)

        def _patches(self) -> Sequence[Entry]:
            return table

    return Table()


def test_entries_apply_in_order_and_revert_in_reverse(names: tuple[str, str]) -> None:
    library, wrappers = names
    log: list[str] = []
    registered: list[str] = []
    instrumentor = _instrumentor(library, [
        Setup(lambda: log.append("first on"), lambda: log.append("first off")),
        in_list(registered, "resolver"),
        Setup(lambda: log.append("late on"), lambda: log.append("late off"), after_import=library),
        Patch(library, "Client.ping", f"{wrappers}:shout", on_import=True),
    ])  # fmt: skip
    assert instrumentor.instrument() == "instrumented"
    assert (log, registered) == (["first on"], ["resolver"])
    assert library not in sys.modules and wrappers not in sys.modules  # both wait for the import

    module = __import__(library)
    assert module.Client().ping() == "PONG"
    assert log == ["first on", "late on"]
    loaded_with = sys.modules[wrappers].LOADED_WITH
    assert loaded_with == [library]  # the wrappers' module came after its target

    instrumentor.uninstrument()
    assert log == ["first on", "late on", "late off", "first off"]
    assert registered == []
    assert module.Client().ping() == "pong"
    assert not isinstance(module.Client.__dict__["ping"], wrapt.FunctionWrapper)


def test_uninstrument_before_the_import_leaves_waiting_entries_unapplied(names: tuple[str, str]) -> None:
    library, _ = names
    log: list[str] = []
    instrumentor = _instrumentor(
        library, [Setup(lambda: log.append("on"), lambda: log.append("off"), library)]
    )
    instrumentor.instrument()
    instrumentor.uninstrument()
    __import__(library)
    assert log == []
    instrumentor.instrument()  # the import hook registered the first time serves again
    assert log == ["on"]
    instrumentor.uninstrument()
    assert log == ["on", "off"]


def test_a_failing_entry_on_import_never_breaks_the_import_nor_the_others(
    names: tuple[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    library, wrappers = names

    def boom() -> None:
        raise RuntimeError("staso bug")

    instrumentor = _instrumentor(library, [
        Setup(boom, lambda: None, after_import=library),
        Patch(library, "Client.ping", f"{wrappers}:shout", on_import=True),
    ])  # fmt: skip
    instrumentor.instrument()
    with caplog.at_level(logging.DEBUG, logger="staso_integrations"):
        module = __import__(library)
    assert module.Client().ping() == "PONG"
    assert any(record.exc_info for record in caplog.records)
    instrumentor.uninstrument()
    assert module.Client().ping() == "pong"


def test_a_failing_entry_at_instrument_reverts_what_was_applied(names: tuple[str, str]) -> None:
    library, _ = names
    module = __import__(library)
    registered: list[str] = []
    instrumentor = _instrumentor(library, [
        in_list(registered, "x"),
        Patch(library, "Client.ping", lambda w, i, a, k: "patched"),
        Patch(library, "Client.missing", lambda w, i, a, k: None),
    ])  # fmt: skip
    status = instrumentor.instrument()
    assert status.startswith("skipped: error ")
    assert registered == []
    assert module.Client().ping() == "pong"


def test_version_comes_from_the_imported_package_without_a_metadata_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_scan(distribution: str) -> str:
        raise AssertionError("metadata read")

    monkeypatch.setattr(importlib.metadata, "version", no_scan)
    assert installed_version("wrapt", "wrapt") == wrapt.__version__
    monkeypatch.undo()
    assert installed_version("wrapt", "something_else") == importlib.metadata.version("wrapt")
    assert installed_version("no-such-distribution-xyz", "no_such_distribution_xyz") is None


def test_the_langchain_wrappers_named_by_string_exist() -> None:
    from staso_integrations.integrations.langchain import LangChainInstrumentor

    named = [entry.wrapper for entry in LangChainInstrumentor()._patches() if isinstance(entry, Patch)]
    assert len(named) == 12 and all(isinstance(wrapper, str) for wrapper in named)
    for wrapper in named:
        module, _, name = str(wrapper).partition(":")
        assert callable(getattr(importlib.import_module(module), name)), wrapper
