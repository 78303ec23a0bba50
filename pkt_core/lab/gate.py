"""The heavy slot: model-bound work (locate, similarity, transfers, generation) runs one job at a
time, in arrival order, and in public mode each visitor session may hold at most one running and
one waiting job, with a cap on waiting jobs overall.

Why not Gradio's own queue (`concurrency_limit=1`)? It cannot count per session, and one client
that queued 34 transfers filled it, so every other visitor's light action got "Queue is full!".
Here a job over quota is refused at once with one sentence, and light actions never enter the gate.
"""
from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from .inputs import LabError, lab_limits

PER_SESSION = 2  # one running + one waiting


class QuotaExceeded(LabError):
    """The visitor (or the lab as a whole) already has as many heavy jobs as it may."""


class HeavyGate:
    def __init__(self, slots: int = 1) -> None:
        self._slots = slots
        self._cond = threading.Condition()
        self._running: list[str] = []
        self._waiting: deque[object] = deque()
        self._owner: dict[object, str] = {}

    def load(self, session: str) -> int:
        """Heavy jobs this session holds (running or waiting)."""
        with self._cond:
            return self._running.count(session) + list(self._owner.values()).count(session)

    def _admit(self, session: str) -> object:
        limits = lab_limits()
        if limits.public:
            if self._running.count(session) + list(self._owner.values()).count(session) >= PER_SESSION:
                raise QuotaExceeded("you already have a job running and one waiting; wait for one "
                                    "to finish or cancel it")
            if len(self._waiting) >= limits.max_waiting_jobs:
                raise QuotaExceeded("the lab is busy (too many jobs waiting); try again in a few "
                                    "minutes")
        ticket = object()
        self._waiting.append(ticket)
        self._owner[ticket] = session
        return ticket

    @contextmanager
    def hold(self, session: str, waiting: Callable[[int], None] | None = None) -> Iterator[None]:
        """Hold the heavy slot for the block; wait for it in arrival order (calling `waiting` with
        the queue position now and then), or raise QuotaExceeded at once."""
        with self._cond:
            ticket = self._admit(session)
            try:
                while not (len(self._running) < self._slots and self._waiting[0] is ticket):
                    if waiting is not None:
                        waiting(list(self._waiting).index(ticket) + 1)
                    self._cond.wait(timeout=1.0)
            except BaseException:
                self._leave(ticket)
                raise
            self._waiting.popleft()
            del self._owner[ticket]
            self._running.append(session)
        try:
            yield
        finally:
            with self._cond:
                self._running.remove(session)
                self._cond.notify_all()

    def _leave(self, ticket: object) -> None:
        self._waiting.remove(ticket)
        del self._owner[ticket]
        self._cond.notify_all()


GATE = HeavyGate()
