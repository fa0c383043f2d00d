"""Streams: an accumulator for raw message events (``messages.stream()``'s managers: ``_managers.py``).

Both stream paths end up iterating the SDK's raw ``Stream[RawMessageStreamEvent]``:
``create(stream=True)`` returns it, and ``MessageStream`` (what the manager's ``__enter__``
returns) reads it through its ``_raw_stream`` attribute. So one shared proxy around the raw
stream serves both; ``text_stream``, ``get_final_message()`` and ``until_done()`` all pull
through it, and ``MessageStream.close()`` closes it.

We do not reuse the SDK's ``accumulate_event``: it rebuilds a pydantic snapshot and re-parses
partial tool JSON on every event, far above our per-chunk budget. Text is kept as a list of
fragments and joined once at the end.

Time to first token is the time of the first delta with text, thinking or tool-input JSON;
``message_start``, ``content_block_start`` and pings come before any token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

from ..._core.span import Span
from .._chunks import FirstOutput
from .._stream import Reading
from ._response import block_dict, make_usage, parse_arguments, read_usage, record_web_searches

# content block kinds whose deltas we collect, by the delta field that carries the text
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use"})
_DELTA_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


@functools.cache
def _text_delta() -> Any:
    """The SDK's text delta class (``None`` if it has none: each delta is then told by its
    ``type``). Called as a loop starts, outside its guard, so it must not raise.
    """
    try:
        from anthropic.types import TextDelta  # the SDK that made the stream has imported it
    except Exception:
        return None
    return TextDelta


class MessageAccumulator(FirstOutput):
    """``StreamHandler`` for raw message events; keeps whatever arrived (partial output too)."""

    __slots__ = ("blocks", "capture", "delta_usage", "message", "parts", "stop_reason")

    def __init__(self, capture: bool) -> None:
        super().__init__()
        self.capture = capture
        self.message: Any = None  # the message of ``message_start``
        self.blocks: list[Any] = []  # content_block_start blocks, by index
        self.parts: list[list[str]] = []  # their delta fragments, by index
        self.stop_reason: str | None = None
        self.delta_usage: Any = None  # usage of the last ``message_delta``

    def read(self, stream: Reading) -> Iterator[Any]:
        """A ``content_block_delta`` after the first output, read inline: all it adds is its
        piece (when content is captured). Every other event, and any object not built like
        the SDK's, goes to ``on_chunk``.
        """
        seen, parts, capture, text_delta = stream.seen, self.parts, self.capture, _text_delta()
        started: Any = False  # the first output is known: only on_chunk changes that
        with stream:
            for event in stream:
                try:
                    common = started and event.type == "content_block_delta"
                    if common and capture:  # the append comes last: nothing after it can raise
                        delta = event.delta
                        if type(delta) is text_delta:  # a class check is cheaper than its ``type``
                            piece = delta.text
                        else:
                            piece = getattr(delta, _DELTA_FIELDS[delta.type])
                        parts[event.index].append(piece)
                except Exception:  # not the SDK's shape, or a delta without text (signature...)
                    common = False
                if not common:
                    seen(event)
                    started = self.first_ns is not None
                yield event

    def on_chunk(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            capture = self.capture
            if capture or self.first_ns is None:  # the hot path
                delta = event.delta
                kind = delta.type
                if kind == "text_delta":
                    piece = delta.text
                elif kind in _DELTA_FIELDS:
                    piece = getattr(delta, _DELTA_FIELDS[kind])
                else:
                    return
                if self.first_ns is None and piece:
                    self.first_ns = time.time_ns()
                if capture:
                    self.parts[event.index].append(piece)
        elif kind == "content_block_start":
            index = event.index
            while len(self.blocks) <= index:
                self.blocks.append(None)
                self.parts.append([])
            self.blocks[index] = event.content_block
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            if event.usage is not None:
                self.delta_usage = event.usage
        elif kind == "message_start":
            self.message = event.message

    def on_end(self, span: Span) -> None:
        self.record_ttft(span)
        message = self.message
        if message is not None:
            span.response_model = message.model
            span.metadata["response_id"] = message.id
        span.finish_reason = self.stop_reason
        span.usage = self._usage()
        record_web_searches(span, self.delta_usage or getattr(message, "usage", None))
        tool_calls = []
        content = []
        for block, parts in zip(self.blocks, self.parts, strict=True):
            if block is None:
                continue
            kind = block.type
            if kind in _TOOL_BLOCKS:
                arguments = (
                    (parse_arguments("".join(parts)) if parts else block.input) if self.capture else None
                )
                if kind == "tool_use":
                    tool_calls.append({"id": block.id, "name": block.name, "arguments": arguments})
                if self.capture:
                    content.append({"type": kind, "id": block.id, "name": block.name, "input": arguments})
            elif self.capture:
                content.append(self._block(block, parts))
        if tool_calls:
            span.tool_calls = tool_calls
        if self.capture and (content or message is not None):
            span.output = {"role": "assistant", "content": content}

    def _usage(self) -> Any:
        start = getattr(self.message, "usage", None)
        last = self.delta_usage
        if last is None:
            return read_usage(start)

        # The last message_delta is authoritative (server tools change input counts mid-stream);
        # fields it leaves out keep their message_start values.
        def pick(name: str) -> Any:
            value = getattr(last, name, None)
            return value if value is not None else getattr(start, name, None)

        details = getattr(last, "output_tokens_details", None) or getattr(
            start, "output_tokens_details", None
        )
        return make_usage(
            pick("input_tokens"),
            pick("output_tokens"),
            pick("cache_read_input_tokens"),
            pick("cache_creation_input_tokens"),
            getattr(details, "thinking_tokens", None),
        )

    @staticmethod
    def _block(block: Any, parts: list[str]) -> Any:
        kind = block.type
        if kind == "text":
            return {"type": "text", "text": (block.text or "") + "".join(parts)}
        if kind == "thinking":
            return {"type": "thinking", "thinking": (block.thinking or "") + "".join(parts)}
        return block_dict(block)
