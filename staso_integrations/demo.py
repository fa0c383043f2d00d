"""The offline demo: a small support agent, traced into the local store, then shown.

No API key and no network: the agent's steps are plain Python traced with the decorators,
the way ``examples/decorators_and_conversations.py`` shows.
"""

from __future__ import annotations

import staso_integrations as st

from .exporters._render import render_trace
from .store import TraceFilter, TraceStore

_DOCS = {
    "refund": "Refunds are issued to the original payment method within 5 business days.",
    "shipping": "Standard shipping takes 3-5 days; express ships next day.",
}


@st.trace(kind="retriever")
def search_docs(query: str) -> list[dict[str, str]]:
    return [{"id": key, "text": text} for key, text in _DOCS.items() if key in query.lower()]


@st.tool(name="lookup_order")
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": "delivered"}


@st.tool(name="issue_refund")
def issue_refund(order_id: str) -> str:
    if not order_id.startswith("A-"):
        raise ValueError(f"order {order_id!r} is not refundable")
    return f"refund started for {order_id}"


@st.agent(name="support-bot")
def answer(question: str, order_id: str) -> str:
    docs = search_docs(question)
    order = lookup_order(order_id)
    try:
        outcome = issue_refund(order_id)
    except ValueError as exc:
        outcome = f"could not refund: {exc}"
    return f"{docs[0]['text'] if docs else ''} Order {order['status']}; {outcome}."


def run_demo(db: str) -> int:
    st.init(exporter="sqlite", sqlite_path=db, source_type="demo", environment="dev")
    with st.conversation("demo-conversation", user_id="user-alice", session_id="demo-session"):
        answer("How do I get a refund?", "A-1001")
        answer("Refund for my second order please", "B-2002")
    st.shutdown()
    store = TraceStore(db)
    try:
        traces = store.list_traces(TraceFilter(conversation_id="demo-conversation", limit=2))
        for trace in reversed(traces):
            _, spans = store.get_trace(trace["trace_id"])
            print(render_trace(trace, spans) + "\n")
    finally:
        store.close()
    print(f"traces stored in {db}; list them with: staso-integrations traces list")
    return 0
