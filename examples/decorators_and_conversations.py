"""Your own code as spans (``@st.agent``, ``@st.tool``, ``@st.trace``, ``st.span``), OpenAI calls
inside them, and two turns of one conversation.

    python examples/decorators_and_conversations.py           # offline, replays cassettes/examples/
    python examples/decorators_and_conversations.py --live    # real API, needs OPENAI_API_KEY

Two traces share ``conversation_id``, ``user_id`` and ``session_id``; ``turn_index`` is 0 then 1.
"""

from __future__ import annotations

import staso_integrations as st

st.init(agent_name="faq-bot", exporter=["console", "sqlite"], source_type="sandbox")
st.instrument_all()

from _replay import offline_unless_live
from openai import OpenAI

FAQ = {
    "hours": "We are open 9:00-18:00, Monday to Saturday.",
    "parking": "Free parking behind the shop, 20 spaces.",
}


@st.trace(kind="retriever")
def search_faq(question: str) -> list[str]:
    return [text for key, text in FAQ.items() if key in question.lower()]


@st.tool(name="count_words")
def count_words(text: str) -> int:
    return len(text.split())


@st.agent(name="faq-bot")
def answer(client: OpenAI, question: str) -> str:
    context = "\n".join(search_faq(question))
    with st.span("build_prompt", kind="custom") as span:
        prompt = f"Answer in one sentence from this FAQ only:\n{context}\n\nQuestion: {question}"
        span.metadata["context_chars"] = len(context)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
    )
    text = reply.choices[0].message.content or ""
    count_words(text)
    return text


with offline_unless_live("decorators_and_conversations"):
    client = OpenAI(max_retries=0)
    with st.conversation("faq-conv-1", user_id="user-bob", session_id="web-session-7"):
        for question in ("What are your opening hours?", "Is there parking?"):
            print(f"> {question}\n{answer(client, question)}")

st.shutdown()  # flush: the console exporter prints the trace trees
