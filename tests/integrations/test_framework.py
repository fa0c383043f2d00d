"""The integration framework, proven on a small fake library written by the tests."""

from __future__ import annotations

import gc
import itertools
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import wrapt

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations import _registry
from staso_integrations.integrations._base import Instrumentor, version_satisfies
from staso_integrations.integrations._llm import start_llm_span
from staso_integrations.integrations._patching import Patch
from staso_integrations.integrations._stream import AsyncStreamProxy, SyncStreamProxy

FAKE_LIBRARY = """
class Base:
    def ping(self):
        return "pong"

class Client(Base):
    def complete(self, prompt):
        if prompt == "fail":
            raise ValueError("bad prompt")
        return {"text": prompt.upper(), "tokens": len(prompt)}
"""
_counter = itertools.count()


def _complete_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    span = start_llm_span("fake.complete", provider="fake", operation="completion", request_model="m")
    try:
        result = wrapped(*args, **kwargs)
    except Exception as exc:
        span.fail(exc)
        raise
    span.output = result["text"]
    span.end()
    return result


def _make_instrumentor(module: str, requires: tuple[str, ...] = ("wrapt>=2",), broken: bool = False) -> type:
    class FakeInstrumentor(Instrumentor):
        name = module

        def _patches(self) -> Sequence[Patch]:
            if broken:
                raise RuntimeError("integration bug")
            return [
                Patch(module, "Client.complete", _complete_wrapper),
                Patch(module, "Client.ping", lambda w, i, a, k: "patched " + w(*a, **k)),
                Patch(module, "Client.absent", _complete_wrapper, optional=True),
            ]

    FakeInstrumentor.module = module
    FakeInstrumentor.requires = requires
    return FakeInstrumentor


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Writes a fake library (unique name), registers an integration for it, yields its name."""
    name = f"fakellm_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(FAKE_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    holder = types.ModuleType(f"_staso_test_integration_{name}")
    holder.FakeInstrumentor = _make_instrumentor(name)  # type: ignore[attr-defined]
    sys.modules[holder.__name__] = holder
    monkeypatch.setattr(_registry, "REGISTRY", {name: (name, f"{holder.__name__}:FakeInstrumentor")})
    monkeypatch.setattr(_registry, "_instances", {})
    yield name
    st.uninstrument_all()
    sys.modules.pop(name, None)
    sys.modules.pop(holder.__name__, None)


def test_already_imported_library_is_patched_and_traced(fake: str, exporter: InMemoryExporter) -> None:
    module = __import__(fake)
    original = module.Client.__dict__["complete"]
    assert st.instrument_all() == {fake: "instrumented"}
    assert module.Client().complete("hi") == {"text": "HI", "tokens": 2}
    span = exporter.by_name("fake.complete")
    assert (span.kind, span.provider, span.output) == ("llm", "fake", "HI")
    st.uninstrument_all()
    assert module.Client.__dict__["complete"] is original
    assert "ping" not in module.Client.__dict__  # inherited: our copy removed, the base shows through
    assert module.Client().ping() == "pong"


def test_library_imported_later_is_patched_on_import(fake: str, exporter: InMemoryExporter) -> None:
    report = st.instrument_all()
    assert report[fake].startswith("deferred")
    assert fake not in sys.modules  # detection does not import the library
    module = __import__(fake)
    assert isinstance(module.Client.__dict__["complete"], wrapt.FunctionWrapper)
    module.Client().complete("x")
    assert len(exporter.spans) == 1


def test_uninstrument_before_import_cancels_the_hook(fake: str, exporter: InMemoryExporter) -> None:
    st.instrument_all()
    st.uninstrument_all()
    module = __import__(fake)
    assert not isinstance(module.Client.__dict__["complete"], wrapt.FunctionWrapper)


def test_double_instrument_is_a_no_op(fake: str, exporter: InMemoryExporter) -> None:
    module = __import__(fake)
    st.instrument_all()
    st.instrument_all()
    wrapper = module.Client.__dict__["complete"]
    assert not isinstance(wrapper.__wrapped__, wrapt.FunctionWrapper)
    module.Client().complete("x")
    assert len(exporter.spans) == 1


def test_user_exception_passes_unchanged(fake: str, exporter: InMemoryExporter) -> None:
    module = __import__(fake)
    st.instrument_all()
    with pytest.raises(ValueError, match="bad prompt"):
        module.Client().complete("fail")
    assert exporter.spans[0].error == {"type": "ValueError", "message": "bad prompt"}


def test_not_installed_unsupported_broken_and_filtered(monkeypatch: pytest.MonkeyPatch, fake: str) -> None:
    holder = sys.modules[f"_staso_test_integration_{fake}"]
    holder.Old = _make_instrumentor(fake, requires=("wrapt>=99",))  # type: ignore[attr-defined]
    holder.Broken = _make_instrumentor(fake, broken=True)  # type: ignore[attr-defined]
    __import__(fake)
    monkeypatch.setattr(
        _registry,
        "REGISTRY",
        {
            "missing": ("no_such_library_xyz", "nowhere:Nothing"),
            "old": (fake, f"{holder.__name__}:Old"),
            "broken": (fake, f"{holder.__name__}:Broken"),
            "good": (fake, f"{holder.__name__}:FakeInstrumentor"),
            "off": (fake, f"{holder.__name__}:FakeInstrumentor"),
        },
    )
    monkeypatch.setenv("STASO_DISABLED_INTEGRATIONS", "off")
    report = st.instrument_all()
    assert report["missing"] == "skipped: not installed"
    assert report["old"].startswith("skipped: wrapt ") and "outside the supported range >=99" in report["old"]
    assert report["broken"] == "skipped: error RuntimeError: integration bug"
    assert report["good"] == "instrumented"
    assert report["off"] == "skipped: disabled"
    assert st.instrument_all(include=["good"])["old"] == "skipped: not included"
    with pytest.raises(ValueError, match=r"unknown integration\(s\) \['nope'\]; allowed: "):
        st.instrument_all(exclude=["nope"])


def test_revert_leaves_a_wrapper_someone_put_on_top(fake: str, caplog: pytest.LogCaptureFixture) -> None:
    module = __import__(fake)
    patch = Patch(fake, "Client.complete", _complete_wrapper)
    patch.apply()
    wrapt.wrap_function_wrapper(module, "Client.complete", lambda w, i, a, k: w(*a, **k))
    theirs = module.Client.__dict__["complete"]
    patch.revert()
    assert module.Client.__dict__["complete"] is theirs
    assert "re-wrapped by someone else" in caplog.text


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [("3.57.0", ">=2.0,<4", True), ("4.0", ">=2.0,<4", False), ("1.99.9", ">=2.0", False),
     ("0.14.25", ">=0.14,<0.15", True), ("2.0.0rc1", ">=2.0", True), ("1.2", "==1.2.0", True)],
)  # fmt: skip
def test_version_ranges(version: str, spec: str, ok: bool) -> None:
    assert version_satisfies(version, spec) is ok


# --- stream proxies -------------------------------------------------------------------


class FakeStream:
    """Shaped like an SDK stream: iterator, context manager, close(), extra attributes."""

    def __init__(self, items: list[Any], fail_at: int | None = None) -> None:
        self._items = iter(items)
        self._index = 0
        self.fail_at = fail_at
        self.closed = False
        self.response = "http-response"

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> Any:
        if self._index == self.fail_at:
            raise ConnectionError("stream broke")
        self._index += 1
        return next(self._items)

    def __enter__(self) -> FakeStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def text_so_far(self) -> str:
        return "helper"


class AsyncFakeStream:
    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)
        self.closed = False

    def __aiter__(self) -> AsyncFakeStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncFakeStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        self.closed = True


class Collect:
    def __init__(self) -> None:
        self.chunks: list[Any] = []

    def on_chunk(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def on_end(self, span: Any) -> None:
        span.output = "".join(self.chunks)


def _proxy(items: list[Any], **kwargs: Any) -> tuple[SyncStreamProxy, FakeStream]:
    stream = FakeStream(items, **kwargs)
    return SyncStreamProxy(
        stream, start_llm_span("s", provider="p", operation="chat", request_model="m"), Collect()
    ), stream


def test_stream_exhausted_ends_once_leaving_ttft_to_the_handler(exporter: InMemoryExporter) -> None:
    proxy, _ = _proxy(["a", "b"])
    assert list(proxy) == ["a", "b"]
    with pytest.raises(StopIteration):
        next(proxy)
    proxy.close()
    assert len(exporter.spans) == 1
    span = exporter.spans[0]
    # only a provider's handler knows which chunk carried the first output token
    assert span.output == "ab" and span.ttft_ms is None and "stream_closed_early" not in span.metadata


def test_stream_context_manager_returns_the_proxy_and_keeps_sdk_api(exporter: InMemoryExporter) -> None:
    proxy, stream = _proxy(["a", "b", "c"])
    with proxy as entered:
        assert entered is proxy
        assert next(entered) == "a"
        assert entered.response == "http-response" and entered.text_so_far() == "helper"
    assert stream.closed
    span = exporter.spans[0]
    assert span.output == "a" and span.metadata["stream_closed_early"] is True


def test_stream_broken_early_ends_at_garbage_collection(exporter: InMemoryExporter) -> None:
    proxy, _ = _proxy(["a", "b", "c"])
    for chunk in proxy:
        if chunk == "b":
            break
    assert exporter.spans == []
    del proxy
    gc.collect()
    assert len(exporter.spans) == 1 and exporter.spans[0].output == "ab"


def test_stream_iterated_with_no_reference_to_its_proxy_ends_at_exhaustion(
    exporter: InMemoryExporter,
) -> None:
    # ``for c in client.create(stream=True)``: only the loop holds the proxy.
    seen = []
    for chunk in _proxy(["a", "b", "c"])[0]:
        gc.collect()
        seen.append(chunk)
        assert exporter.spans == []
    assert seen == ["a", "b", "c"]
    (span,) = exporter.spans
    assert span.output == "abc" and "stream_closed_early" not in span.metadata


def test_stream_resumed_after_break_keeps_every_chunk_and_ends_once(exporter: InMemoryExporter) -> None:
    # ``for`` runs our generator; breaking out must not end the span while the SDK stream
    # still has chunks: the user may go on with ``next()`` or another loop.
    proxy, _ = _proxy(["a", "b", "c", "d"])
    for chunk in proxy:
        if chunk == "a":
            break
    assert next(proxy) == "b"
    assert exporter.spans == []
    assert list(proxy) == ["c", "d"]
    assert list(proxy) == []
    assert len(exporter.spans) == 1
    span = exporter.spans[0]
    assert span.output == "abcd" and span.status == "ok" and "stream_closed_early" not in span.metadata


def test_stream_error_is_recorded_and_reraised(exporter: InMemoryExporter) -> None:
    proxy, _ = _proxy(["a", "b"], fail_at=1)
    with pytest.raises(ConnectionError, match="stream broke"):
        list(proxy)
    span = exporter.spans[0]
    assert span.status == "error" and span.output == "a"
    proxy.close()
    assert len(exporter.spans) == 1


def test_handler_bug_is_swallowed_and_chunks_still_flow(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemoryExporter
) -> None:
    monkeypatch.delenv("STASO_STRICT")

    class Broken(Collect):
        def on_chunk(self, chunk: Any) -> None:
            raise KeyError("our bug")

    span = start_llm_span("s", provider="p", operation="chat", request_model="m")
    assert list(SyncStreamProxy(FakeStream(["a", "b"]), span, Broken())) == ["a", "b"]
    assert len(exporter.spans) == 1


async def test_async_stream_proxy(exporter: InMemoryExporter) -> None:
    span = start_llm_span("s", provider="p", operation="chat", request_model="m")
    stream = AsyncFakeStream(["x", "y", "z"])
    async with AsyncStreamProxy(stream, span, Collect()) as proxy:
        assert isinstance(proxy, AsyncStreamProxy)
        assert await proxy.__anext__() == "x"
    assert stream.closed
    assert exporter.spans[0].output == "x" and exporter.spans[0].metadata["stream_closed_early"]

    span = start_llm_span("s2", provider="p", operation="chat", request_model="m")
    assert [c async for c in AsyncStreamProxy(AsyncFakeStream(["1", "2"]), span, Collect())] == ["1", "2"]
    assert exporter.by_name("s2").output == "12"


def test_on_import_patch_waits_for_its_module_and_never_imports_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, exporter: InMemoryExporter
) -> None:
    name = f"fakelazy_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(FAKE_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))

    class Lazy(Instrumentor):
        module = name
        requires = ("wrapt>=2",)

        def _patches(self) -> Sequence[Patch]:
            return [Patch(name, "Client.complete", _complete_wrapper, on_import=True)]

    Lazy.name = name
    instrumentor = Lazy()
    assert instrumentor.instrument() == "instrumented"
    assert name not in sys.modules
    module = __import__(name)
    module.Client().complete("x")
    assert len(exporter.spans) == 1
    instrumentor.uninstrument()
    assert not isinstance(module.Client.__dict__["complete"], wrapt.FunctionWrapper)
    sys.modules.pop(name, None)
