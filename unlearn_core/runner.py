"""One unlearning run, end to end: the function the CLI, the benchmark and the app all call."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import torch
from torch import nn

from .cache import ModelCache
from .errors import ComputationStopped, DivergenceError
from .execution import place, record, run_device
from .hparams import MAX_SEEDS, check_seed, check_seeds, repeat_seeds  # the app's seed checks too: one range
from .methods import get_method
from .metering import Prices, WorkMeter, metered
from .metrics import avg_gap
from .spread import seed_summary
from .tasks.base import RetrainReference
from .zoo import fresh_copy, get_model_spec
from .zoo.hub import HUB_FAMILIES

ProgressFn = Callable[[float, str], None]


# Retrain models and original-model metrics depend only on their key (model name first; see cache.py).
_RETRAIN = ModelCache(16)
_ORIGINAL = ModelCache(64)


@dataclasses.dataclass
class RunOutcome:
    report: dict[str, Any]
    model: nn.Module
    artifacts: dict[str, Any]
    task: Any


def _sub_progress(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)


def retrain_model(model_name: str, forget: str, seed: int, task=None, progress: ProgressFn | None = None,
                  live: bool = False) -> RetrainReference:
    """Retrain (exact unlearning) for this model, forget target and seed; cached. A shipped reference is
    loaded when one exists; ``live`` trains it here instead (the benchmark times Retrain that way)."""
    spec = get_model_spec(model_name)
    request = spec.parse_forget(forget)
    seed = check_seed(seed)
    task = task or spec.make_task(request, seed)

    def compute() -> RetrainReference:
        # Families whose Retrain is a shipped reference may not have one for every target.
        if not task.retrain_available():
            return RetrainReference(None, None, None)
        start = time.perf_counter()
        reference = task.retrain(progress=progress, live=live)
        if reference.seconds is None:  # a shipped reference without a recorded training time: the load time
            reference = dataclasses.replace(reference, seconds=time.perf_counter() - start)
        return reference

    return _RETRAIN.remember(_reference_key(model_name, task, live), compute)


# The caches' keys, one function each: the runs fill them and the run budget asks what they already hold.
def _reference_key(model_name: str, task, live: bool = False) -> tuple:
    return (model_name, live, *task.retrain_key())


def _original_metrics_key(model_name: str, task) -> tuple:
    # Metrics of the original and of Retrain depend only on the weights and what the task's evaluation depends
    # on (task.evaluation_key(): for generative families not the run's seed, their samples use fixed seeds).
    return (model_name, "original", *task.evaluation_key())


def _retrain_metrics_key(model_name: str, task, live: bool = False) -> tuple:
    return (model_name, "retrain", live, *task.retrain_key(), *task.evaluation_key())


def retrain_is_ready(model_name: str, task) -> bool:
    """Whether the Retrain reference of ``task`` costs no training: shipped, already cached, or none at all."""
    return (not task.retrain_available() or task.retrain_is_shipped()
            or _reference_key(model_name, task) in _RETRAIN)


def evaluation_is_cached(model_name: str, task, which: str) -> bool:
    """Whether the metrics of the original (``which="original"``) or of Retrain are already cached for the
    evaluation ``task`` would run."""
    key = _original_metrics_key(model_name, task) if which == "original" else _retrain_metrics_key(model_name, task)
    return key in _ORIGINAL


def check_finite_weights(model: nn.Module, label: str) -> None:
    """A step can overflow the weights without the loss showing it yet; refuse to evaluate such a model."""
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise DivergenceError(f"{label}: weights became NaN or infinite ({', '.join(bad[:3])}); the run was "
                              "stopped. Lower the learning rate or the forget-loss weight and try again.")


def run_copy(model_name: str) -> nn.Module:
    """A run's own copy of the model, on the run's device (a user's hub model stays where its options put it)."""
    model = fresh_copy(model_name)
    return model if model_name in HUB_FAMILIES else place(model, run_device())


def model_prices(model_name: str) -> Prices | None:
    """What a unit of work costs on ``model_name`` (its cost profile); None for a user's model (no prices)."""
    cost = get_model_spec(model_name).cost
    return None if cost is None else Prices(cost.pass_s, cost.score_s, cost.retrain_s)


def unlearning_meter(model_name: str, method_obj, task, allowance: float | None) -> WorkMeter | None:
    """The meter of a run's unlearning: its method's estimated work (what the run budget prices), allowed
    ``allowance`` times over; None when nothing is metered (no allowance, or a model without prices)."""
    prices = model_prices(model_name)
    if allowance is None or prices is None:
        return None
    estimate = method_obj.work(task.size("forget"), task.size("retain"))
    return WorkMeter(f"{method_obj.label} on {model_name}", estimate, prices, allowance)


def run_unlearning(model_name: str, forget: str, method: str, seed: int = 0,
                   overrides: dict[str, Any] | None = None, with_retrain: bool = True,
                   progress: ProgressFn | None = None, live_retrain: bool = False,
                   allowance: float | None = None) -> RunOutcome:
    """Unlearn ``forget`` from a copy of the shipped ``model_name`` with ``method``; evaluate the original,
    the unlearned and (optionally) the Retrain model; return the report, the model and the artifacts.
    ``live_retrain`` trains Retrain here even where a reference is shipped (to time it). With ``allowance``, the
    unlearning is stopped (``metering.WorkExceeded``) once its work is over ``allowance`` times its estimate
    (the app's work stop; the evaluations and Retrain follow fixed recipes and are not metered)."""
    spec = get_model_spec(model_name)
    request = spec.parse_forget(forget)
    seed = check_seed(seed)
    # validates every value; defaults: the family's, then those tuned for this model and kind of target
    method_obj = get_method(method).for_task(spec.family, overrides, model=model_name, forget_kind=request.kind)
    spec.check_method(type(method_obj))
    task = spec.make_task(request, seed)

    reference = RetrainReference(None, None, None)
    if with_retrain:
        reference = retrain_model(model_name, str(request), seed, task, _sub_progress(progress, 0.0, 0.4),
                                  live=live_retrain)
    retrain = reference.model
    retrain_key = _retrain_metrics_key(model_name, task, live_retrain)
    if retrain is not None:
        task.target_forget_score = _ORIGINAL.remember((*retrain_key, "forget_score"),
                                                      lambda: task.forget_score(retrain))

    if progress:
        progress(0.4, "evaluating the original model")
    original_metrics = _ORIGINAL.remember(_original_metrics_key(model_name, task),
                                          lambda: task.evaluate(run_copy(model_name).eval()))

    model = run_copy(model_name)
    torch.manual_seed(seed)
    start = time.perf_counter()
    with metered(unlearning_meter(model_name, method_obj, task, allowance)):
        result = method_obj.unlearn(model, task, progress=_sub_progress(progress, 0.45, 0.9))
    task.settle(result.model)
    unlearn_time = time.perf_counter() - start
    unlearned = result.model.eval().requires_grad_(False)
    check_finite_weights(unlearned, method_obj.label)

    if progress:
        progress(0.9, "evaluating the unlearned model")
    metrics = {"original": original_metrics, "unlearned": task.evaluate(unlearned)}
    report: dict[str, Any] = {
        "model": model_name, "forget": str(request), "method": method_obj.name, "seed": seed,
        "hyperparameters": dataclasses.asdict(method_obj.config), "metrics": metrics,
    }
    if retrain is not None:
        metrics["retrain"] = _ORIGINAL.remember(retrain_key, lambda: task.evaluate(retrain))
        report["retrain_source"] = reference.source
        if all(k in metrics["retrain"] for k in ("ua", "ra", "ta", "mia")):
            report["avg_gap"] = avg_gap(metrics["unlearned"], metrics["retrain"])
            report["avg_gap_original"] = avg_gap(metrics["original"], metrics["retrain"])
        if hasattr(task, "kl_to"):
            report["kl_to_retrain"] = task.kl_to(retrain, unlearned)
    report["runtime_s"] = {"unlearn": unlearn_time, "retrain": reference.seconds}
    report["execution"] = record(unlearned)
    settings = task.evaluation_settings()
    if settings is not None:
        report["evaluation"] = settings
    if progress:
        progress(1.0, "done")
    return RunOutcome(report, unlearned, result.artifacts, task)


@dataclasses.dataclass
class SeedsOutcome:
    """One request repeated over several seeds: ``report`` holds every seed's report under ``runs`` and their
    ``summary`` (:func:`unlearn_core.spread.seed_summary`); ``first`` is the first seed's whole outcome (its
    model and artifacts, what the app inspects and what a weights file would hold). ``stopped``: the limit that
    stopped the request after some seeds (the report's ``partial`` says which), or None."""

    report: dict[str, Any]
    first: RunOutcome
    stopped: ComputationStopped | None = None


def seeds_report(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of a request run over several seeds: what the runs share, ``runs`` and ``summary``."""
    first = reports[0]
    shared = {key: first[key] for key in ("model", "forget", "method", "hyperparameters") if key in first}
    return {**shared, "seeds": [r["seed"] for r in reports], "runs": list(reports), "summary": seed_summary(reports)}


def partial_record(stop: ComputationStopped, what: str, finished: list, asked: list) -> dict[str, Any]:
    """What a request stopped part-way by one of the app's limits kept (plain data for the report and the page):
    the stop's ``reason`` and ``message``, and which of the ``asked`` parts (``what``: "seeds", "shares") it
    ``finished``."""
    return {"reason": stop.reason, "message": str(stop), "what": what, "finished": list(finished),
            "not_finished": [part for part in asked if part not in finished]}


def run_seeds(model_name: str, forget: str, method: str, seeds: Any, overrides: dict[str, Any] | None = None,
              with_retrain: bool = True, progress: ProgressFn | None = None,
              live_retrain: bool = False, allowance: float | None = None) -> SeedsOutcome:
    """``run_unlearning`` once per seed (for a random target each seed draws its own forget set and trains its
    own Retrain), then the summary over seeds. Only the first seed's model is kept. Stopped by one of the app's
    limits (``ComputationStopped``: ``allowance``'s work stop, the app's wall-clock cap) after some seeds, it
    returns the seeds finished, the report marked ``partial``; stopped in the first seed, it raises the stop."""
    seeds = check_seeds(seeds)
    outcomes: list[RunOutcome] = []
    reports = []
    stopped = None
    for n, seed in enumerate(seeds):
        step = _sub_progress(progress, n / len(seeds), (n + 1) / len(seeds))
        tagged = None if step is None else (lambda f, m, seed=seed: step(f, f"seed {seed}: {m}"))
        try:
            outcome = run_unlearning(model_name, forget, method, seed, overrides, with_retrain, tagged, live_retrain,
                                     allowance)
        except ComputationStopped as stop:
            if not reports:
                raise
            stopped = stop
            break
        reports.append(outcome.report)
        if not outcomes:
            outcomes.append(outcome)
    report = seeds_report(reports)
    if stopped is not None:
        report["partial"] = partial_record(stopped, "seeds", report["seeds"], seeds)
    return SeedsOutcome(report, outcomes[0], stopped)
