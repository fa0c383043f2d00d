"""The span schema (DESIGN.md section 2) as typed objects; flattened to dicts at the edge."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .internal_errors import contain
from .schema import span_dict

if TYPE_CHECKING:
    from .processors import Processor

SPAN_KINDS: tuple[str, ...] = ("llm", "tool", "chain", "retriever", "agent", "custom", "embedding")
MAX_ERROR_MESSAGE = 4_000

_randbits = random.getrandbits  # the random module reseeds itself after os.fork
_time_ns = time.time_ns


# A trace id is time-ordered, as a ULID: 48 bits of Unix milliseconds, then 80 random bits. The
# store's keys of a trace's spans and of its roll-up then go to the end of their B-trees instead
# of onto random pages, which costs less per span and stops growing with the file. The low 80
# bits stay random (W3C's random trace-id bits are the low 56; ratio samplers read the low 64).
# ``to_bytes().hex()`` is about twice as fast as a ``:032x`` format, and runs for every span.
def new_trace_id() -> str:
    return (_time_ns() // 1_000_000 << 80 | _randbits(80)).to_bytes(16, "big").hex()


def new_span_id() -> str:
    return (_randbits(64) or 1).to_bytes(8, "big").hex()


@dataclass(slots=True)
class Usage:
    """Token counts. ``input`` counts every prompt token, cache reads and writes included."""

    input: int | None = None
    output: int | None = None
    total: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        total = self.total
        if total is None and self.input is not None and self.output is not None:
            total = self.input + self.output
        return {
            "input": self.input,
            "output": self.output,
            "total": total,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }


@dataclass(frozen=True, slots=True)
class Resource:
    """Process-wide fields from ``init()``: the same for every span until the next ``init()``."""

    environment: str = "default"
    workspace_slug: str | None = None
    source_type: str = "production"
    agent_name: str | None = None


@dataclass(frozen=True, slots=True)
class TraceAttributes:
    """Trace-level fields set by ``conversation()``; a trace keeps the ones of its root span."""

    conversation_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    turns: itertools.count[int] | None = field(default=None, compare=False)
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None


EMPTY_TRACE_ATTRIBUTES = TraceAttributes()


class Span:
    """One unit of work. Fill fields freely; ``end()``/``fail()`` act once, later calls no-op."""

    __slots__ = (
        "_processor",
        "agent_name",
        "cost_usd",
        "depth",
        "encoded_content",
        "end_ns",
        "error",
        "finish_reason",
        "input",
        "kind",
        "metadata",
        "name",
        "operation",
        "output",
        "parent",
        "parent_span_id",
        "provider",
        "remote_parent",
        "request_model",
        "resource",
        "response_model",
        "sampled",
        "span_id",
        "start_ns",
        "status",
        "stream",
        "tool_calls",
        "trace_attrs",
        "trace_id",
        "ttft_ms",
        "turn_index",
        "usage",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        trace_id: str,
        parent_span_id: str | None,
        agent_name: str | None,
        trace_attrs: TraceAttributes,
        turn_index: int | None,
        resource: Resource,
        processor: Processor | None,
        sampled: bool = True,
        remote_parent: bool = False,
        parent: Span | None = None,
    ) -> None:
        # Positional in the hot paths: a class called with keywords builds and unpacks a dict.
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_span_id = parent_span_id
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.status = "ok"
        self.error: dict[str, Any] | None = None
        self.input: Any = None
        self.output: Any = None
        self.metadata: dict[str, Any] = {}
        self.agent_name = agent_name
        self.trace_attrs = trace_attrs
        self.turn_index = turn_index
        self.resource = resource
        self.provider: str | None = None
        self.operation: str | None = None
        self.request_model: str | None = None
        self.response_model: str | None = None
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.ttft_ms: float | None = None
        self.finish_reason: str | None = None
        self.tool_calls: list[dict[str, Any]] | None = None
        self.stream: bool | None = None
        self.sampled = sampled
        # The parent is the app's OpenTelemetry span: we never see it, so this is our root.
        self.remote_parent = remote_parent
        # The parent object (same trace, in-process): where the context falls back to once this
        # span has ended, and the nesting depth the decorators keep the recursion limit for.
        self.parent = parent
        self.depth: int = 0 if parent is None else parent.depth + 1
        self._processor = processor
        # The pipeline's JSON text of ``content_values(self)`` when it still holds at export
        # (exporters store it instead of encoding the content again), else None.
        self.encoded_content: str | None = None

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None or self.remote_parent

    @property
    def ended(self) -> bool:
        return self.end_ns is not None

    def end(self) -> None:
        """Close the span and hand it to the pipeline; a second call does nothing."""
        if self.end_ns is not None:
            return
        self.end_ns = time.time_ns()
        if self._processor is not None:
            try:  # free until it raises; a pipeline bug must not reach the caller
                self._processor.on_end(self)
            except Exception:
                with contain("span.end"):
                    raise

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as this span's error and end it (once)."""
        if self.end_ns is not None:
            return
        self.record_error(exc)
        self.end()

    def record_error(self, exc: BaseException) -> None:
        self.status = "error"
        cls = type(exc)
        module = cls.__module__
        error: dict[str, Any] = {
            "type": cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}",
            "message": _message(exc),
        }
        status_code = getattr(exc, "status_code", None)
        if isinstance(status_code, int):
            error["status_code"] = status_code
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        """The exported form: every field of ``schema.SPAN_FIELDS``, trace-level fields flattened in."""
        return span_dict(self)

    @property
    def duration_ms(self) -> float | None:
        if self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e6

    def __repr__(self) -> str:
        return f"<Span {self.kind} {self.name!r} {self.span_id} status={self.status}>"


CONTENT_FIELDS: tuple[str, ...] = (
    "input", "output", "metadata", "error", "tool_calls", "tags", "trace_metadata",
)  # fmt: skip


def content_values(span: Span) -> tuple[Any, ...]:
    """A span's free-form content, in :data:`CONTENT_FIELDS` order (the tags and metadata are its trace's)."""
    attrs = span.trace_attrs
    return (span.input, span.output, span.metadata, span.error, span.tool_calls, attrs.tags, attrs.metadata)


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a user's __str__ may itself raise
        text = f"<unprintable {type(exc).__name__}>"
    return text if len(text) <= MAX_ERROR_MESSAGE else text[:MAX_ERROR_MESSAGE] + "…"
