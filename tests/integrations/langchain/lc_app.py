"""The LangChain programs the tests run (and the cassettes were made from): real objects only."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import staso_integrations as st

MODEL = "gpt-4o-mini"
QUESTION = "Which city is the office in?"
AGENT_QUESTION = "What's the weather and the local time in Paris?"
ERROR_QUESTION = "What's the weather in Atlantis?"

DOCS = [
    Document(
        id="doc-1",
        page_content="The Acme office is in Lyon, next to the Part-Dieu station.",
        metadata={"source": "handbook.md"},
    ),
    Document(
        id="doc-2",
        page_content="Acme was founded in 2019 and makes weather sensors.",
        metadata={"source": "about.md"},
    ),
    Document(
        id="doc-3",
        page_content="The cafeteria is open from 8:00 to 15:00.",
        metadata={"source": "handbook.md"},
    ),
]


class KeywordRetriever(BaseRetriever):
    """A tiny in-memory retriever: documents ranked by how many query words they contain."""

    docs: list[Document]
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = {w.strip("?.,!").lower() for w in query.split()}
        scored = [(sum(w in doc.page_content.lower() for w in words), doc) for doc in self.docs]
        scored.sort(key=lambda item: -item[0])
        return [
            Document(id=doc.id, page_content=doc.page_content, metadata={**doc.metadata, "score": score})
            for score, doc in scored[: self.k]
        ]


def chat_model(**kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, temperature=0, max_retries=0, stream_usage=True, **kwargs)


def format_docs(docs: list[Document]) -> str:
    return "\n".join(doc.page_content for doc in docs)


def rag_chain(model: Any | None = None) -> Runnable[str, str]:
    """retriever -> prompt -> chat model -> parser."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from the context only.\n\nContext:\n{context}"), ("human", "{question}")]
    )
    retriever = KeywordRetriever(docs=DOCS)
    return (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | prompt
        | (model or chat_model())
        | StrOutputParser()
    )


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    if city == "Atlantis":
        raise LookupError(f"no weather station in {city}")
    with st.span("weather-api", kind="custom"):  # our span inside a LangChain tool
        return f"Sunny, 21°C in {city}"


@tool
def get_local_time(city: str) -> str:
    """Local time in a city, 24-hour clock."""
    return "14:05"


def travel_agent(model: Any | None = None) -> Any:
    return create_agent(
        model or chat_model(),
        tools=[get_weather, get_local_time],
        system_prompt="You are a concise travel assistant. Use the tools.",
        name="travel_agent",
    )


def summarize_directly(answer: str) -> str:
    """A chain step that calls the OpenAI SDK itself (not through LangChain)."""
    import openai

    client = openai.OpenAI(max_retries=0)
    response = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"Summarize in three words: {answer}"}]
    )
    return response.choices[0].message.content or ""


def chain_with_direct_call(model: Any | None = None) -> Runnable[str, str]:
    """prompt -> chat model -> parser -> a step calling OpenAI directly: two llm spans."""
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    return prompt | (model or chat_model()) | StrOutputParser() | RunnableLambda(summarize_directly)


def anthropic_model(**kwargs: Any) -> Any:
    from langchain_anthropic import ChatAnthropic

    return ChatAnthropic(
        model="claude-haiku-4-5-20251001", temperature=0, max_tokens=256, max_retries=0, **kwargs
    )
