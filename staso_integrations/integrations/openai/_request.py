"""What one OpenAI request is: its route, provider, model and the input we record.

Read from the SDK's ``FinalRequestOptions`` (``options.json_data`` is the body the SDK is about
to send: already transformed, one-shot iterators already turned into lists, a pydantic
``response_format`` already a JSON schema), so nothing here can consume the user's objects.
"""

from __future__ import annotations

from typing import Any

from ..._core.serialize import to_jsonable
from ..._core.span import Span
from .._llm import full_content, input_known
from ._providers import endpoint_of

# POST path (before Azure's /deployments/{model} rewrite) -> span operation
OPERATIONS = {
    "/chat/completions": "chat",
    "/responses": "responses",
    "/completions": "completion",
    "/embeddings": "embeddings",
}
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # openai/_constants.py
HELPER_HEADER = "X-Stainless-Helper-Method"
# Scalar request settings worth keeping (cheap dict lookups, no serialization).
_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "seed",
    "reasoning_effort",
    "service_tier",
    "parallel_tool_calls",
    "dimensions",
    "encoding_format",
)
_PARAM_NAMES = frozenset(_PARAMS)


class RequestInfo:
    """The parts of one model request the wrapper and the extractors need."""

    __slots__ = ("body", "helper", "model", "operation", "provider", "raw", "server", "stream")

    def __init__(
        self,
        operation: str,
        endpoint: tuple[str, str | None],
        body: dict[str, Any],
        stream: bool,
        headers: Any,
    ) -> None:
        self.operation = operation
        self.provider, self.server = endpoint  # server: a self-hosted one's name (ollama, vllm...)
        self.body = body
        model = body.get("model")
        self.model: str | None = model if isinstance(model, str) else None
        self.stream = stream
        if type(headers) is dict:
            self.raw: str | None = headers.get(RAW_RESPONSE_HEADER)
            self.helper: str | None = headers.get(HELPER_HEADER)
        else:  # NotGiven: the common case
            self.raw = self.helper = None


def read_request(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestInfo | None:
    """``RequestInfo`` for a model call, ``None`` for any other request (files, retrieve...)."""
    options: Any = args[1] if len(args) > 1 else kwargs.get("options")
    operation = OPERATIONS.get(getattr(options, "url", None))  # type: ignore[arg-type]
    if operation is None or options.method.lower() != "post":
        return None
    body = options.json_data
    if not isinstance(body, dict):
        return None
    stream = kwargs["stream"] if "stream" in kwargs else (args[2] if len(args) > 2 else False)
    return RequestInfo(operation, endpoint_of(instance), body, bool(stream), options.headers)


def record_request(span: Span, info: RequestInfo, capture: bool) -> None:
    """Input (when content capture is on), tool definitions and scalar settings."""
    body = info.body
    if capture and not input_known(span):
        span.input = full_content(_input, info.operation, body)
    tools = body.get("tools") or body.get("functions")  # ``functions``: legacy function calling
    if tools:
        span.metadata["tools"] = to_jsonable(tools)
    if not _PARAM_NAMES.isdisjoint(body):  # one C call when the request sets none
        span.metadata["params"] = {name: body[name] for name in _PARAMS if name in body}
    if info.helper is not None:
        span.metadata["helper"] = info.helper
    if info.server is not None:
        span.metadata["server"] = info.server


def _input(operation: str, body: dict[str, Any]) -> Any:
    if operation == "chat":
        return to_jsonable(body.get("messages"))
    if operation == "responses":
        messages: list[Any] = []
        instructions = body.get("instructions")
        if instructions:
            messages.append({"role": "system", "content": to_jsonable(instructions)})
        given = body.get("input")
        if isinstance(given, str):
            messages.append({"role": "user", "content": to_jsonable(given)})
        elif isinstance(given, list):
            messages.extend(to_jsonable(given))
        elif given is not None:
            messages.append(to_jsonable(given))
        return messages
    if operation == "completion":
        return to_jsonable(body.get("prompt"))
    return to_jsonable(body.get("input"))
