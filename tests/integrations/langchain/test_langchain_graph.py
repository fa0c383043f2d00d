"""Plain LangGraph graphs: nodes are chain spans, our spans inside a node nest under it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from lc_trees import tree

import staso_integrations as st
from staso_integrations.exporters import InMemoryExporter


class State(TypedDict):
    value: int


def _graph() -> object:
    def double(state: State) -> State:
        with st.span("inside-node", kind="custom"):
            return {"value": state["value"] * 2}

    async def increment(state: State) -> State:
        with st.span("inside-async-node", kind="custom"):
            await asyncio.sleep(0)
            return {"value": state["value"] + 1}

    builder = StateGraph(State)
    builder.add_node("double", double)
    builder.add_node("increment", increment)
    builder.add_edge(START, "double")
    builder.add_edge("double", "increment")
    builder.add_edge("increment", END)
    return builder.compile(name="math_graph")


GRAPH_TREE = [
    ("chain", "math_graph", [
        ("chain", "double", [("custom", "inside-node", [])]),
        ("chain", "increment", [("custom", "inside-async-node", [])]),
    ]),
]  # fmt: skip


async def test_graph_nodes_are_chains_and_contain_our_spans(langchain_only: InMemoryExporter) -> None:
    assert await _graph().ainvoke({"value": 3}) == {"value": 7}  # type: ignore[attr-defined]
    assert tree(langchain_only.spans) == GRAPH_TREE
    node = next(s for s in langchain_only.spans if s.name == "double")
    assert node.metadata == {"langgraph_node": "double", "langgraph_step": 1}
    assert node.input == {"value": 3} and node.output == {"value": 6}


def test_langgraph_imported_after_instrument_is_patched_too() -> None:
    script = textwrap.dedent(
        """
        import sys
        import staso_integrations as st
        from staso_integrations.exporters import InMemoryExporter
        memory = InMemoryExporter()
        st.init(exporter=memory, processor="simple")
        import langchain_core.runnables
        assert "langgraph" not in sys.modules
        assert st.instrument_all(include=["langchain"])["langchain"] == "instrumented"
        from langgraph.graph import StateGraph, START, END
        from typing import TypedDict
        class S(TypedDict):
            v: int
        def node(s):
            with st.span("mine"):
                return {"v": 1}
        b = StateGraph(S); b.add_node("n", node); b.add_edge(START, "n"); b.add_edge("n", END)
        b.compile().invoke({"v": 0})
        by_name = {s.name: s for s in memory.spans}
        assert by_name["mine"].parent_span_id == by_name["n"].span_id, by_name
        st.uninstrument_all()
        from langgraph._internal import _runnable
        assert not hasattr(_runnable._set_config_context, "__wrapped__")
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_completion_llms_are_llm_spans(langchain_only: InMemoryExporter) -> None:
    from langchain_core.language_models.fake import FakeListLLM

    llm = FakeListLLM(responses=["Lyon", "Paris"])
    assert llm.invoke("Where is the office?") == "Lyon"
    assert "".join(llm.stream("And the shop?")) == "Paris"
    first, second = sorted(langchain_only.spans, key=lambda s: s.start_ns)
    assert (first.kind, first.operation, first.input, first.output) == (
        "llm",
        "completion",
        "Where is the office?",
        "Lyon",
    )
    assert (second.kind, second.input, second.output) == ("llm", "And the shop?", "Paris")
