"""Turn the keyword arguments of a ``messages`` call into what the span records up front."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._core.serialize import to_jsonable
from .._llm import full_content, input_known

# ``BaseClient._gen_ai_provider_name`` (anthropic/_base_client.py) -> our provider names.
_PROVIDERS = {"anthropic": "anthropic", "aws.bedrock": "bedrock", "gcp.vertex_ai": "vertex"}

# Request settings worth keeping in metadata (small scalars or small dicts).
_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "thinking",
    "tool_choice",
    "service_tier",
    "betas",
    "output_config",
)
# Arguments that may be one-shot iterables (``Iterable[...]`` in the SDK signatures).
_ITERABLE_ARGS = ("messages", "tools", "system", "stop_sequences", "betas")


# POST routes of the messages endpoints -> whether it is ``count_tokens``. The beta resource
# posts to the same paths (``?beta=true`` is added later from ``qualifiers``), and Bedrock and
# Vertex rewrite them only inside ``request()`` (``_prepare_options``), after our hook reads them.
_ROUTES = {"/v1/messages": False, "/v1/messages/count_tokens": True}
_BETA_HEADER = "anthropic-beta"


def provider_of(client: Any) -> str:
    """``anthropic``, ``bedrock`` or ``vertex``, from the client (``BaseClient``)."""
    return _PROVIDERS.get(getattr(client, "_gen_ai_provider_name", "anthropic"), "anthropic")


def read_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """``(arguments, is_count_tokens)`` of a ``request(cast_to, options, ...)`` call to a
    messages endpoint, ``None`` for any other request.

    ``options.json_data`` holds the arguments as the user passed them (the SDK prepares the body
    later, inside ``request()``), so the same readers serve both hooks; ``betas`` travel as a
    header and are put back under their argument name.
    """
    options: Any = args[1] if len(args) > 1 else kwargs.get("options")
    count = _ROUTES.get(getattr(options, "url", None))  # type: ignore[arg-type]
    if count is None or options.method.lower() != "post" or not isinstance(options.json_data, dict):
        return None
    arguments = options.json_data
    materialize(arguments)  # in the SDK's own dict, before any copy of it is read
    headers = options.headers
    betas = headers.get(_BETA_HEADER) if isinstance(headers, Mapping) else None
    if isinstance(betas, str):
        arguments = {**arguments, "betas": betas.split(",")}
    return arguments, count


def materialize(kwargs: dict[str, Any]) -> None:
    """Replace one-shot iterators (generators...) by lists, in place, so we can read them too.

    The SDK itself only needs an iterable; a list sends the same JSON body.
    """
    for name in _ITERABLE_ARGS:
        value = kwargs.get(name)
        if (
            value is not None
            and not isinstance(value, (list, tuple, str, Mapping))
            and hasattr(value, "__iter__")
            and not hasattr(value, "__len__")
        ):
            kwargs[name] = list(value)


def record_request(span: Any, kwargs: Mapping[str, Any], capture: bool) -> None:
    """Fill the span's input (system, messages) and metadata (settings, tools)."""
    metadata = span.metadata
    for name in _PARAMS:
        value = kwargs.get(name)
        if value is not None and _given(value):
            metadata[name] = value if isinstance(value, (int, float, str)) else to_jsonable(value)
    tools = kwargs.get("tools")
    if tools is not None and _given(tools):
        if capture:
            metadata["tools"] = to_jsonable(tools)
        else:  # definitions are prompt content; names are not
            metadata["tools"] = [
                {"name": tool.get("name"), "type": tool.get("type")} if isinstance(tool, Mapping) else None
                for tool in tools
            ]
    if not capture or input_known(span):
        return
    request_input: dict[str, Any] = {}
    system = kwargs.get("system")
    if system is not None and _given(system):
        request_input["system"] = full_content(to_jsonable, system)
    request_input["messages"] = full_content(to_jsonable, kwargs.get("messages"))
    span.input = request_input


def _given(value: Any) -> bool:
    # The SDK's ``omit``/``not_given`` sentinels are falsy singletons; user values never are both.
    return type(value).__name__ not in ("Omit", "NotGiven")
