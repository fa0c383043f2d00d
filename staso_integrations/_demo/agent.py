"""The demo's support agent: LangChain ``create_agent`` over ``ChatOpenAI``, a policy retriever
and two tools. Plain LangChain code: nothing here knows about tracing.

Every turn first retrieves the shop policies matching the question (a ``before_agent``
middleware, so the retrieval is a step of the agent run), then the model may call
``lookup_order`` or ``issue_refund``. Refunds to gift cards fail in the payments service; the
error goes back to the model as an error tool message, so the turn still gets an answer.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import AgentState, create_agent
from langchain.agents.middleware import ModelRequest, ToolErrorMiddleware, before_agent, dynamic_prompt
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.runtime import Runtime

from . import AGENT_NAME

MODEL = "gpt-4o-mini"
SYSTEM_PROMPT = "You are the support agent of Northwind Outfitters. Be brief. Use the tools."

POLICIES = [
    Document(
        id="shipping", page_content="Shipping: orders ship within 24 hours; delivery takes 2-4 business days."
    ),
    Document(
        id="refunds", page_content="Refunds: damaged items are refunded in full within 30 days of delivery."
    ),
    Document(
        id="gift-cards", page_content="Gift cards: purchases paid by gift card are refunded as store credit."
    ),
    Document(
        id="returns", page_content="Returns: unused items can be returned within 30 days for an exchange."
    ),
]

ORDERS = {
    "A-1001": {
        "status": "delivered",
        "delivered_on": "2026-11-20",
        "item": "trail jacket",
        "payment": "gift_card",
    },
}


class PolicyRetriever(BaseRetriever):
    """Policies ranked by how many words of the question they contain (an in-memory index)."""

    docs: list[Document]
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = {w.strip("?.,!").lower() for w in query.split() if len(w) > 3}
        scored = [(sum(w in doc.page_content.lower() for w in words), doc) for doc in self.docs]
        return [doc for score, doc in sorted(scored, key=lambda item: -item[0])[: self.k] if score]


RETRIEVER = PolicyRetriever(docs=POLICIES)


class SupportState(AgentState[Any]):
    policies: str


@before_agent(state_schema=SupportState)
def retrieve_policies(state: SupportState, runtime: Runtime[Any]) -> dict[str, Any]:
    question = state["messages"][-1].content
    docs = RETRIEVER.invoke(str(question))
    return {"policies": "\n".join(doc.page_content for doc in docs)}


@dynamic_prompt
def with_policies(request: ModelRequest) -> str:
    return f"{SYSTEM_PROMPT}\n\nPolicies:\n{request.state.get('policies', '')}"


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Status, item and payment method of an order."""
    if order_id not in ORDERS:
        raise LookupError(f"no order {order_id}")
    return ORDERS[order_id]


@tool
def issue_refund(order_id: str, reason: str) -> str:
    """Refund an order to its original payment method."""
    if ORDERS.get(order_id, {}).get("payment") == "gift_card":
        raise RuntimeError("payments API: refunds to gift cards are not supported (code 4012)")
    return f"refund issued for {order_id}"


def tool_error_to_model(exc: Exception, request: Any) -> str:
    return f"{request.tool_call['name']} failed: {type(exc).__name__}: {exc}"


def support_agent(**model_kwargs: Any) -> Any:
    model = ChatOpenAI(model=MODEL, temperature=0, max_retries=0, **model_kwargs)
    middleware: list[Any] = [retrieve_policies, with_policies, ToolErrorMiddleware(tool_error_to_model)]
    return create_agent(
        model,
        tools=[lookup_order, issue_refund],
        middleware=middleware,
        name=AGENT_NAME,
    )


TURNS = [
    "Where is my order A-1001?",
    "The jacket arrived damaged. Please refund order A-1001.",
]
