"""Where rules run: our own daemon threads, each rule of a call on a thread of its own.

- A rule that never returns cannot hold the process at exit (the threads are daemons; a
  ``ThreadPoolExecutor`` joins its workers at exit).
- A thread stuck in a rule is written off, not waited for: the next rule that needs a thread
  gets a new one, so hung rules never use up the capacity other rules need.
- A rule past its budget is quarantined: not run again while that run has not returned, nor
  ever after ``QUARANTINE_AFTER`` runs over budget (until it is registered again). So at most
  one thread per rule can hang, and each hang is logged once.
- A rule that raises anything, ``SystemExit`` and ``KeyboardInterrupt`` included, gives an
  error verdict; nothing it raises reaches the tool call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._model import ToolCall, Verdict

if TYPE_CHECKING:
    from ._engine import Rule

logger = logging.getLogger("staso_integrations")

QUARANTINE_AFTER = 3  # runs over budget before a rule is left out for good
_MAX_IDLE = 8  # idle threads kept for the next rules; more than that exit
HANGING = "while its earlier run hangs"
_RETIRED = f"after {QUARANTINE_AFTER} runs over budget"


class Health:
    """How a rule has behaved: whether a run is past its budget right now, and how often it was."""

    __slots__ = ("hanging", "hangs")

    def __init__(self) -> None:
        self.hanging = False
        self.hangs = 0

    @property
    def quarantine(self) -> str | None:
        """Why the rule is left out now, or ``None``."""
        if self.hangs >= QUARANTINE_AFTER:
            return _RETIRED
        return HANGING if self.hanging else None


class _Threads:
    """Daemon threads taking tasks from one queue; ``idle`` counts those waiting for one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self.lock:
            reuse = self.idle > 0
            if reuse:
                self.idle -= 1  # a waiting thread takes this task
        if reuse:
            self.tasks.put(task)
        else:  # raises RuntimeError when no thread can be started; nothing was queued then
            threading.Thread(target=self._work, args=(task,), name="staso-guard", daemon=True).start()

    def _work(self, task: Callable[[], None]) -> None:
        while True:
            task()
            with self.lock:
                if self.idle >= _MAX_IDLE:
                    return
                self.idle += 1
            task = self.tasks.get()


_threads = _Threads()
_lock = threading.Lock()  # guards Health, _hanging and Run.verdict/late together
_hanging: set[Health] = set()  # rules with a run past its budget right now


def _after_fork_in_child() -> None:
    global _threads, _lock
    _threads = _Threads()  # the parent's threads, stuck ones included, do not exist here
    _lock = threading.Lock()
    for health in _hanging:
        health.hanging = False
    _hanging.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _error(rule: Rule, error: str, duration_ms: float | None = None) -> Verdict:
    return Verdict(None, rule=rule.name, error=error, duration_ms=duration_ms)


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except BaseException:
        return type(exc).__name__


class Run:
    """One rule judging one call on a guard thread."""

    __slots__ = ("call", "evaluate", "future", "late", "rule", "verdict")

    def __init__(self, rule: Rule, call: ToolCall, evaluate: Callable[[Rule, ToolCall], Verdict]) -> None:
        self.rule = rule
        self.call = call
        self.evaluate = evaluate
        self.verdict: Verdict | None = None
        self.late = False  # the caller stopped waiting: this run went over its budget
        self.future: concurrent.futures.Future[Verdict] = concurrent.futures.Future()

    def __call__(self) -> None:
        """On the guard thread: judge, and put the rule back in rotation if this run was late."""
        started = time.perf_counter()
        try:
            verdict = self.evaluate(self.rule, self.call)
        except BaseException as exc:
            verdict = _error(self.rule, _describe(exc), (time.perf_counter() - started) * 1000)
        with _lock:
            self.verdict = verdict
            if self.late:
                self.rule.health.hanging = False
                _hanging.discard(self.rule.health)
        self.future.set_result(verdict)

    def outcome(self) -> Verdict:
        """The verdict, or, when the run is still going past its budget, an error verdict (and
        the rule quarantined while it hangs).
        """
        rule = self.rule
        with _lock:
            if self.verdict is not None:
                return self.verdict
            self.late = True
            health = rule.health
            health.hanging = True
            _hanging.add(health)
            health.hangs += 1
            hangs = health.hangs
        logger.warning(
            "staso guard: rule %r ran over its %g ms budget (%d of %d); quarantined %s",
            rule.name, rule.budget_ms, hangs, QUARANTINE_AFTER,
            "for good" if hangs >= QUARANTINE_AFTER else "until that run returns",
        )  # fmt: skip
        return _error(rule, f"over its {rule.budget_ms:g} ms budget", rule.budget_ms)


def start(
    rules: Sequence[Rule], call: ToolCall, evaluate: Callable[[Rule, ToolCall], Verdict]
) -> list[Run | Verdict]:
    """Start every rule on a thread; a quarantined rule (or one no thread could be started for)
    gets its error verdict at once.
    """
    started: list[Run | Verdict] = []
    for rule in rules:
        with _lock:
            quarantine = rule.health.quarantine
        if quarantine is not None:
            started.append(_error(rule, f"quarantined {quarantine}"))
            continue
        run = Run(rule, call, evaluate)
        try:
            _threads.submit(run)
        except RuntimeError as exc:  # no thread to be had (interpreter shutting down, OS limit)
            started.append(_error(rule, f"not run: {exc}"))
            continue
        started.append(run)
    return started


def _remaining(rule: Rule, since: float) -> float:
    return max(0.0, since + rule.budget_ms / 1000 - time.monotonic())


def wait(runs: list[Run | Verdict], since: float) -> list[Verdict]:
    """Each rule's verdict, waiting for each at most its budget counted from ``since``: the rules
    run side by side, so a call waits its largest budget, never the sum.
    """
    verdicts = []
    for run in runs:
        if isinstance(run, Run):
            concurrent.futures.wait((run.future,), timeout=_remaining(run.rule, since))
            run = run.outcome()
        verdicts.append(run)
    return verdicts


async def await_all(runs: list[Run | Verdict], since: float) -> list[Verdict]:
    """``wait`` without blocking the event loop (a late verdict never cancels the rule's thread)."""
    verdicts = []
    for run in runs:
        if isinstance(run, Run):
            await asyncio.wait((asyncio.wrap_future(run.future),), timeout=_remaining(run.rule, since))
            run = run.outcome()
        verdicts.append(run)
    return verdicts


def quarantined(rules: Sequence[Rule]) -> dict[str, str]:
    with _lock:
        return {rule.name: reason for rule in rules if (reason := rule.health.quarantine) is not None}
