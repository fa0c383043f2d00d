"""Everything the LlamaIndex integration sets up is an entry of its table, reverted by uninstrument."""

from __future__ import annotations

import inspect
import subprocess
import sys

from llama_index.core.instrumentation import get_dispatcher
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

import staso_integrations as st
from staso_integrations._core import runtime
from staso_integrations.exporters import InMemoryExporter
from staso_integrations.integrations import _llm
from staso_integrations.integrations._registry import load_instrumentor
from staso_integrations.integrations.llama_index import _patches
from staso_integrations.integrations.llama_index._handler import SPANS, StasoEventHandler, StasoSpanHandler


def _state() -> tuple[object, ...]:
    dispatcher = get_dispatcher()
    return (
        [type(h) for h in dispatcher.span_handlers if isinstance(h, StasoSpanHandler)],
        [type(h) for h in dispatcher.event_handlers if isinstance(h, StasoEventHandler)],
        list(runtime.parent_resolvers),
        [t for t in _llm.implicit_targets if t is _patches.claim_llm_span],
        SPANS.enriched_types,
        type(vars(OpenAI)["_chat"]).__name__,
        type(vars(OpenAIEmbedding)["_get_text_embeddings"]).__name__,
    )


def test_every_entry_is_reverted_and_applied_again(exporter: InMemoryExporter) -> None:
    before = _state()
    assert st.instrument_all(include=["llama_index"])["llama_index"] == "instrumented"
    assert _state() == (
        [StasoSpanHandler],
        [StasoEventHandler],
        [SPANS.resolve_parent],
        [_patches.claim_llm_span],
        (OpenAI, OpenAIEmbedding),
        "FunctionWrapper",
        "FunctionWrapper",
    )
    assert not hasattr(load_instrumentor("llama_index"), "_sdk_patches")  # no list beside the table
    st.uninstrument_all()
    assert _state() == before
    assert st.instrument_all(include=["llama_index"])["llama_index"] == "instrumented"
    assert _state()[4] == (OpenAI, OpenAIEmbedding)  # once each, not twice
    st.uninstrument_all()
    assert _state() == before


def test_an_sdk_class_imported_later_is_enriched_then_forgotten() -> None:
    code = inspect.cleandoc(
        """
        import staso_integrations as st
        import llama_index.core
        from staso_integrations.integrations.llama_index._handler import SPANS
        st.instrument_all(include=["llama_index"])
        print(len(SPANS.enriched_types))
        from llama_index.embeddings.openai import OpenAIEmbedding
        print([t.__name__ for t in SPANS.enriched_types])
        st.uninstrument_all()
        print(len(SPANS.enriched_types), type(OpenAIEmbedding.__dict__["_get_text_embeddings"]).__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "['OpenAIEmbedding']", "0", "function"]
