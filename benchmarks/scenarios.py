"""Benchmark scenarios: each builds a zero-network callable over a mocked HTTP transport.

A scenario returns ``(call, units)``: ``call()`` performs one SDK call (driving asyncio for
async ones) and ``units`` is the number of stream chunks per call (0 for non-streams).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

STREAM_CHUNKS = 200

_CHAT = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1764000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
_MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hello there!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 3,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    },
}
MESSAGES = [{"role": "user", "content": "Say hello"}]


def _openai_sse() -> bytes:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": "gpt-4o-mini-2024-07-18",
    }
    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    chunks = [{**base, "choices": [first]}]
    chunks.extend(  # + role chunk, finish chunk, usage chunk
        {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
        for i in range(STREAM_CHUNKS - 3)
    )
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
    chunks.append({**base, "choices": [], "usage": _CHAT["usage"]})
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def _anthropic_sse() -> bytes:
    start = {
        **_MESSAGE,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    events = [("message_start", {"type": "message_start", "message": start}), ("content_block_start", block)]
    events.extend(  # + 2 events before the deltas, 3 after
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": text})
        for text in ({"type": "text_delta", "text": f"w{i} "} for i in range(STREAM_CHUNKS - 5))
    )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 3}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


_JSON_TYPE = {"content-type": "application/json"}


def _transport(body: bytes, content_type: str, asynchronous: bool = False) -> Any:
    import httpx2

    def handler(request: Any) -> Any:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    return httpx2.MockTransport(handler)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def openai_create() -> tuple[Callable[[], Any], int]:
    import httpx2
    import openai

    client = openai.OpenAI(
        api_key="bench", http_client=httpx2.Client(transport=_transport(_json(_CHAT), "application/json"))
    )
    return lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES), 0


def openai_create_async() -> tuple[Callable[[], Any], int]:
    import httpx2
    import openai

    client = openai.AsyncOpenAI(
        api_key="bench",
        http_client=httpx2.AsyncClient(transport=_transport(_json(_CHAT), "application/json")),
    )
    loop = asyncio.new_event_loop()
    return lambda: loop.run_until_complete(
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    ), 0


def _openai_stream_call() -> Callable[[], Any]:
    import httpx2
    import openai

    client = openai.OpenAI(
        api_key="bench", http_client=httpx2.Client(transport=_transport(_openai_sse(), "text/event-stream"))
    )
    return lambda: client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )


def openai_stream() -> tuple[Callable[[], Any], int]:
    create = _openai_stream_call()

    def call() -> None:
        for _ in create():
            pass

    return call, STREAM_CHUNKS


def anthropic_create() -> tuple[Callable[[], Any], int]:
    import anthropic
    import httpx2

    client = anthropic.Anthropic(
        api_key="bench", http_client=httpx2.Client(transport=_transport(_json(_MESSAGE), "application/json"))
    )
    return lambda: client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES), 0


def _anthropic_stream_call() -> Callable[[], Any]:
    import anthropic
    import httpx2

    client = anthropic.Anthropic(
        api_key="bench",
        http_client=httpx2.Client(transport=_transport(_anthropic_sse(), "text/event-stream")),
    )
    return lambda: client.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES, stream=True
    )


def anthropic_stream() -> tuple[Callable[[], Any], int]:
    create = _anthropic_stream_call()

    def call() -> None:
        for _ in create():
            pass

    return call, STREAM_CHUNKS


def langchain_tool() -> tuple[Callable[[], Any], int]:
    from langchain_core.tools import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    return lambda: add.invoke({"a": 1, "b": 2}), 0


def langchain_chat() -> tuple[Callable[[], Any], int]:
    import httpx2
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key="bench",
        http_client=httpx2.Client(transport=_transport(_json(_CHAT), "application/json")),
    )
    return lambda: model.invoke("Say hello"), 0


def langchain_chain_stream() -> tuple[Callable[[], Any], int]:
    """A prompt, a chat model and a parser, streamed: LangChain's stream path, step by step."""
    import httpx2
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="gpt-4o-mini",
        api_key="bench",
        stream_usage=True,
        http_client=httpx2.Client(transport=_transport(_openai_sse(), "text/event-stream")),
    )
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | model | StrOutputParser()

    def call() -> None:
        for _ in chain.stream({"question": "Say hello"}):
            pass

    return call, STREAM_CHUNKS


_TOOL_CALL = {
    **_CHAT,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_bench",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
}


