"""Pure functions from LlamaIndex objects to span fields: which span kind, inputs, outputs.

Everything here tolerates odd inputs (``None``, objects of other shapes) by returning
``None``: a field we cannot read is left empty, it never breaks the call.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.response_synthesizers.base import BaseSynthesizer

from ..._core.serialize import to_jsonable
from ..._core.span import Usage
from .._attrs import attr

LLM_METHODS = frozenset(
    {"chat", "achat", "stream_chat", "astream_chat", "complete", "acomplete", "stream_complete",
     "astream_complete"}
)  # fmt: skip
EMBEDDING_METHODS = frozenset(
    {"get_query_embedding", "aget_query_embedding", "get_text_embedding", "aget_text_embedding",
     "get_text_embedding_batch", "aget_text_embedding_batch"}
)  # fmt: skip
CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
# (base class, methods that become a span, span kind); first match wins.
_SPAN_METHODS: tuple[tuple[type, frozenset[str], str], ...] = (
    (BaseLLM, LLM_METHODS, "llm"),
    (BaseEmbedding, EMBEDDING_METHODS, "embedding"),
    (BaseRetriever, frozenset({"retrieve", "aretrieve"}), "retriever"),
    (BaseQueryEngine, frozenset({"query", "aquery"}), "chain"),
    (BaseChatEngine, CHAT_METHODS, "chain"),
    (BaseSynthesizer, frozenset({"synthesize", "asynthesize"}), "chain"),
)
_AGENT_CLASSES = ("BaseWorkflowAgent", "AgentWorkflow")  # llama_index.core.agent.workflow
STEP_TAG = "llamaindex.step.input_event"  # set by `workflows` on every step span
MAX_NODES = 20
MAX_NODE_TEXT = 1_000
MAX_CHUNKS = 20

_kind_cache: dict[tuple[type, str], str | None] = {}


def label(span_id: str) -> str:
    """``"OpenAI.chat"`` from LlamaIndex's span id ``"OpenAI.chat-<uuid4>"``."""
    return span_id.partition("-")[0]


def classify(span_id: str, instance: Any, tags: dict[str, Any] | None) -> str | None:
    """The span kind for a LlamaIndex span, ``step`` for a workflow step, ``None`` to skip it."""
    if instance is None:
        return "step" if tags and STEP_TAG in tags else None
    method = label(span_id).rpartition(".")[2]
    key = (type(instance), method)
    try:
        return _kind_cache[key]
    except KeyError:
        pass
    kind = _classify_type(instance, method)
    _kind_cache[key] = kind
    return kind


def agent_name_of(agent: Any) -> str | None:
    """A ``FunctionAgent``/``ReActAgent``'s ``name``; an ``AgentWorkflow``'s root agent."""
    name = attr(agent, "name") or attr(agent, "root_agent")
    return name if isinstance(name, str) and name else None


def _classify_type(instance: Any, method: str) -> str | None:
    for base, methods, kind in _SPAN_METHODS:
        if isinstance(instance, base):
            return kind if method in methods else None
    if method != "run":
        return None
    mro = type(instance).__mro__
    if any(c.__name__ in _AGENT_CLASSES and c.__module__.startswith("llama_index.") for c in mro):
        return "agent"
    if any(c.__name__ == "Workflow" and c.__module__.startswith("workflows") for c in mro):
        return "chain"
    return None


def provider_of(llm: Any) -> str | None:
    """``openai`` for ``llama_index.llms.openai``; used for cost when no provider hook ran."""
    module = type(llm).__module__
    if not module.startswith("llama_index.llms."):
        return None
    name = module.split(".")[2]
    return "azure" if name.startswith("azure") else name


def model_of(component: Any) -> str | None:
    for name in ("model", "model_name"):
        value = attr(component, name)
        if isinstance(value, str) and value:
            return value
    return None


def call_input(kind: str, arguments: dict[str, Any], tags: dict[str, Any] | None) -> Any:
    """What a span's input shows, from the bound arguments of the LlamaIndex call."""
    if kind == "llm":
        if "messages" in arguments:
            return [message_dict(m) for m in arguments["messages"]]
        args = arguments.get("args") or (None,)  # complete() is bound as (_self, *args, **kwargs)
        return arguments.get("prompt", args[0])
    if kind == "embedding":
        for name in ("query", "text", "texts", "queries"):
            if name in arguments:
                value = arguments[name]
                return value[:MAX_CHUNKS] if isinstance(value, list) else value
        return None
    if kind == "step":
        return (tags or {}).get("llamaindex.step.input_summary")
    if kind == "agent" or "start_event" in arguments:
        return _start_event(arguments.get("start_event"))
    for name in ("str_or_query_bundle", "query", "query_str", "message"):
        if name in arguments:
            return query_text(arguments[name])
    return None


