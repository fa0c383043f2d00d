"""LangChain's "is this handler a streaming one?", answered for ours without the Protocol's walk.

Before every chat model call (``BaseChatModel._should_stream``) and every step of a streamed
runnable (``Runnable._transform_stream_with_config`` and its async twin), LangChain asks each
handler of the run ``isinstance(handler, _StreamingCallbackHandler)``. That class is a
runtime-checkable ``Protocol``, so for a handler that is not one, such as ours, the check walks
the Protocol's and the handler's attributes: ~100 k instructions on Python 3.11, ~80 k on 3.13.
(LangGraph's own modules ask ``_StreamingCallbackHandler in type(handler).__mro__`` instead.)

The modules that ask get a stand-in under that name whose ``isinstance`` answers ``False`` for
our handler at once (~2.3 k instructions, the call of a Python ``__instancecheck__``) and asks
the Protocol for any other object: the same answer for every handler. The Protocol itself, and
every other module's view of it, are left alone.
"""

from __future__ import annotations

import sys
from typing import Any

from . import _callback

NAME = "_StreamingCallbackHandler"  # a module of a LangChain version without the name is left alone


class _AnswersForOurs(type):
    """The stand-in's type: ``isinstance`` and ``issubclass`` with the stand-in are the Protocol's."""

    protocol: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return instance is not _callback.HANDLER and isinstance(instance, cls.protocol)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.protocol)


def swap_in(module_name: str) -> None:
    module = sys.modules[module_name]
    protocol = getattr(module, NAME, None)
    if isinstance(protocol, type) and not isinstance(protocol, _AnswersForOurs):
        setattr(module, NAME, _AnswersForOurs(NAME, (), {"protocol": protocol, "__module__": __name__}))


def swap_out(module_name: str) -> None:
    module = sys.modules.get(module_name)
    stand_in = getattr(module, NAME, None)
    if isinstance(stand_in, _AnswersForOurs):
        setattr(module, NAME, stand_in.protocol)
