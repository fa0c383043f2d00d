"""A LlamaIndex RAG query, traced with no change to the LlamaIndex code.

    python examples/llamaindex_rag.py           # offline, replays cassettes/examples/
    python examples/llamaindex_rag.py --live    # real API, needs OPENAI_API_KEY

Needs the LlamaIndex packages (``pip install -e ".[llama-index-test]"``: llama-index-llms-openai
0.8 pins ``openai<3``). The tree shows the index build (an ``embedding`` span), the query
engine (``chain``), the retriever with its nodes and scores, the query embedding and one
``llm`` span for the answer, with OpenAI's exact usage and cost.
"""

from __future__ import annotations

import staso_integrations as st

st.init(agent_name="rag-bot", exporter=["console", "sqlite"], source_type="sandbox")
st.instrument_all()

from _replay import offline_unless_live
from llama_index.core import Document, VectorStoreIndex
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

DOCUMENTS = [
    Document(text="Paris is the capital of France. It is known for the Eiffel Tower.", id_="doc-paris"),
    Document(text="Rome is the capital of Italy. It is known for the Colosseum.", id_="doc-rome"),
    Document(
        text="Berlin is the capital of Germany. It is known for the Brandenburg Gate.", id_="doc-berlin"
    ),
]

with offline_unless_live("llamaindex_rag"):
    with st.span("rag", kind="chain"):
        embed_model = OpenAIEmbedding(model="text-embedding-3-small", dimensions=3, max_retries=0)
        index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=embed_model)
        llm = OpenAI(
            model="gpt-4o-mini", temperature=0, max_retries=0,
            additional_kwargs={"stream_options": {"include_usage": True}},
        )  # fmt: skip
        answer = index.as_query_engine(llm=llm, similarity_top_k=2).query(
            "What is the capital of France known for?"
        )
    print(answer)

st.shutdown()  # flush: the console exporter prints the tree
