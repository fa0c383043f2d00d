"""Stream handlers for the shared proxies: keep every chunk (one ``list.append``), read at end.

Per chunk we only append the SDK's object; everything (text, usage, the final ``Response``
snapshot) is assembled once in ``on_end``, so a stream the user stops early still yields its
partial output. The exception is chat tool-call argument pieces, read as they arrive: some
consumers (LlamaIndex's ``update_tool_calls``) append later pieces onto the first chunk's
object in place, so reading them at the end would double the arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.span import Span
from ._response import chat_usage, record_responses, tool_call

ToolCalls = dict[tuple[int, int], list[Any]]  # (choice, index) -> [id, name, [argument pieces]]


class ChunkCollector:
    """``StreamHandler`` whose ``on_chunk`` is the bound ``append`` of a list (no Python frame),
    or for chat streams a small method that also reads tool-call deltas on arrival."""

    __slots__ = ("assemble", "capture", "chunks", "on_chunk", "tool_calls")

    def __init__(self, assemble: Assemble, capture: bool, watch_tool_calls: bool = False) -> None:
        self.chunks: list[Any] = []
        self.tool_calls: ToolCalls = {}
        self.on_chunk = self._keep_reading_tool_calls if watch_tool_calls else self.chunks.append
        self.assemble = assemble
        self.capture = capture

    def _keep_reading_tool_calls(self, chunk: Any) -> None:
        self.chunks.append(chunk)
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None and delta.tool_calls:
                _add_tool_deltas(self.tool_calls, choice.index, delta.tool_calls)

    def on_end(self, span: Span) -> None:
        self.assemble(span, self)


Assemble = Callable[[Span, ChunkCollector], None]


def _model_and_usage(span: Span, chunks: list[Any]) -> None:
    """Model, id and usage of a chunk stream: usage comes last, the model is on every chunk
    (but the empty ``model`` of an Azure prompt-filter chunk), so read from the end."""
    for chunk in reversed(chunks):
        if chunk.usage is not None:
            span.usage = chat_usage(chunk.usage)
            break
    for chunk in reversed(chunks):
        if chunk.model:
            span.response_model = chunk.model
            break
    if chunks and getattr(chunks[0], "id", None):
        span.metadata["response_id"] = chunks[0].id


def assemble_chat(span: Span, collected: ChunkCollector) -> None:
    """``ChatCompletionChunk``s -> model, usage, per-choice text, tool calls, finish reason."""
    chunks, capture, calls = collected.chunks, collected.capture, collected.tool_calls
    texts: dict[int, list[str]] = {}
    finish = None
    for chunk in chunks:  # the hot loop of a stream's end: plain locals, few attribute reads
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    pieces = texts.get(choice.index)
                    if pieces is None:
                        pieces = texts[choice.index] = []
                    pieces.append(delta.content)
            if finish is None and choice.finish_reason:
                finish = choice.finish_reason
    _model_and_usage(span, chunks)
    span.finish_reason = finish
    if calls:
        span.tool_calls = [tool_call(i, name, "".join(args), capture) for i, name, args in calls.values()]
    if capture and (texts or calls):
        outputs = []
        for index in sorted(texts) or [0]:
            message: dict[str, Any] = {"role": "assistant", "content": "".join(texts.get(index, ())) or None}
            own = [tool_call(i, n, "".join(a), True) for (c, _), (i, n, a) in calls.items() if c == index]
            if own:
                message["tool_calls"] = own
            outputs.append(message)
        span.output = outputs[0] if len(outputs) == 1 else outputs


def _add_tool_deltas(calls: ToolCalls, choice: int, deltas: list[Any]) -> None:
    for call in deltas:
        slot = calls.setdefault((choice, call.index), [None, None, []])
        slot[0] = call.id or slot[0]
        function = call.function
        if function is not None:
            slot[1] = function.name or slot[1]
            if function.arguments:
                slot[2].append(function.arguments)


_SNAPSHOT_EVENTS = frozenset(
    {"response.created", "response.in_progress", "response.completed", "response.incomplete",
     "response.failed", "response.queued"}
)  # fmt: skip


def assemble_responses(span: Span, collected: ChunkCollector) -> None:
    """Responses API events: the last ``Response`` snapshot, plus deltas when it never completed."""
    events, capture = collected.chunks, collected.capture
    snapshot = None
    texts: list[str] = []
    items: list[Any] = []
    for event in events:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            texts.append(event.delta)
        elif kind in _SNAPSHOT_EVENTS:
            snapshot = event.response
        elif kind == "response.output_item.done":
            items.append(event.item)
    if snapshot is not None:
        record_responses(span, snapshot, capture)
        if snapshot.output:
            return
    # stopped before the final snapshot: what arrived so far
    if snapshot is not None and snapshot.status in ("in_progress", "queued"):
        span.finish_reason = None
    calls = [
        tool_call(item.call_id, item.name, item.arguments, capture)
        for item in items
        if getattr(item, "type", None) == "function_call"
    ]
    span.tool_calls = calls or None
    if capture and texts:
        span.output = {"role": "assistant", "content": "".join(texts)}


def assemble_completion(span: Span, collected: ChunkCollector) -> None:
    """Legacy ``Completion`` chunks."""
    chunks, capture = collected.chunks, collected.capture
    texts: dict[int, list[str]] = {}
    _model_and_usage(span, chunks)
    for chunk in chunks:
        for choice in chunk.choices or ():
            if choice.finish_reason and span.finish_reason is None:
                span.finish_reason = choice.finish_reason
            if choice.text:
                texts.setdefault(choice.index, []).append(choice.text)
    if capture and texts:
        joined = ["".join(texts[index]) for index in sorted(texts)]
        span.output = joined[0] if len(joined) == 1 else joined


ASSEMBLERS: dict[str, Assemble] = {
    "chat": assemble_chat,
    "responses": assemble_responses,
    "completion": assemble_completion,
}


def stream_handler(operation: str, capture: bool) -> ChunkCollector | None:
    """The handler for a stream of ``operation``; ``None`` if it does not stream."""
    assemble = ASSEMBLERS.get(operation)
    return ChunkCollector(assemble, capture, operation == "chat") if assemble is not None else None
