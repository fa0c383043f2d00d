"""The fault suite, values side: one odd value in one span of 100 costs at most its own field.

Every local exporter (sqlite, jsonl, memory, console) gets the same batch of 100 spans through
the real batch pipeline; every payload must parse as strict JSON (no NaN/Infinity tokens).
"""

from __future__ import annotations

import datetime
import enum
import io
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import staso_integrations as st
from staso_integrations._core import runtime, sanitize
from staso_integrations._core.drops import drop_counts
from staso_integrations._core.sanitize import MAX_FIELD_CHARS, safe_value
from staso_integrations._core.schema import json_text
from staso_integrations._core.span import EMPTY_TRACE_ATTRIBUTES, Resource, TraceAttributes, content_values
from staso_integrations.exporters import ConsoleExporter, InMemoryExporter, JsonlExporter, SqliteExporter
from tests.compiled import skip_if_compiled


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


def _circular_list() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


def _circular_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    return value


def _deep() -> list[Any]:
    root: list[Any] = []
    level = root
    for _ in range(5_000):
        level.append([])
        level = level[0]
    return root


def _numbers() -> Iterator[int]:
    yield 1


BAD_VALUES: dict[str, Callable[[], Any]] = {
    "circular_list": _circular_list,
    "circular_dict": _circular_dict,
    "unprintable": Unprintable,
    "nan": lambda: float("nan"),
    "inf_in_dict": lambda: {"score": float("-inf"), "ok": 1},
    "huge_string": lambda: "x" * (3 * MAX_FIELD_CHARS),
    "huge_list": lambda: list(range(400_000)),
    "huge_int": lambda: 10**5_000,
    "deeply_nested": _deep,
    "bytes": lambda: b"\x00\xff" * 10,
    "odd_keys": lambda: {(1, 2): "tuple", Unprintable(): "unprintable", None: "none", 1.5: "float"},
    "set": lambda: {1, 2, 3},
    "generator": _numbers,
    "lone_surrogate": lambda: "bad \ud800 text",
}


def _put(location: str, span: st.Span, bad: Any) -> None:
    if location == "input":
        span.input = bad
    elif location == "output":
        span.output = bad
    elif location == "metadata":
        span.metadata["bad"] = bad
    elif location == "tool_args":
        span.tool_calls = [{"id": "call_1", "name": "lookup", "arguments": bad}]
    elif location == "error":
        span.record_error(ValueError(bad))
        assert span.error is not None
        span.error["detail"] = bad


def _strict_loads(text: str) -> Any:
    def refuse(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=refuse)


LOCATIONS = ("input", "output", "metadata", "tool_args", "error", "tags", "trace_metadata")


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("kind", list(BAD_VALUES))
def test_one_bad_value_among_100_spans_every_local_exporter_gets_all_100(
    tmp_path: Path, kind: str, location: str
) -> None:
    db, jsonl = tmp_path / "t.db", tmp_path / "t.jsonl"
    memory, console_out = InMemoryExporter(), io.StringIO()
    st.init(
        exporter=[SqliteExporter(str(db)), JsonlExporter(str(jsonl)), memory, ConsoleExporter(console_out)]
    )
    processor = runtime.get_runtime().processor
    processor.batch_size = 1_000  # type: ignore[attr-defined]  # the 100 spans are one batch
    bad = BAD_VALUES[kind]()
    for index in range(100):
        tags = [bad] if location == "tags" and index == 42 else ["t"]
        metadata = {"bad": bad} if location == "trace_metadata" and index == 42 else None
        with (
            st.conversation(f"c-{index}", tags=tags, metadata=metadata),
            st.span(f"s-{index}", kind="llm") as span,
        ):
            if index == 42:
                _put(location, span, bad)
    assert st.flush(30)
    st.shutdown()

    assert len(memory.spans) == 100 and len(memory.traces) == 100
    for span in memory.spans:
        json.dumps(span.to_dict(), allow_nan=False)
    for summary in memory.traces.values():
        json.dumps(summary.to_dict(), allow_nan=False)
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    for line in lines:
        _strict_loads(line)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT content FROM spans").fetchall()  # input ... tool calls, tags
        trace_rows = conn.execute("SELECT tags, metadata FROM traces").fetchall()
    assert len(rows) == 100 and len(trace_rows) == 100
    for row in [*rows, *trace_rows]:
        for column in row:
            if column is not None:
                _strict_loads(column)
    assert console_out.getvalue().count("\ntrace ") + console_out.getvalue().startswith("trace ") == 100


def test_safe_values_keep_what_they_can() -> None:
    assert safe_value({"a": [1, 2.5, "x"]}) == {"a": [1, 2.5, "x"]}
    assert safe_value(float("nan")) == "NaN" and safe_value([float("inf")]) == ["Infinity"]
    assert safe_value(_circular_list()) == [1, "<circular reference to a list>"]
    assert safe_value({(1, 2): 1, None: 2, True: 3}) == {"(1, 2)": 1, "null": 2, "true": 3}
    assert safe_value(Unprintable()) == "<Unprintable: not serializable>"
    assert safe_value("a\ud800b") == "a?b"
    cut = safe_value("word " * MAX_FIELD_CHARS)
    assert isinstance(cut, str) and len(cut) < MAX_FIELD_CHARS and cut.endswith("more chars>")
    assert safe_value({"ids": list(range(400_000))})["ids"][-1] == "… 399800 more items"


