"""Before every model call and every step of a streamed runnable, LangChain asks each handler of
the run whether it is a ``_StreamingCallbackHandler``: a runtime-checkable Protocol, ~100 k
instructions per handler on Python 3.11. The modules that ask answer for ours at once
(``_stream_check.py``), and every answer stays the Protocol's."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from lc_app import QUESTION, chat_model, rag_chain

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations.langchain._callback import HANDLER

ASKING = ("langchain_core.language_models.chat_models", "langchain_core.runnables.base")

ANSWER = "The office is in Lyon, next to the Part-Dieu station."


class _Plain(BaseCallbackHandler):
    """A handler of the user's that does not stream."""


class _Tapping(BaseCallbackHandler):
    """A streaming handler, as LangChain's event-stream and log tracers are."""

    def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
        return output

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output


class _Subclassing(BaseCallbackHandler, _StreamingCallbackHandler[Any]):
    """A streaming handler by inheritance, as LangGraph's are."""

    def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
        return output

    def tap_output_iter(self, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
        return output


def _manager(handlers: Any) -> CallbackManagerForLLMRun:
    return CallbackManagerForLLMRun(run_id=uuid4(), handlers=handlers, inheritable_handlers=[])


@pytest.mark.parametrize("async_api", [False, True])
@pytest.mark.parametrize(
    "kinds",
    [(), (_Plain,), (_Tapping,), (_Plain, _Tapping)],
    ids=lambda kinds: "+".join(kind.__name__ for kind in kinds) or "ours alone",
)
def test_whether_a_call_streams_is_langchains_answer(
    langchain_only: InMemoryExporter, kinds: tuple[type, ...], async_api: bool
) -> None:
    model = chat_model()
    others = [kind() for kind in kinds]
    streams = _Tapping in kinds
    for handlers in ([HANDLER, *others], [*others, HANDLER], others):
        assert model._should_stream(async_api=async_api, run_manager=_manager(handlers)) is streams


@pytest.mark.parametrize("module", ASKING)
def test_the_stand_in_answers_as_the_protocol_does(langchain_only: InMemoryExporter, module: str) -> None:
    stand_in = importlib.import_module(module)._StreamingCallbackHandler
    assert stand_in is not _StreamingCallbackHandler
    for value in (HANDLER, _Plain(), _Tapping(), _Subclassing(), object(), None, BaseChatModel):
        assert isinstance(value, stand_in) is isinstance(value, _StreamingCallbackHandler), value
    for kind in (type(HANDLER), _Plain, _Tapping, _Subclassing, object):
        assert issubclass(kind, stand_in) is issubclass(kind, _StreamingCallbackHandler), kind


def test_uninstrument_gives_the_modules_the_protocol_back(langchain_only: InMemoryExporter) -> None:
    modules = [importlib.import_module(name) for name in ASKING]
    st.uninstrument_all()
    assert all(module._StreamingCallbackHandler is _StreamingCallbackHandler for module in modules)
    st.instrument_all(include=["langchain"])
    stand_ins = [module._StreamingCallbackHandler for module in modules]
    st.instrument_all(include=["langchain"])  # idempotent: no stand-in for a stand-in
    assert [module._StreamingCallbackHandler for module in modules] == stand_ins
    assert all(stand_in.protocol is _StreamingCallbackHandler for stand_in in stand_ins)


@pytest.mark.vcr
@pytest.mark.parametrize(
    ("run", "streamed"),
    [
        pytest.param(
            lambda chain: chain.invoke(QUESTION), False, marks=pytest.mark.default_cassette("rag_chain.yaml")
        ),
        pytest.param(
            lambda chain: "".join(chain.stream(QUESTION)),
            True,
            marks=pytest.mark.default_cassette("rag_chain_stream.yaml"),
        ),
    ],
    ids=["invoke", "stream"],
)
def test_our_handler_is_not_asked_whether_it_streams(
    traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, run: Callable[[Any], str], streamed: bool
) -> None:
    asked: list[Any] = []
    protocol_meta = type(_StreamingCallbackHandler)
    check = protocol_meta.__instancecheck__

    def recording(cls: type, instance: Any) -> bool:
        asked.append(instance)
        return check(cls, instance)

    monkeypatch.setattr(protocol_meta, "__instancecheck__", recording)
    assert run(rag_chain()) == ANSWER

    assert not [instance for instance in asked if instance is HANDLER]
    assert traced.by_name("ChatOpenAI").stream is streamed


@pytest.mark.vcr
@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_a_streaming_handler_of_the_users_still_makes_the_call_stream(traced: InMemoryExporter) -> None:
    async def events() -> list[dict[str, Any]]:
        return [event async for event in rag_chain().astream_events(QUESTION, version="v2")]

    seen = asyncio.run(events())

    pieces = [event["data"]["chunk"].content for event in seen if event["event"] == "on_chat_model_stream"]
    assert "".join(pieces) == ANSWER
    assert traced.by_name("ChatOpenAI").stream is True
