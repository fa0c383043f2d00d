"""``staso-integrations demo``: a LangChain support agent, traced into the local store, then shown.

Two turns of one conversation with a ``create_agent`` agent over ``ChatOpenAI`` (a policy
retriever, ``lookup_order``, and ``issue_refund`` that fails on the second turn). Offline by
default: OpenAI's answers are replayed from the cassette bundled in the package, no key and no
network needed. ``--live`` (with ``OPENAI_API_KEY``) runs the same agent against the real API.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from contextlib import nullcontext
from pathlib import Path

import staso_integrations as st

from ._demo import AGENT_NAME
from .exporters._render import render_trace
from .store import TraceFilter, TraceStore

CASSETTE = Path(__file__).parent / "_demo" / "cassettes" / "support_agent.yaml"
INSTALL_HINT = 'pip install "staso-integrations[demo]"'
NEEDS = ("openai", "langchain", "langchain_core", "langchain_openai", "langgraph", "vcr")
CONVERSATION = "demo-conversation"


def missing_dependencies() -> list[str]:
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def run_demo(db: str, live: bool = False) -> int:
    missing = missing_dependencies()
    if missing:
        print(f"the demo needs {', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
        return 1
    if live and not os.environ.get("OPENAI_API_KEY"):
        print("demo --live calls the OpenAI API: set OPENAI_API_KEY (or drop --live)", file=sys.stderr)
        return 1
    st.init(  # the agent name is the graph's own (create_agent(name=...)), as traces list shows it
        exporter="sqlite", sqlite_path=db, source_type="demo", environment="dev", agent_name=AGENT_NAME
    )
    st.instrument_all()

    from langchain_core.messages import HumanMessage

    from ._demo.agent import TURNS, support_agent
    from ._demo.replay import replay

    print(f"support agent, 2 turns, {'live OpenAI API' if live else 'offline (recorded OpenAI answers)'}\n")
    try:
        with nullcontext() if live else replay(CASSETTE):
            agent = support_agent()
            messages: list[object] = []
            with st.conversation(CONVERSATION, user_id="user-alice", session_id="demo-session"):
                for question in TURNS:
                    messages = agent.invoke({"messages": [*messages, HumanMessage(question)]})["messages"]
                    print(f"user:  {question}\nagent: {getattr(messages[-1], 'content', '')}\n")
    except Exception as exc:
        if not live or not _is_openai_error(exc):
            raise
        print(
            f"demo --live could not get an answer from the OpenAI API: {_one_line(exc)} "
            "(check the network and OPENAI_API_KEY, or run the demo offline without --live)",
            file=sys.stderr,
        )
        return 1
    finally:
        st.shutdown()
    _show(db)
    return 0


def _is_openai_error(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.OpenAIError)


def _one_line(exc: BaseException) -> str:
    from ._core.content import scrub_text  # a gateway may echo the key
    from ._core.exporting import describe

    return scrub_text(describe(exc).splitlines()[0])


def _red_errors(tree: str) -> str:
    if not sys.stdout.isatty():
        return tree
    return "\n".join(f"\033[31m{line}\033[0m" if " ERROR " in line else line for line in tree.splitlines())


def _show(db: str) -> None:
    from .cli import DEFAULT_DB, print_traces

    store = TraceStore(db)
    try:
        traces = store.list_traces(TraceFilter(conversation_id=CONVERSATION, limit=2))
        for trace in reversed(traces):
            _, spans = store.get_trace(trace["trace_id"])
            print(_red_errors(render_trace(trace, spans)) + "\n")
    finally:
        store.close()
    db_option = "" if db == DEFAULT_DB else f" --db {shlex.quote(db)}"
    # exactly what the command prints when the user runs it next
    print(f"$ staso-integrations traces list{db_option} --conversation {CONVERSATION} --limit 2")
    print_traces(db, TraceFilter(conversation_id=CONVERSATION, limit=2))
    print(f"\ntraces stored in {db}; see one with: staso-integrations traces show{db_option} last -v")