def test_typed_fields_take_no_odd_numbers(exporter: InMemoryExporter) -> None:
    with st.span(12345) as span:  # type: ignore[arg-type]
        span.cost_usd = math.nan
        span.ttft_ms = math.inf
        span.usage = st.Usage(input=10**30, output=enum.IntEnum("Five", {"FIVE": 5}).FIVE)
    stored = exporter.spans[0].to_dict()
    json.dumps(stored, allow_nan=False)
    assert stored["name"] == "12345" and stored["cost_usd"] is None and stored["ttft_ms"] is None
    assert stored["usage"]["input"] is None and type(stored["usage"]["output"]) is int


@skip_if_compiled(sanitize)
def test_a_sanitizer_bug_costs_only_that_spans_content(
    exporter: InMemoryExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STASO_STRICT")
    real = sanitize._encoded_length

    def broken(value: Any) -> int | None:
        raise RuntimeError("bug in the sanitizer")

    with st.span("ok-before", input="kept"):
        pass
    monkeypatch.setattr(sanitize, "_encoded_length", broken)
    with st.span("bad", input={"x": math.nan}) as span:
        span.metadata["k"] = "v"
    monkeypatch.setattr(sanitize, "_encoded_length", real)
    with st.span("ok-after", input="kept"):
        pass
    assert [s.name for s in exporter.spans] == ["ok-before", "bad", "ok-after"]
    bad = exporter.by_name("bad")
    assert bad.input is None and bad.metadata == {}
    assert exporter.by_name("ok-after").input == "kept"


def test_an_unsanitized_span_costs_only_itself_in_sqlite_and_jsonl(
    tmp_path: Path, exporter: InMemoryExporter
) -> None:
    for index in range(100):
        with st.span(f"s-{index}"):
            pass
    spans = exporter.spans
    spans[10].input = _circular_list()  # after the pipeline: as if an exporter were used directly
    spans[10].encoded_content = None  # (a span built outside the pipeline has no encoded content)
    spans[20].turn_index = 10**30  # encodes as JSON, but no SQLite INTEGER holds it
    before = drop_counts()["serialization"]
    sqlite_exporter = SqliteExporter(str(tmp_path / "t.db"))
    jsonl_exporter = JsonlExporter(str(tmp_path / "t.jsonl"))
    sqlite_exporter.export(spans, [])
    sqlite_exporter.shutdown()
    jsonl_exporter.export(spans, [])
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 98
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 99
    assert drop_counts()["serialization"] - before == 3  # sqlite: both; jsonl: the circular one


@pytest.mark.parametrize(
    ("count", "stored"),
    [
        (0, 0),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (2**63, None),
        (-(2**63) - 1, None),
        (True, 1),
        (enum.IntEnum("Seven", {"SEVEN": 7}).SEVEN, 7),
        (3.0, 3.0),
        (math.nan, None),
        ("12", 12.0),
    ],
)
def test_a_token_count_is_stored_as_a_plain_int64_or_not_at_all(
    exporter: InMemoryExporter, count: Any, stored: Any
) -> None:
    with st.span("counts") as span:
        span.usage = st.Usage(input=12, output=count, reasoning=-5)
    usage = exporter.spans[0].to_dict()["usage"]
    assert usage["output"] == stored and type(usage["output"]) is type(stored)
    assert (usage["input"], usage["reasoning"]) == (12, -5)


def _bare_span() -> st.Span:
    """A span outside any pipeline: ``sanitize_span`` is called on it directly."""
    return st.Span("s", "llm", "t", None, None, EMPTY_TRACE_ATTRIBUTES, None, Resource(), None)


class _Color(enum.Enum):
    RED = "red"


_CONTENTS: dict[str, Callable[[], Any]] = {
    "messages": lambda: [{"role": "user", "content": "Say hello"}, {"role": "assistant", "content": None}],
    "nan_beside_a_none": lambda: {"answer": None, "score": math.nan},
    "nan_alone": lambda: [math.nan],
    "inf_beside_the_word_null": lambda: {"text": "null", "score": -math.inf},
    "floats": lambda: [1e-07, 1e-05, 0.1, 1e22, -0.0, 5e-324],
    "int_past_64_bits": lambda: [2**64, -(2**63) - 1],
    "non_ascii_and_controls": lambda: 'é😀 \x00\x1f\x7f\u2028 "q" \\',
    "lone_surrogate": lambda: "a\ud800b",
    "int_keys": lambda: {1: "one", None: "none"},
    "str_and_dict_subclasses": lambda: {"k": type("Text", (str,), {})("v"), "d": type("D", (dict,), {})(a=1)},
    "a_date": lambda: {"when": datetime.date(2026, 11, 27)},
    # ``None`` below the top: marshal's bytes tell whether a float is out of range, else a decode
    "nan_in_a_list_beside_a_none": lambda: {"answer": None, "scores": [0.5, math.nan]},
    "minus_one_beside_a_none": lambda: {"answer": None, "index": -1, "del": "\x7f"},
    "a_date_beside_a_none": lambda: {"answer": None, "when": datetime.date(2026, 11, 27)},
    "plain_enum": lambda: {"color": _Color.RED},
}


@pytest.mark.parametrize("name", list(_CONTENTS))
def test_the_fast_json_check_stores_what_the_json_module_would(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """orjson checks the content where installed. Wherever it could differ from the json module
    (a NaN written as ``null``, a type it takes that json refuses) the stored JSON is the same."""

    def sanitized() -> tuple[Any, Any]:
        span = _bare_span()
        span.input, span.metadata = _CONTENTS[name](), {"m": _CONTENTS[name]()}
        text = sanitize.sanitize_span(span)
        if text is None:  # rebuilt: what the sqlite store then writes
            text = json_text(content_values(span))
        return _strict_loads(text), json.loads(json.dumps([span.input, span.metadata], default=str))

    stored, fields = sanitized()
    monkeypatch.setattr(sanitize, "_orjson_dumps", None)
    json_stored, json_fields = sanitized()
    assert stored == json_stored
    if name != "plain_enum":  # orjson takes it: the span keeps the Enum, which exporters print
        assert fields == json_fields


def test_plain_content_takes_the_fast_check_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(value: Any) -> None:
        raise AssertionError("the json module's encoder was asked")

    monkeypatch.setattr(sanitize, "_encoded_text", refuse)
    span = _bare_span()
    span.input, span.output = [{"role": "user", "content": "hi"}], {"role": "assistant", "content": "hello"}
    assert sanitize.sanitize_span(span) == (
        '[[{"role":"user","content":"hi"}],{"role":"assistant","content":"hello"},{},null,null,[],null]'
    )


def test_content_holding_none_below_the_top_takes_the_fast_check_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tool-calling assistant message's ``"content": null`` made the ``null`` count differ, and
    every such span was encoded a second time by the json module (nine times orjson's time)."""

    def refuse(value: Any) -> None:
        raise AssertionError("the json module's encoder was asked")

    monkeypatch.setattr(sanitize, "_encoded_text", refuse)
    span = _bare_span()
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    span.input = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "4"},
    ]
    span.output, span.metadata = {"role": "assistant", "content": None, "refusal": None}, {"ratio": 0.5}
    span.trace_attrs = TraceAttributes(tags=("a", "b"))
    text = sanitize.sanitize_span(span)
    assert text is not None and json.loads(text) == json.loads(json.dumps(list(content_values(span))))


@skip_if_compiled(sanitize)
def test_content_holding_none_below_the_top_is_not_decoded_to_be_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's history (``"content": null`` in each tool-calling turn) was decoded again to
    tell a ``None`` from a NaN orjson wrote as ``null``: 30 % of the pipeline's work per span
    in an agent turn on the OpenAI SDK. marshal's bytes tell, with no decode."""

    def refuse(text: str, values: Any) -> bool:
        raise AssertionError("decoded")

    monkeypatch.setattr(sanitize, "_decodes_to", refuse)
    span = _bare_span()
    span.input = [{"role": "assistant", "content": None, "tool_calls": []}, {"role": "tool", "content": "4"}]
    span.metadata = {"ratio": 0.5, "count": 12, "tokens": 1 << 40, "flag": True}
    assert sanitize.sanitize_span(span) is not None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_a_non_finite_float_beside_nested_none_is_still_caught(bad: float) -> None:
    span = _bare_span()
    span.input = [{"role": "assistant", "content": None}, {"score": bad}]
    assert sanitize.sanitize_span(span) is None  # rebuilt: the float as the json module names it
    assert span.input == [{"role": "assistant", "content": None}, {"score": json.dumps(bad)}]


class _Touchy(enum.Enum):
    A = 1

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("compared")

    __hash__ = enum.Enum.__hash__


def test_a_value_whose_eq_raises_beside_nested_none_keeps_the_content() -> None:
    """The round-trip check compares values: one whose ``__eq__`` raises sends the content to
    the json module's encoder (and the rebuild), not to the drop of the whole content."""
    span = _bare_span()
    span.input = {"deep": {"deeper": {"answer": None}}, "level": _Touchy.A}  # a None past the count
    sanitize.sanitize_span(span)
    assert span.input == {"deep": {"deeper": {"answer": None}}, "level": 1}


def test_a_value_whose_eq_raises_at_the_top_keeps_the_content() -> None:
    """The count of ``None`` at the top compared each value with ``None``: an output whose
    ``__eq__`` raises (an Enum orjson takes) cost the span all its content."""
    span = _bare_span()
    span.input, span.output = {"q": "hi", "a": None}, _Touchy.A
    sanitize.sanitize_span(span)
    assert span.input == {"q": "hi", "a": None} and span.output == 1  # rebuilt by the json module's rules