def langgraph_agent_turn() -> tuple[Callable[[], Any], int]:
    """One turn of a LangGraph agent (model, tool, model) over a 41-message history: the model
    (``ChatOpenAI``, mocked transport) calls a tool, then answers. Every run of the turn (the
    graph, each node and routing step, each model call) has the whole history as input.
    """
    import httpx2
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return "42"

    def reply(request: Any) -> Any:  # a tool call, then the answer once the tool's result is in
        answered = json.loads(request.content)["messages"][-1]["role"] == "tool"
        return httpx2.Response(200, content=_json(_CHAT if answered else _TOOL_CALL), headers=_JSON_TYPE)

    model = ChatOpenAI(
        model="gpt-4o-mini", api_key="bench", http_client=httpx2.Client(transport=httpx2.MockTransport(reply))
    ).bind_tools([lookup])

    # (annotations LangGraph can resolve: it reads them from this module's globals)
    def agent(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: dict[str, Any]) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([lookup]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    app = graph.compile()
    history: list[Any] = [SystemMessage("You are a helpful assistant.")]
    for i in range(10):
        call = {"id": f"call_{i}", "name": "lookup", "args": {"q": f"q{i}"}}
        history += [HumanMessage(f"question {i}"), AIMessage("", tool_calls=[call]),
                    ToolMessage("42", tool_call_id=f"call_{i}"), AIMessage(f"answer {i}")]  # fmt: skip
    return lambda: app.invoke({"messages": [*history, HumanMessage("and now?")]}), 0


def openai_agent_turn() -> tuple[Callable[[], Any], int]:
    """One turn of an agent written on the OpenAI SDK alone, over the same 41-message history as
    ``langgraph_agent_turn`` (as dicts): the model calls a tool, the tool's result goes back, the
    model answers. Each of the two calls sends the whole history and the tool's schema.
    """
    import httpx2
    import openai

    def reply(request: Any) -> Any:  # a tool call, then the answer once the tool's result is in
        answered = json.loads(request.content)["messages"][-1]["role"] == "tool"
        return httpx2.Response(200, content=_json(_CHAT if answered else _TOOL_CALL), headers=_JSON_TYPE)

    client = openai.OpenAI(api_key="bench", http_client=httpx2.Client(transport=httpx2.MockTransport(reply)))
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tools: Any = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Look it up.", "parameters": schema},
        }
    ]
    history: Any = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(10):
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
        }
        history += [
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "42"},
            {"role": "assistant", "content": f"answer {i}"},
        ]

    def turn() -> None:
        messages = [*history, {"role": "user", "content": "and now?"}]
        while True:
            create = client.chat.completions.create
            reply = create(model="gpt-4o-mini", messages=messages, tools=tools).choices[0].message
            if not reply.tool_calls:
                return
            messages.append(reply.model_dump(exclude_none=True))
            messages += [
                {"role": "tool", "tool_call_id": call.id, "content": "42"} for call in reply.tool_calls
            ]

    return turn, 0


def llama_index_complete() -> tuple[Callable[[], Any], int]:
    from llama_index.core.llms import MockLLM

    llm = MockLLM(max_tokens=8)
    return lambda: llm.complete("Say hello"), 0


def llama_index_retrieve() -> tuple[Callable[[], Any], int]:
    from llama_index.core import Document, MockEmbedding, VectorStoreIndex

    docs = [Document(text=f"document number {i} about topic {i % 7}") for i in range(50)]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    retriever = index.as_retriever(similarity_top_k=3)
    return lambda: retriever.retrieve("topic 3"), 0


SCENARIOS: dict[str, Callable[[], tuple[Callable[[], Any], int]]] = {
    "openai create (sync)": openai_create,
    "openai create (async)": openai_create_async,
    "openai stream + usage": openai_stream,
    "anthropic create": anthropic_create,
    "anthropic stream": anthropic_stream,
    "langchain tool invoke": langchain_tool,
    "langchain chat invoke": langchain_chat,
    "langchain chain stream": langchain_chain_stream,
    "langgraph agent turn": langgraph_agent_turn,
    "openai agent turn": openai_agent_turn,
    "llama_index complete": llama_index_complete,
    "llama_index retrieve": llama_index_retrieve,
}


def stream_call(api: str) -> Callable[[], Any]:
    """One uninstrumented stream call of ``api`` (``"openai chat"`` or ``"anthropic messages"``),
    as the stream scenarios make it: it returns the SDK's stream object."""
    return {"openai chat": _openai_stream_call, "anthropic messages": _anthropic_stream_call}[api]()
