"""Which provider serves an OpenAI SDK client, read from its base URL once per client.

``OpenAI(base_url=...)`` reaches Groq, DeepSeek, OpenRouter, a local Ollama...: the span's
provider is the one behind the URL, so cost comes from that provider's prices
(``_price_lists``). Known hosts map to a provider id (OTel's ``gen_ai.provider.name`` value
where it has one, else genai-prices' id; ``azure``, ``google`` and ``vertex`` as the other
integrations name them); a server on this machine or a private network is
``self-hosted`` (and which server, when its default port says so); any other host is its own
name. The answer is cached by the identity of the client's ``base_url`` object: one dict
lookup per call, and a client whose ``base_url`` is reassigned gets a new answer.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..._price_lists import SELF_HOSTED

_HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "openrouter.ai": "openrouter",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.fireworks.ai": "fireworks",
    "api.perplexity.ai": "perplexity",
    "api.cerebras.ai": "cerebras",
    "generativelanguage.googleapis.com": "google",  # as the google-genai integration names them
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
    "api.novita.ai": "novita",
    "api.moonshot.ai": "moonshotai",
    "api.moonshot.cn": "moonshotai",
    "api.z.ai": "zai",
    "api.deepinfra.com": "deepinfra",
    "api.sambanova.ai": "sambanova",
    "router.huggingface.co": "huggingface",
}
_HOST_SUFFIXES = (
    (".openai.azure.com", "azure"),
    (".cognitiveservices.azure.com", "azure"),
    (".services.ai.azure.com", "azure"),
    (".azure-api.net", "azure"),
    ("aiplatform.googleapis.com", "vertex"),  # Vertex AI's OpenAI-compatible endpoint
)
# Names that never resolve on the public internet.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
# Default ports of the usual model servers.
_SERVER_PORTS = {11434: "ollama", 1234: "lmstudio", 8000: "vllm", 8080: "llama.cpp", 30000: "sglang"}
_CACHE_LIMIT = 256

# id(base_url) -> (base_url, (provider, server)); the URL is kept so its id is not reused.
_endpoints: dict[int, tuple[Any, tuple[str, str | None]]] = {}


def endpoint_of(client: Any) -> tuple[str, str | None]:
    """``(provider, server)`` of an SDK client: ``server`` names a self-hosted model server
    (``ollama``, ``vllm``...) when its port tells, else ``None``.
    """
    url = getattr(client, "_base_url", None)  # ``BaseClient._base_url``: the public property imports per read
    cached = _endpoints.get(id(url))
    if cached is not None and cached[0] is url:
        return cached[1]
    azure = any(klass.__name__ == "BaseAzureClient" for klass in type(client).__mro__)
    endpoint = ("azure", None) if azure else _from_url(url)
    if len(_endpoints) >= _CACHE_LIMIT:
        _endpoints.clear()
    _endpoints[id(url)] = (url, endpoint)
    return endpoint


def _from_url(url: Any) -> tuple[str, str | None]:
    host = (getattr(url, "host", None) or "").lower().rstrip(".")
    if not host:
        return "openai", None  # no URL we can read: the SDK's default endpoint
    provider = _HOSTS.get(host)
    if provider is not None:
        return provider, None
    for suffix, name in _HOST_SUFFIXES:
        if host.endswith(suffix):
            return name, None
    if _is_local(host):
        return SELF_HOSTED, _SERVER_PORTS.get(getattr(url, "port", None) or 0)
    return host, None


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a single-label name: a container or a machine on the network
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
