"""Work meters: how much a computation has done, in the units its estimate counts, against an allowance.

The run budget (:mod:`unlearn_core.budget`) estimates a run in :class:`Work` (sample passes, score
evaluations, trainings from scratch) and prices it with the model's cost profile. Once admitted, a computation is
bounded by that work, never by the host's speed: a :class:`WorkMeter` is credited as the work is done and stops
the computation (:class:`WorkExceeded`) only when the work done, priced the same way, passes a multiple of the
estimate; a slow or busy machine does the same work more slowly and is never stopped by it.

Work is credited at the points every method and attack goes through, not in each method: each sample a task
hands out (``TensorSetsTask.batches``) is one pass, each :meth:`~unlearn_core.tasks.base.TaskAdapter.scores` one
score evaluation; loops that reuse a batch they drew once (the relearning attack) credit each step themselves.
The meter of the running computation is a context variable, so shadow models' tasks and an audit's copies are
metered without any signature changing, and a computation in another thread never sees it.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Iterator

from .errors import ComputationStopped


@dataclasses.dataclass(frozen=True)
class Work:
    """What a computation costs, in units a model's cost profile prices (the app's run budget):
    ``passes``, forward+backward passes of one sample through the model, and ``scores``, evaluations of the
    forget and retain scores (SLUG's step search; each costs a model-dependent time)."""

    passes: float
    scores: float = 0
    retrains: int = 0  # trainings from scratch with the model's recipe (Retrain as a method)

    def __add__(self, other: "Work") -> "Work":
        return Work(self.passes + other.passes, self.scores + other.scores, self.retrains + other.retrains)

    def describe(self) -> str:
        parts = [f"{self.passes:,.0f} sample passes", f"{self.scores:,.0f} score evaluations"]
        if self.retrains:
            parts.append(f"{self.retrains} training{'s' if self.retrains != 1 else ''} from scratch")
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class Prices:
    """Seconds of the development machine per unit of :class:`Work` (a model's cost profile)."""

    pass_s: float
    score_s: float
    retrain_s: float = 0.0

    def of(self, work: Work) -> float:
        return work.passes * self.pass_s + work.scores * self.score_s + work.retrains * self.retrain_s


def estimate_parts(parts: dict[str, float], keep: tuple[str, ...] = ()) -> str:
    """An estimate as the app states it: "about 12 s (unlearning 8 s, evaluation 4 s)"; parts of 0 s are left
    out unless named in ``keep``."""
    shown = [f"{name} {seconds:.0f} s" for name, seconds in parts.items() if seconds or name in keep]
    return f"about {sum(parts.values()):.0f} s ({', '.join(shown)})"


class WorkExceeded(ComputationStopped):
    """A computation did more work than its allowance (a multiple of its estimate) and was stopped. Its estimate
    was wrong, not the machine slow; ``kept`` says what of the request was kept, when something was."""

    def __init__(self, what: str, estimate: Work, done: Work, factor: float, prices: Prices, kept: str = ""):
        self.what, self.estimate, self.done, self.factor, self.prices = what, estimate, done, factor, prices
        self.kept = kept or "nothing was kept"
        self.reason = f"stopped: {what} did more than {factor:g} times the work its estimate counts"
        super().__init__(
            f"{what} was stopped after {done.describe()} (about {prices.of(done):.0f} s of work on an idle machine), "
            f"more than {factor:g} times its estimate of {estimate.describe()} (about {prices.of(estimate):.0f} s): "
            f"the estimate is wrong for these settings, so the app does not let it run on; {self.kept}. Try "
            "smaller settings, or run it from the command line, which has no limit.")

    def keeping(self, kept: str) -> "WorkExceeded":
        """The same stop, saying what of the request was kept."""
        return WorkExceeded(self.what, self.estimate, self.done, self.factor, self.prices, kept)


class WorkMeter:
    """Work done by one computation, checked against ``factor`` times ``estimate`` (both priced by ``prices``,
    so a few extra score evaluations weigh what they cost, not what they count)."""

    def __init__(self, what: str, estimate: Work, prices: Prices, factor: float):
        self.what, self.estimate, self.prices, self.factor = what, estimate, prices, factor
        self.done = Work(0.0)
        self.allowance_s = factor * prices.of(estimate)

    def add(self, passes: float = 0.0, scores: float = 0.0) -> None:
        """Credit work done; raises :class:`WorkExceeded` once the work done is over the allowance."""
        self.done = Work(self.done.passes + passes, self.done.scores + scores, self.done.retrains)
        if self.prices.of(self.done) > self.allowance_s:
            raise WorkExceeded(self.what, self.estimate, self.done, self.factor, self.prices)


_RUNNING: contextvars.ContextVar[WorkMeter | None] = contextvars.ContextVar("running_work_meter", default=None)


def credit(passes: float = 0.0, scores: float = 0.0) -> None:
    """Credit work to the running computation's meter (nothing when none is metered: the CLI, the benchmark)."""
    meter = _RUNNING.get()
    if meter is not None:
        meter.add(passes, scores)


@contextlib.contextmanager
def metered(meter: WorkMeter | None) -> Iterator[WorkMeter | None]:
    """Credit the work done in the block to ``meter`` (None: meter nothing), which stops the block when it is
    over its allowance."""
    token = _RUNNING.set(meter)
    try:
        yield meter
    finally:
        _RUNNING.reset(token)
