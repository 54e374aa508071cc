"""Shared state of the server process: result caches, cancel flags, the one compute slot and the warm-up flag.

Everything here is read-only-after-write or guarded by a lock; per-session results live in ``gr.State``.
"""
from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any, Iterator

import gradio as gr


class RunCancelled(Exception):
    """The user pressed Cancel; raised from the progress callback so the computation stops early."""


class ResultCache:
    """Finished runs by their full request (model, forget, method, seed, validated hyperparameters, ...).
    Runs are seeded and deterministic, so an identical request is answered from here at once."""

    def __init__(self, size: int = 24):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: tuple) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: tuple, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class CancelFlags:
    """One flag per browser session (gradio's session hash); Cancel sets it, the next progress call raises."""

    def __init__(self):
        self.flags: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        with self.lock:
            flag = self.flags[session] = threading.Event()
            return flag

    @contextlib.contextmanager
    def running(self, session: str) -> Iterator[threading.Event]:
        """A fresh flag for the body of a ``with`` block (one computation), dropped when it ends: a Cancel after
        the run has finished then answers that nothing is running."""
        flag = self.start(session)
        try:
            yield flag
        finally:
            with self.lock:
                if self.flags.get(session) is flag:  # a newer computation of this session keeps its own
                    del self.flags[session]

    def cancel(self, session: str) -> bool:
        with self.lock:
            flag = self.flags.get(session)
        if flag is None:
            return False
        flag.set()
        return True


class WaitingVisitors:
    """How many visitors' runs are waiting for the compute slot: the start-up warm-up lets them go first."""

    def __init__(self):
        self._count, self._lock = 0, threading.Lock()

    def __enter__(self):
        with self._lock:
            self._count += 1

    def __exit__(self, *exc):
        with self._lock:
            self._count -= 1

    def any(self) -> bool:
        return self._count > 0


VIEWS = ResultCache()           # run request -> inspection view (what the panels show)
REPORTS = ResultCache(64)       # run request without attribution -> report (Compare reuses Lab runs)
SWEEPS = ResultCache(8)         # validated forget-amount sweep -> its plain data
OUTCOMES = ResultCache(4)       # run request -> the run itself (its model and task), for audits
AUDITS = ResultCache(16)        # (run request, attacks, settings) -> the audit's plain data
CANCEL = CancelFlags()
COMPUTE_LOCK = threading.Lock()  # one computation at a time on this small CPU (runs, compare, warm-up)
WAITING = WaitingVisitors()
WARMUP_DONE = threading.Event()


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"
