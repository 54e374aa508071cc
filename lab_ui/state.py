"""Shared state of the server process: result caches, cancel flags, the compute queue, the run budget and the
warm-up flag.

Everything here is read-only-after-write or guarded by a lock; per-session results live in ``gr.State``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, ClassVar, Iterator

import gradio as gr

from lab_ui.config import DEFAULT_BUDGET_S, DEFAULT_CACHE_MB, DEFAULT_PER_CLIENT


class RunCancelled(Exception):
    """The user pressed Cancel; raised from the progress callback so the computation stops early."""


class ResultCache:
    """Finished runs by their full request (model, forget, method, seed, validated hyperparameters, ...).
    Runs are seeded and deterministic, so an identical request is answered from here at once."""

    def __init__(self, size: int = 24):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        # called with (key, value) for each entry pushed out (a view's files are deleted with it)
        self.on_evict: Callable[[tuple, Any], None] | None = None

    def get(self, key: tuple) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: tuple, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            evicted = [self.items.popitem(last=False) for _ in range(len(self.items) - self.size)]
        for old_key, old_value in evicted:
            if self.on_evict is not None:
                self.on_evict(old_key, old_value)


class CancelFlags:
    """One flag per browser session (gradio's session hash); Cancel sets it, the next progress call raises. The
    computations of one session in flight at once (one running, one refused at the queue's door) share the
    flag, so a refused request can never leave the running one without its Cancel."""

    def __init__(self):
        self.flags: dict[str, list] = {}  # session -> [flag, computations using it]
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def running(self, session: str) -> Iterator[threading.Event]:
        """The session's flag for the body of a ``with`` block (one computation), dropped when the last
        computation using it ends: a Cancel after the run has finished then answers that nothing is running."""
        with self.lock:
            entry = self.flags.get(session)
            if entry is None or entry[0].is_set():  # a cancelled computation still unwinding keeps its own
                entry = self.flags[session] = [threading.Event(), 0]
            entry[1] += 1
        try:
            yield entry[0]
        finally:
            with self.lock:
                entry[1] -= 1
                if entry[1] == 0 and self.flags.get(session) is entry:
                    del self.flags[session]

    def cancel(self, session: str) -> bool:
        with self.lock:
            entry = self.flags.get(session)
        if entry is None:
            return False
        entry[0].set()
        return True


class QueueRefused(Exception):
    """A request refused at the door of the compute queue; ``title`` says why in a few words (the page's error
    title), the message what to do."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title


@dataclasses.dataclass(eq=False)
class Ticket:
    """One request's place in the compute queue: whose it is and how long it is expected to take."""

    visitor: str
    estimate_s: float
    background: bool = False
    client: str | None = None  # the network address it came from (None: in-process, the warm-up)
    started: float | None = None


class ComputeQueue:
    """The compute slots: one on a CPU (``slots``, more on a GPU: ``--concurrent-runs``), first come first
    served, at most one request per visitor (queued or running), at most ``per_client`` waiting from one network
    address (so that one client cannot fill the queue with fresh sessions) and at most ``max_waiting`` waiting in
    all. A background ticket (the start-up warm-up) takes a slot only while no visitor waits, so a visitor never
    queues behind more than the example being computed (whose estimate counts in the expected wait)."""

    def __init__(self, max_waiting: int = 8, slots: int = 1, per_client: int = DEFAULT_PER_CLIENT):
        self.max_waiting, self.slots, self.per_client = max_waiting, slots, per_client
        self.waiting: list[Ticket] = []
        self.active: list[Ticket] = []
        self.changed = threading.Condition()

    @property
    def running(self) -> Ticket | None:
        """The request that started first of those running (None: the slots are free)."""
        return self.active[0] if self.active else None

    def join(self, visitor: str, estimate_s: float, background: bool = False, client: str | None = None) -> Ticket:
        with self.changed:
            if not background:
                mine = [t for t in [*self.active, *self.waiting] if t.visitor == visitor]
                if mine:
                    state = "running" if mine[0] in self.active else "waiting in the queue"
                    raise QueueRefused("One request at a time",
                                       f"you already have a request {state}; wait for it to finish or press "
                                       "Cancel, then try again (one request per visitor at a time)")
                waiting = [t for t in self.waiting if not t.background]
                from_client = [t for t in waiting if client is not None and t.client == client]
                if len(from_client) >= self.per_client:
                    raise QueueRefused("Too many requests from your address",
                                       f"{len(from_client)} requests from your network address are already "
                                       f"waiting in the queue, the most this app allows per address "
                                       f"({self.per_client}); try again when one of them has started")
                if len(waiting) >= self.max_waiting:
                    raise QueueRefused("Queue full", f"the queue is full ({self.max_waiting} requests waiting); "
                                       "please try again in a minute")
            ticket = Ticket(visitor, estimate_s, background, client)
            self.waiting.append(ticket)
            return ticket

    def position(self, ticket: Ticket) -> tuple[int, float]:
        """(requests ahead of ``ticket``, the expected wait in seconds: the running requests' remaining
        estimates, a start-up example's included, plus the estimates of those ahead, shared by the slots)."""
        with self.changed:
            ahead = [t for t in self.waiting[:self.waiting.index(ticket)] if not t.background]
            wait = sum(t.estimate_s for t in ahead)
            wait += sum(max(t.estimate_s - (time.monotonic() - t.started), 0.0) for t in self.active)
            return len(ahead) + len(self.active), wait / self.slots

    def try_start(self, ticket: Ticket) -> bool:
        """Take the slot if it is ``ticket``'s turn (first among visitors; a background ticket only while no
        visitor waits)."""
        with self.changed:
            if len(self.active) >= self.slots:
                return False
            visitors = [t for t in self.waiting if not t.background]
            turn = (not visitors) if ticket.background else (visitors[0] is ticket)
            if not turn:
                return False
            self.waiting.remove(ticket)
            ticket.started = time.monotonic()
            self.active.append(ticket)
            return True

    def wait(self, timeout: float) -> None:
        with self.changed:
            self.changed.wait(timeout)

    def leave(self, ticket: Ticket) -> None:
        """Give the slot back (or the place in the queue) and wake the waiting."""
        with self.changed:
            if ticket in self.active:
                self.active.remove(ticket)
            elif ticket in self.waiting:
                self.waiting.remove(ticket)
            self.changed.notify_all()


@dataclasses.dataclass
class DemoLimits:
    """The public demo's limits, set from app.py's flags. ``budget_s``: seconds of compute one request may use
    (None: no budget), by its estimate: a request estimated over it is refused before it starts; an admitted one
    is never stopped for being slow (a busy host makes every run slower, not bigger). ``max_wall_s``: the
    operator's hard cap on a computation's wall-clock time (None, the default: no cap). ``limit_s()`` bounds a
    ZeroGPU lease (``OVERRUN`` times the budget: the margin absorbs the estimate's error). ``cache_bytes``: what
    gradio's cache (images it serves) may hold beside the runs' own files, which leave with their runs."""

    budget_s: float | None = DEFAULT_BUDGET_S
    max_wall_s: float | None = None
    cache_bytes: int = DEFAULT_CACHE_MB * 2**20
    device: str = "cpu"  # where runs compute (lab_ui.gpu.configure_compute)
    OVERRUN: ClassVar[float] = 1.25

    def limit_s(self) -> float | None:
        return None if self.budget_s is None else self.budget_s * self.OVERRUN

    def describe(self) -> str:
        """One line for the page, under Run."""
        budget = ("Each request may use up to "
                  f"{self.budget_s:.0f} s of this machine (estimated before it starts: longer settings are refused "
                  "with a suggestion that fits; the command line has no limit)") if self.budget_s else \
            "Requests have no time limit here"
        cap = (f" A computation is stopped after {self.max_wall_s:.0f} s of wall-clock time." if self.max_wall_s
               else "")
        return (f"{budget}. One request per visitor at a time; others wait in a queue that shows their place.{cap} "
                f"Runs compute on: {self.device}.")


VIEWS = ResultCache()           # run request -> inspection view (what the panels show)
REPORTS = ResultCache(64)       # run request without attribution -> report (Compare reuses Lab runs)
SWEEPS = ResultCache(8)         # validated forget-amount sweep -> its plain data
OUTCOMES = ResultCache(4)       # run request -> the run itself (its model and task), for audits
AUDITS = ResultCache(16)        # (run request, attacks, settings) -> the audit's plain data
CANCEL = CancelFlags()
QUEUE = ComputeQueue()          # one computation at a time on this small CPU (runs, compare, sweeps, audits, warm-up)
LIMITS = DemoLimits()           # set from app.py's --budget / --cache-mb (and their environment variables)
WARMUP_DONE = threading.Event()


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"


def client_address(request: gr.Request | None) -> str | None:
    """The network address a request came from, as the server's socket saw it (``request.client.host``).
    X-Forwarded-For is not read here: any client can write it. Behind a reverse proxy on this machine, uvicorn
    (which gradio runs) already replaces the address with the proxy's X-Forwarded-For, trusting only proxies at
    127.0.0.1 and ::1 (its ``forwarded_allow_ips``, $FORWARDED_ALLOW_IPS). None when there is no request
    (in-process calls)."""
    return getattr(getattr(request, "client", None), "host", None) or None
