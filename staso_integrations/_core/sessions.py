"""Turn counters of the sessions this process has seen: every ``conversation()`` block (and
the ``STASO_SESSION_ID`` session) with the same ``session_id`` continues one count.

Bounded: past ``MAX_SESSIONS`` the least recently used session is forgotten, and a block of it
that comes back later starts again from 0 (or from the ``turn_index`` its caller passes).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict

MAX_SESSIONS = 10_000

_turns: OrderedDict[str, itertools.count[int]] = OrderedDict()
_lock = threading.Lock()


def session_turns(session_id: str, start: int | None = None) -> itertools.count[int]:
    """The turn counter of ``session_id``; ``start`` restarts it there (a caller that knows
    the turn, e.g. one of several server processes).
    """
    with _lock:
        counter = _turns.get(session_id) if start is None else None
        if counter is None:
            counter = _turns[session_id] = itertools.count(start or 0)
        _turns.move_to_end(session_id)
        if len(_turns) > MAX_SESSIONS:
            _turns.popitem(last=False)
        return counter


def _reset_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by another thread at fork


os.register_at_fork(after_in_child=_reset_in_child)
