"""What tracing costs LangChain's model calls and streams beyond our spans, and that cutting it
changed no answer.

- Before every model call and every step of a streamed runnable, LangChain asks each handler of
  the run whether it is a ``_StreamingCallbackHandler``: a runtime-checkable Protocol, ~100 k
  instructions per handler on Python 3.11. The modules that ask answer for ours at once
  (``_stream_check.py``), and every answer stays the Protocol's.
- Per chunk of a model's stream: the target of the provider call is set only until that call
  claims it, and a run's later tokens are not looked up again once its first output is timed.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.tracers._streaming import _StreamingCallbackHandler
from lc_app import QUESTION, chat_model, rag_chain
from lc_trees import tree
from test_langchain_chain import RAG_TREE

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations.langchain import _patches
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


async def _joined(chunks: Any) -> str:
    return "".join([chunk async for chunk in chunks])


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
        pytest.param(
            lambda chain: asyncio.run(chain.ainvoke(QUESTION)),
            False,
            marks=pytest.mark.default_cassette("rag_chain.yaml"),
        ),
        pytest.param(
            lambda chain: asyncio.run(_joined(chain.astream(QUESTION))),
            True,
            marks=pytest.mark.default_cassette("rag_chain_stream.yaml"),
        ),
    ],
    ids=["invoke", "stream", "ainvoke", "astream"],
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


class _CountingVar:
    """The provider-call target variable, counting how often a stream step sets it."""

    def __init__(self, var: Any) -> None:
        self.var, self.sets = var, 0

    def set(self, value: Any) -> Any:
        self.sets += 1
        return self.var.set(value)

    def reset(self, token: Any) -> None:
        self.var.reset(token)


@pytest.mark.vcr
@pytest.mark.default_cassette("rag_chain_stream.yaml")
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_stream_sets_the_target_only_until_the_provider_call_claims_it(
    traced: InMemoryExporter, monkeypatch: pytest.MonkeyPatch, flavor: str
) -> None:
    counting = _CountingVar(_patches._target)
    monkeypatch.setattr(_patches, "_target", counting)

    async def collect() -> list[str]:
        return [chunk async for chunk in rag_chain().astream(QUESTION)]

    chunks = list(rag_chain().stream(QUESTION)) if flavor == "sync" else asyncio.run(collect())

    assert "".join(chunks) == ANSWER and len(chunks) > 5
    assert counting.sets <= 2  # the step that opens the run and calls the SDK, and at most one more
    (llm,) = [span for span in traced.spans if span.kind == "llm"]  # the provider call still merged
    assert llm.usage is not None and llm.usage.input == 1432 and llm.stream is True


class _CountingRuns(dict):  # type: ignore[type-arg]
    """The handler's runs, counting lookups by run id."""

    def __init__(self, runs: dict[Any, Any]) -> None:
        super().__init__(runs)
        self.looked_up: collections.Counter[Any] = collections.Counter()

    def get(self, key: Any, default: Any = None) -> Any:
        self.looked_up[key] += 1
        return super().get(key, default)


@pytest.mark.vcr
@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_a_runs_later_tokens_are_not_looked_up(
    langchain_only: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _CountingRuns(HANDLER.runs)
    monkeypatch.setattr(HANDLER, "runs", runs)
    tokens: collections.Counter[Any] = collections.Counter()
    on_token = HANDLER.on_llm_new_token

    def counting(token: Any, **kwargs: Any) -> None:
        tokens[kwargs["run_id"]] += 1
        on_token(token, **kwargs)

    monkeypatch.setattr(HANDLER, "on_llm_new_token", counting)

    chunks = list(rag_chain().stream(QUESTION))

    assert "".join(chunks) == ANSWER
    ((model_run, token_count),) = tokens.items()
    assert token_count > 5 and runs.looked_up[model_run] <= 2  # its first tokens, until one has output
    llm = langchain_only.by_name("ChatOpenAI")
    assert llm.stream is True and llm.ttft_ms is not None and 0 < llm.ttft_ms <= llm.duration_ms


@pytest.mark.vcr(allow_playback_repeats=True)
@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_interleaved_streams_each_get_their_first_token_timed(langchain_only: InMemoryExporter) -> None:
    first, second = rag_chain().stream(QUESTION), rag_chain().stream(QUESTION)
    pieces: dict[int, list[str]] = {0: [], 1: []}
    running = {0: first, 1: second}
    while running:  # one chunk of each in turn: their tokens reach the handler interleaved
        for index, stream in list(running.items()):
            try:
                pieces[index].append(next(stream))
            except StopIteration:
                del running[index]

    assert "".join(pieces[0]) == "".join(pieces[1]) == ANSWER
    llms = [span for span in langchain_only.spans if span.name == "ChatOpenAI"]
    assert len(llms) == 2
    assert all(span.stream is True and span.ttft_ms is not None and span.ttft_ms > 0 for span in llms)


@pytest.mark.vcr
@pytest.mark.default_cassette("rag_chain_stream.yaml")
def test_a_stream_closed_early_past_the_claim_ends_every_span(traced: InMemoryExporter) -> None:
    stream = rag_chain().stream(QUESTION)
    assert "".join(next(stream) for _ in range(3)).startswith("The office is ")
    stream.close()

    assert not HANDLER.runs  # every run ended and was exported: the whole tree, one llm span
    assert tree(traced.spans) == RAG_TREE
