"""``getattr(obj, name, None)`` for reads that often miss on a pydantic model.

A name a pydantic v2 model lacks goes through ``BaseModel.__getattr__``, which formats and
raises an ``AttributeError``: about 4 µs, forty times a hit. Framework objects are pydantic
models of many shapes (a LlamaIndex ``CompletionResponse`` has no ``message``, a LangChain
``HumanMessage`` no ``tool_calls``), so a reader that asks every shape pays that on most calls.

For a model class whose ``__getattr__`` is pydantic's own and ``__getattribute__`` object's,
with no class attribute, property or private attribute of that name, the value can only be a
field in the instance dict or an extra in ``__pydantic_extra__``: ``attr`` reads those two
directly, exactly what ``getattr`` would find. Anything else takes ``getattr``.
"""

from __future__ import annotations

from typing import Any

MAX_PLANS = 4_096  # (class, name) pairs remembered; past that, each read decides again

_PLAIN_LOOKUP: Any = object.__getattribute__
# (class, name) -> True when the name is read from the instance dict and pydantic's extras.
_direct: dict[tuple[type, str], bool] = {}


def attr(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)``, without the cost of a miss on a pydantic model."""
    cls = type(obj)
    key = (cls, name)
    direct = _direct.get(key)
    if direct is None:
        direct = _reads_direct(cls, name)
        if len(_direct) < MAX_PLANS:
            _direct[key] = direct
    if not direct:
        return getattr(obj, name, None)
    fields = obj.__dict__
    if name in fields:
        return fields[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    return extra.get(name) if extra else None


def _reads_direct(cls: type, name: str) -> bool:
    if cls.__getattribute__ is not _PLAIN_LOOKUP:  # its own lookup comes first
        return False
    owner = next((k for k in cls.__mro__ if "__getattr__" in k.__dict__), None)
    if owner is None or owner.__module__ != "pydantic.main" or owner.__name__ != "BaseModel":
        return False
    private = getattr(cls, "__private_attributes__", None)
    return isinstance(private, dict) and name not in private and not hasattr(cls, name)
