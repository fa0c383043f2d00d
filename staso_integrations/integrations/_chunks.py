"""What every provider's stream handler shares. Its own module, apart from the proxies in
``_stream.py``, so that the compiled core (``STASO_COMPILE=1``) can build the handlers, which
run per chunk, and their base; the proxies subclass ``wrapt.ObjectProxy`` and stay Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._core.span import Span

# The fields of an object without an instance dict: none, so each is read as an attribute.
# (Handlers read a chunk's fields from its ``__dict__``, where pydantic keeps them: a field read
# on a pydantic model is costly, its ``__getattr__`` hook defeats CPython's specialization.)
NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


class FirstOutput:
    """Base of the handlers: ``first_ns`` is set by ``on_chunk`` when the first chunk with
    output (text, reasoning, tool arguments...) arrives; ``on_end`` turns it into TTFT.
    """

    __slots__ = ("first_ns",)

    def __init__(self) -> None:
        self.first_ns: int | None = None

    def record_ttft(self, span: Span) -> None:
        if self.first_ns is not None:
            span.ttft_ms = (self.first_ns - span.start_ns) / 1e6
