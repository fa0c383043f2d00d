"""What every provider's stream handler shares. Its own module, apart from the proxies in
``_stream.py``, so that the compiled core (``STASO_COMPILE=1``) can build the handlers, which
run per chunk, and their base; the proxies subclass ``wrapt.ObjectProxy`` and stay Python.
"""

from __future__ import annotations

from .._core.span import Span

# Handlers read a chunk's fields as attributes. Python 3.12+ specializes an attribute read on a
# pydantic model (~8 ns); its instance dict (``chunk.__dict__``) goes through the model's
# ``__getattr__`` hook (~35 ns) before each key is read, three times the cost per chunk. On 3.11
# neither is specialized and the dict is ~20 % cheaper: see the thirteenth #20 pass in
# benchmarks/README.md for both, counted per chunk.


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
