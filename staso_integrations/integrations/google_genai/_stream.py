"""A stream handler for ``generate_content_stream``: each chunk is a ``GenerateContentResponse``.

Gemini streams whole parts: text arrives in pieces, a function call arrives complete in one
chunk. The last chunk carries the finish reason and the final usage (earlier chunks may carry a
partial one). Text is kept as fragments and joined once at the end; chunks are never kept.

Time to first token is the time of the first chunk with a part (text, thought or function
call); a chunk with no candidate content (usage, a prompt-feedback block) has no output.
"""

from __future__ import annotations

import time
from typing import Any

from ..._core.span import Span
from .._chunks import FirstOutput
from .._llm import full_content
from ._response import finish_name, part_block, text_block, tool_call, usage_of


class GenerateStream(FirstOutput):
    """``StreamHandler`` for ``GenerateContentResponse`` chunks; keeps whatever arrived."""

    __slots__ = ("blocks", "calls", "capture", "finish_reason", "model", "response_id", "usage")

    def __init__(self, capture: bool) -> None:
        super().__init__()
        self.capture = capture
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: Any = None  # the latest chunk's: the last one holds the final counts
        self.finish_reason: Any = None
        self.calls: list[dict[str, Any]] = []
        # In order of arrival: finished blocks, and (thought, [fragments]) for runs of text.
        self.blocks: list[Any] = []

    def on_chunk(self, chunk: Any) -> None:
        if self.model is None:
            self.model, self.response_id = chunk.model_version, chunk.response_id
        usage = chunk.usage_metadata
        if usage is not None:
            self.usage = usage
        candidates = chunk.candidates
        if not candidates:
            return
        candidate = candidates[0]
        if candidate.finish_reason is not None:
            self.finish_reason = candidate.finish_reason
        content = candidate.content
        parts = content.parts if content is not None else None
        if not parts:
            return
        if self.first_ns is None:
            self.first_ns = time.time_ns()
        capture = self.capture
        for part in parts:
            call = part.function_call
            if call is not None:
                self.calls.append(tool_call(call, capture))
                if capture:
                    self.blocks.append(part_block(part))
            elif capture:
                self._add(part)

    def _add(self, part: Any) -> None:
        text, blocks = part.text, self.blocks
        if text is None:
            blocks.append(part_block(part))
            return
        thought = bool(part.thought)
        last = blocks[-1] if blocks else None
        if type(last) is tuple and last[0] is thought:
            last[1].append(text)
        else:
            blocks.append((thought, [text]))

    def on_end(self, span: Span) -> None:
        self.record_ttft(span)
        if self.model:
            span.response_model = self.model
        if self.response_id:
            span.metadata["response_id"] = self.response_id
        span.usage = usage_of(self.usage)
        span.finish_reason = finish_name(self.finish_reason)
        if self.calls:
            span.tool_calls = self.calls
        if self.capture and (self.blocks or self.model is not None):
            span.output = {"role": "assistant", "content": full_content(_content, self.blocks)}


def _content(blocks: list[Any]) -> list[Any]:
    return [text_block("".join(block[1]), block[0]) if type(block) is tuple else block for block in blocks]
