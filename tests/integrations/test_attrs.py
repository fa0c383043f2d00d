"""``attr`` reads exactly what ``getattr(obj, name, None)`` reads, without pydantic's miss path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr, computed_field

from staso_integrations.integrations import _attrs
from staso_integrations.integrations._attrs import attr


class Message(BaseModel):
    role: str = "user"
    content: str | None = None
    _secret: str = PrivateAttr(default="private")
    kind: str = "human"

    @property
    def text(self) -> str:
        return f"text of {self.content}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def size(self) -> int:
        return len(self.content or "")

    def describe(self) -> str:
        return self.role


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str | None = None


class Delegating(BaseModel):
    """A model with its own ``__getattr__`` (like a workflow ``Event``): never read directly."""

    data: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


class Computing(BaseModel):
    """A model with its own ``__getattribute__``: it answers before the instance dict."""

    role: str = "stored"

    def __getattribute__(self, name: str) -> Any:
        if name in ("role", "message"):
            return f"computed {name}"
        return super().__getattribute__(name)


@dataclass
class Plain:
    message: str = "hi"


NAMES = ("role", "content", "_secret", "kind", "text", "size", "describe", "missing", "model", "extra_one",
         "message", "data", "tool_calls", "__class__")  # fmt: skip
OBJECTS = (
    Message(content="hello"),
    Message(),
    Loose(model="gpt", extra_one=1),
    Loose(),
    Delegating(data={"message": "from data"}),
    Computing(),
    Plain(),
    None,
    {"message": "a dict's key is not an attribute"},
    "a string",
)


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("name", NAMES)
def test_attr_reads_what_getattr_reads(obj: Any, name: str) -> None:
    expected = getattr(obj, name, None)
    for _ in range(2):  # the second read goes by the remembered plan
        got = attr(obj, name)
        assert got == expected
        assert type(got) is type(expected)


def test_a_miss_on_a_plain_pydantic_model_never_reaches_getattr(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = BaseModel.__getattr__

    def counting(self: BaseModel, name: str) -> Any:
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(BaseModel, "__getattr__", counting)
    message, loose = Message(content="x"), Loose(model="m", extra_one=2)
    assert attr(message, "tool_calls") is None
    assert attr(loose, "tool_calls") is None
    assert attr(loose, "extra_one") == 2
    assert attr(message, "_secret") == "private"  # a private attribute goes by pydantic's own path
    assert calls == ["_secret"]


def test_the_plans_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_attrs, "_direct", {})
    monkeypatch.setattr(_attrs, "MAX_PLANS", 3)
    for name in ("a", "b", "c", "d", "e"):
        assert attr(Message(), name) is None
    assert len(_attrs._direct) == 3
    assert attr(Message(content="still read"), "content") == "still read"