def _start_event(event: Any) -> Any:
    if event is None:
        return None
    user_msg = getattr(event, "user_msg", None)
    if user_msg is not None:
        return message_dict(user_msg) if not isinstance(user_msg, str) else user_msg
    return to_jsonable(event)


def query_text(value: Any) -> Any:
    text = getattr(value, "query_str", None)
    return text if isinstance(text, str) else to_jsonable(value)


def message_dict(message: Any) -> dict[str, Any]:
    role = getattr(message, "role", None)
    out: dict[str, Any] = {"role": getattr(role, "value", role), "content": getattr(message, "content", None)}
    calls = tool_calls_of(message)
    if calls:
        out["tool_calls"] = calls
    call_id = (getattr(message, "additional_kwargs", None) or {}).get("tool_call_id")
    if call_id is not None:  # a tool result: which call it answers
        out["tool_call_id"] = call_id
    return out


def tool_calls_of(message: Any) -> list[dict[str, Any]] | None:
    calls = [
        {"id": b.tool_call_id, "name": b.tool_name, "arguments": to_jsonable(b.tool_kwargs)}
        for b in getattr(message, "blocks", None) or ()
        if getattr(b, "block_type", None) == "tool_call"
    ]
    return calls or None


def call_output(kind: str, result: Any) -> Any:
    """What a span's output shows, from the value the LlamaIndex call returned."""
    if result is None:
        return None
    if kind == "retriever":
        return [_node(n) for n in list(result)[:MAX_NODES]]
    if kind == "embedding":
        return _embedding_summary(result)
    if kind == "llm":
        message = attr(result, "message")
        return message_dict(message) if message is not None else attr(result, "text")
    if kind == "step":
        return type(result).__name__
    if not hasattr(result, "response") and hasattr(result, "result"):
        result = result.result  # a workflow's StopEvent; an agent's holds an AgentOutput
    response = attr(result, "response")
    if response is None:
        return "<streaming>" if hasattr(result, "response_gen") else to_jsonable(result)
    return message_dict(response) if hasattr(response, "role") else to_jsonable(response)


def _node(scored: Any) -> dict[str, Any]:
    node = getattr(scored, "node", scored)
    text = getattr(node, "text", None)
    if isinstance(text, str) and len(text) > MAX_NODE_TEXT:
        text = text[:MAX_NODE_TEXT] + "…"
    return {"id": getattr(node, "node_id", None), "score": getattr(scored, "score", None), "text": text}


def _embedding_summary(result: Any) -> dict[str, int] | None:
    if not isinstance(result, list) or not result:
        return None
    if isinstance(result[0], list):
        return {"count": len(result), "dimensions": len(result[0])}
    return {"count": 1, "dimensions": len(result)}


def response_details(response: Any) -> tuple[str | None, Usage | None, str | None]:
    """``(response_model, usage, finish_reason)`` from a Chat/CompletionResponse's ``raw``."""
    raw = getattr(response, "raw", None)
    model = _get(raw, "model")
    usage = read_usage(_get(raw, "usage"))
    finish = None
    choices = _get(raw, "choices")
    if isinstance(choices, list) and choices:
        finish = _get(choices[0], "finish_reason")
    return (model if isinstance(model, str) else None), usage, (finish if isinstance(finish, str) else None)


def read_usage(raw: Any) -> Usage | None:
    """A provider's usage block in a LlamaIndex response's ``raw`` (object or dict) -> ``Usage``."""
    if raw is None:
        return None
    prompt = _get(raw, "prompt_tokens")
    if prompt is None:
        prompt = _get(raw, "input_tokens")
    completion = _get(raw, "completion_tokens")
    if completion is None:
        completion = _get(raw, "output_tokens")
    if not isinstance(prompt, int):
        return None
    return Usage(
        input=prompt,
        output=completion if isinstance(completion, int) else None,
        total=_int(_get(raw, "total_tokens")),
        cache_read=_int(_get(_get(raw, "prompt_tokens_details"), "cached_tokens")),
        reasoning=_int(_get(_get(raw, "completion_tokens_details"), "reasoning_tokens")),
    )


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return attr(obj, name)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def tool_output(result: Any) -> tuple[Any, str | None]:
    """``(output, error message)`` of a ``ToolOutput``; the message is set when ``is_error``."""
    content = getattr(result, "content", None)
    if getattr(result, "is_error", False):
        return content, content if isinstance(content, str) else "tool error"
    return (content if content is not None else to_jsonable(result)), None
