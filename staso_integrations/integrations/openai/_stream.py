"""Stream handlers for the shared proxies: read each chunk as it passes, keep only strings.

The SDK's chunk objects are never kept: a stream of hundreds of pydantic chunks held until its
end would survive into the garbage collector's old generations and trigger full collections
over the whole heap (measured: tens of µs per chunk). We keep text and tool-argument pieces
(strings, which the collector does not track) and the last few small objects (usage, the
final ``Response`` snapshot). Reading as they arrive also keeps tool arguments exact when a
consumer mutates chunks afterwards (LlamaIndex's ``update_tool_calls`` appends later pieces
onto the first chunk's object in place). A stream the user stops early keeps what arrived.

Time to first token is the time of the first chunk that carries output (text, a refusal,
reasoning text, tool-call or function-call arguments), not of the first chunk: the role chunk,
an Azure prompt-filter chunk, ``response.created`` and usage-only chunks come before any token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..._core.span import Span
from .._chunks import FirstOutput
from .._stream import Reading
from ._response import read_usage, record_responses, tool_call

ToolCalls = dict[tuple[int, int], list[Any]]  # (choice, index) -> [id, name, [argument pieces]]
LEGACY_FUNCTION = -1  # the tool-call index of a legacy ``delta.function_call``


class _Common(FirstOutput):
    __slots__ = ("capture", "model", "response_id", "usage")

    def __init__(self, capture: bool) -> None:
        super().__init__()
        self.capture = capture
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: Any = None

    def _learn_ids(self, chunk: Any) -> None:
        # Called only until a chunk has a model (an Azure prompt-filter chunk comes first,
        # with none): the handlers do not read model and id from every chunk.
        self.model = chunk.model
        self.response_id = self.response_id or chunk.id

    def _record(self, span: Span) -> None:
        self.record_ttft(span)
        if self.usage is not None:
            span.usage = read_usage(self.usage)
        if self.model:
            span.response_model = self.model
        if self.response_id:
            span.metadata["response_id"] = self.response_id


class ChatStream(_Common):
    """``ChatCompletionChunk``s -> model, usage, per-choice text, tool calls, finish reason."""

    __slots__ = ("finish", "refusals", "texts", "tool_calls")

    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self.texts: dict[int, list[str]] = {}  # a plain dict: its subscript is specialized
        self.refusals: dict[int, list[str]] = {}
        self.tool_calls: ToolCalls = {}
        self.finish: str | None = None

    def read(self, stream: Reading) -> Iterator[Any]:
        """The common chunk, once the model and the first output are known (one choice with
        text, no tool call, finish reason or usage), read inline: its text is all it adds.
        Every other chunk, and any object not built like the SDK's, goes to ``on_chunk``.
        """
        seen, texts, capture = stream.seen, self.texts, self.capture
        steady: Any = False  # the model and the first output are known: only on_chunk changes that
        with stream:
            for chunk in stream:
                try:
                    (choice,) = chunk.choices
                    delta = choice.delta
                    content = delta.content
                    common = (
                        steady
                        and content
                        and delta.tool_calls is None
                        and choice.finish_reason is None
                        and chunk.usage is None
                    )
                    if common and capture:  # the append comes last: nothing after it can raise
                        texts[choice.index].append(content)
                except Exception:  # not the SDK's shape, not one choice, or its first text: on_chunk
                    common = False
                if not common:
                    seen(chunk)
                    steady = self.model and self.first_ns is not None
                yield chunk

    def on_chunk(self, chunk: Any) -> None:
        if not self.model:
            self._learn_ids(chunk)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        for choice in chunk.choices or ():
            delta, index, finish = choice.delta, choice.index, choice.finish_reason
            if finish and self.finish is None:
                self.finish = finish
            if delta is None:  # a chunk without a delta
                continue
            content, tool_deltas = delta.content, delta.tool_calls
            if content:
                if self.first_ns is None:
                    self.first_ns = time.time_ns()
                if self.capture:  # the text is output only: kept only when it is captured
                    try:
                        self.texts[index].append(content)
                    except KeyError:  # the first text of this choice
                        self.texts[index] = [content]
            if tool_deltas:
                if _add_tool_deltas(self.tool_calls, index, tool_deltas) and self.first_ns is None:
                    self.first_ns = time.time_ns()
            elif not content:  # rare chunks: the role chunk, a refusal, a legacy function call
                self._rare(delta, index)

    def _rare(self, delta: Any, index: int) -> None:
        refusal, function = delta.refusal, delta.function_call
        if refusal:
            self.refusals.setdefault(index, []).append(refusal)
        if function is not None:
            slot = self.tool_calls.setdefault((index, LEGACY_FUNCTION), [None, None, []])
            slot[1] = function.name or slot[1]
            if function.arguments:
                slot[2].append(function.arguments)
        if self.first_ns is None and (refusal or (function is not None and function.arguments)):
            self.first_ns = time.time_ns()

    def on_end(self, span: Span) -> None:
        self._record(span)
        span.finish_reason = self.finish
        calls, texts, capture = self.tool_calls, self.texts, self.capture
        if calls:
            span.tool_calls = [tool_call(i, name, "".join(args), capture) for i, name, args in calls.values()]
        refusals = self.refusals
        if capture and (texts or calls or refusals):
            outputs = []
            for index in sorted({*texts, *refusals, *(c for c, _ in calls)}):
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": "".join(texts.get(index, ())) or None,
                }
                if index in refusals:
                    message["refusal"] = "".join(refusals[index])
                own = [
                    (at, tool_call(i, n, "".join(a), True))
                    for (c, at), (i, n, a) in calls.items()
                    if c == index
                ]
                tools = [call for at, call in own if at != LEGACY_FUNCTION]
                if tools:
                    message["tool_calls"] = tools
                for at, call in own:
                    if at == LEGACY_FUNCTION:
                        message["function_call"] = {"name": call["name"], "arguments": call["arguments"]}
                outputs.append(message)
            span.output = outputs[0] if len(outputs) == 1 else outputs


def _add_tool_deltas(calls: ToolCalls, choice: int, deltas: list[Any]) -> bool:
    """Add the pieces of ``deltas``; whether any carried argument text."""
    arguments_seen = False
    for call in deltas:
        index, call_id, function = call.index, call.id, call.function
        slot = calls.setdefault((choice, index), [None, None, []])
        slot[0] = call_id or slot[0]
        if function is not None:
            slot[1] = function.name or slot[1]
            if function.arguments:
                slot[2].append(function.arguments)
                arguments_seen = True
    return arguments_seen


class CompletionStream(_Common):
    """Legacy ``Completion`` chunks."""

    __slots__ = ("finish", "texts")

    def __init__(self, capture: bool) -> None:
        super().__init__(capture)
        self.texts: dict[int, list[str]] = {}
        self.finish: str | None = None

    def on_chunk(self, chunk: Any) -> None:
        if not self.model:
            self._learn_ids(chunk)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        for choice in chunk.choices or ():
            if self.finish is None and choice.finish_reason:
                self.finish = choice.finish_reason
            if choice.text:
                if self.first_ns is None:
                    self.first_ns = time.time_ns()
                self.texts.setdefault(choice.index, []).append(choice.text)

    def on_end(self, span: Span) -> None:
        self._record(span)
        span.finish_reason = self.finish
        if self.capture and self.texts:
            joined = ["".join(self.texts[index]) for index in sorted(self.texts)]
            span.output = joined[0] if len(joined) == 1 else joined


_SNAPSHOT_EVENTS = frozenset(
    {"response.created", "response.in_progress", "response.completed", "response.incomplete",
     "response.failed", "response.queued"}
)  # fmt: skip


# events whose ``delta`` is output the model generated
_OUTPUT_DELTAS = frozenset(
    {"response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
     "response.custom_tool_call_input.delta", "response.reasoning_text.delta",
     "response.reasoning_summary_text.delta", "response.audio.transcript.delta"}
)  # fmt: skip


class ResponsesStream(FirstOutput):
    """Responses API events: the last ``Response`` snapshot, plus deltas when it never completed."""

    __slots__ = ("capture", "items", "snapshot", "texts")

    def __init__(self, capture: bool) -> None:
        super().__init__()
        self.capture = capture
        self.snapshot: Any = None
        self.texts: list[str] = []
        self.items: list[Any] = []  # finished output items: few per response

    def on_chunk(self, event: Any) -> None:
        try:
            kind = event.type
        except AttributeError:  # not an event
            return
        if kind == "response.output_text.delta":
            delta = event.delta
            if self.first_ns is None and delta:
                self.first_ns = time.time_ns()
            if self.capture:
                self.texts.append(delta)
        elif kind in _OUTPUT_DELTAS:
            if self.first_ns is None and event.delta:
                self.first_ns = time.time_ns()
        elif kind in _SNAPSHOT_EVENTS:
            self.snapshot = event.response
        elif kind == "response.output_item.done":
            self.items.append(event.item)

    def on_end(self, span: Span) -> None:
        self.record_ttft(span)
        snapshot, capture = self.snapshot, self.capture
        if snapshot is not None:
            record_responses(span, snapshot, capture)
            if snapshot.output:
                return
            if snapshot.status in ("in_progress", "queued"):  # stopped before the final snapshot
                span.finish_reason = None
        calls = [
            tool_call(item.call_id, item.name, item.arguments, capture)
            for item in self.items
            if getattr(item, "type", None) == "function_call"
        ]
        span.tool_calls = calls or None
        if capture and self.texts:
            span.output = {"role": "assistant", "content": "".join(self.texts)}


_HANDLERS: dict[str, type[ChatStream | CompletionStream | ResponsesStream]] = {
    "chat": ChatStream,
    "responses": ResponsesStream,
    "completion": CompletionStream,
}


def stream_handler(operation: str, capture: bool) -> ChatStream | CompletionStream | ResponsesStream | None:
    """The handler for a stream of ``operation``; ``None`` if it does not stream."""
    handler = _HANDLERS.get(operation)
    return handler(capture) if handler is not None else None
