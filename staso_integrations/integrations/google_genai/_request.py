"""What one Gemini request is (provider, operation, model) and the input we record.

Read from the keyword arguments of ``Models._generate_content(model=, contents=, config=)``
and ``embed_content``: ``contents`` may be a string, a ``Part``, a ``Content``, a list of any
of these, or their dict forms; ``config`` a ``GenerateContentConfig`` or its dict form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._core.serialize import to_jsonable
from ..._core.span import Span
from .._llm import full_content, input_known
from ._response import field, part_block, role_of

GENERATE = "chat"
EMBED = "embeddings"
# Scalar settings of ``GenerateContentConfig`` / ``EmbedContentConfig`` worth keeping.
_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "max_output_tokens",
    "candidate_count",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_mime_type",
    "cached_content",
    "output_dimensionality",
    "task_type",
)
_STRUCTURED_PARAMS = ("stop_sequences", "thinking_config", "tool_config", "response_modalities")
# ``Tool`` fields other than function declarations: server-side tools, kept by their kind.
_TOOL_KINDS = (
    "google_search",
    "google_search_retrieval",
    "code_execution",
    "url_context",
    "retrieval",
    "file_search",
    "google_maps",
    "computer_use",
    "enterprise_web_search",
)


def provider_of(models: Any) -> str:
    """``vertex`` for a Vertex AI client, else ``google`` (the Gemini API)."""
    return "vertex" if getattr(getattr(models, "_api_client", None), "vertexai", False) else "google"


def model_name(model: Any) -> str | None:
    """``models/gemini-2.5-flash`` or a Vertex resource path -> ``gemini-2.5-flash``."""
    if not isinstance(model, str):
        return None
    if model.startswith(("models/", "publishers/", "projects/")):
        return model.rpartition("models/")[2]
    return model


def record_request(span: Span, operation: str, kwargs: Mapping[str, Any], capture: bool) -> None:
    """Input (when content capture is on), settings and tool definitions."""
    config = kwargs.get("config")
    if config is not None:
        _record_config(span, config, capture)
    if not capture or input_known(span):
        return
    contents = kwargs.get("contents")
    if operation == EMBED:
        span.input = full_content(to_jsonable, contents)
        return
    request_input: dict[str, Any] = {}
    system = field(config, "system_instruction") if config is not None else None
    if system is not None:
        request_input["system"] = full_content(_system, system)
    request_input["messages"] = full_content(messages, contents)
    span.input = request_input


def _record_config(span: Span, config: Any, capture: bool) -> None:
    params = {name: value for name in _PARAMS if (value := field(config, name)) is not None}
    for name in _STRUCTURED_PARAMS:
        value = field(config, name)
        if value is not None:
            params[name] = to_jsonable(value)
    if params:
        span.metadata["params"] = params
    tools = field(config, "tools")
    if tools:
        span.metadata["tools"] = [
            definition for tool in tools for definition in tool_definitions(tool, capture)
        ]


def tool_definitions(tool: Any, capture: bool) -> list[dict[str, Any]]:
    """One entry of ``config.tools`` as function definitions ``{name, description, parameters}``
    (names only without capture), and ``{type}`` for each server-side tool it turns on.
    """
    if callable(tool) and not isinstance(tool, Mapping):  # a Python function (automatic calling)
        name = getattr(tool, "__name__", None)
        return [{"name": name, "type": "function"}]
    out: list[dict[str, Any]] = []
    for declaration in field(tool, "function_declarations") or ():
        if not capture:
            out.append({"name": field(declaration, "name"), "type": "function"})
            continue
        parameters = field(declaration, "parameters") or field(declaration, "parameters_json_schema")
        definition = {
            "name": field(declaration, "name"),
            "description": field(declaration, "description"),
            "parameters": to_jsonable(parameters),
        }
        out.append({key: value for key, value in definition.items() if value is not None})
    out.extend({"type": kind} for kind in _TOOL_KINDS if field(tool, kind) is not None)
    return out


def messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` as ``[{role, content: [blocks]}]``.

    As the SDK reads them (``_transformers.t_contents``): a ``Content`` (or a dict with
    ``parts``/``role``) is one message; strings and parts next to each other make one user
    message.
    """
    if contents is None:
        return []
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    out: list[dict[str, Any]] = []
    loose: list[Any] = []  # blocks of the user message being gathered
    for item in items:
        parts = field(item, "parts") if not isinstance(item, str) else None
        if parts is not None or (not isinstance(item, str) and field(item, "role") is not None):
            if loose:
                out.append({"role": "user", "content": loose})
                loose = []
            out.append(
                {"role": role_of(field(item, "role")), "content": [part_block(p) for p in parts or ()]}
            )
        else:
            loose.append(part_block(item))
    if loose:
        out.append({"role": "user", "content": loose})
    return out


def _system(system: Any) -> Any:
    """A system instruction: a string stays one; a ``Content``/parts become blocks."""
    if isinstance(system, str):
        return to_jsonable(system)
    parts = field(system, "parts")
    items = parts if parts is not None else (system if isinstance(system, (list, tuple)) else [system])
    return [part_block(part) for part in items]
