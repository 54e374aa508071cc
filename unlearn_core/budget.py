"""Run budgets: what a run will cost, in seconds of this machine, before it starts.

A method states its work (:meth:`~unlearn_core.methods.base.UnlearningMethod.work`: sample passes, score
evaluations, trainings from scratch) from its settings and the sizes of the forget and retain sets; the model's
:class:`~unlearn_core.zoo.registry.CostProfile` prices each unit, measured on one thread of the development
machine from the benchmark rows (the app runs on two, so the estimate errs long). Evaluations that are already
cached (the original's, Retrain's) and Retrain references that are shipped or cached cost nothing.

Prices are recorded, not measured at start-up: a timing probe taken while another visitor's run keeps the CPU
busy came out 2 to 25 times too slow, which would have refused runs well within the budget.

The app refuses a request whose estimate exceeds its budget (``BudgetExceeded``, with the estimate, the budget
and a setting that fits); audits are estimated and refused the same way (:func:`check_audit_budget`). An
admitted run or audit is never stopped for running long on a busy host: it is stopped only when its work, metered
as it is done (:mod:`unlearn_core.metering`), passes ``WORK_ALLOWANCE`` times its estimate, which a slow machine
cannot cause. The CLI has no budget.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .audit.suite import ATTACKS, audit_work
from .errors import UnlearningInputError
from .methods import get_method
from .metering import estimate_parts
from .runner import evaluation_is_cached, model_prices, retrain_is_ready
from .zoo import get_model_spec

# An admitted computation may do this many times the work its estimate counts before the app stops it. The work
# done at the defaults is at most the estimate (every method's, metered on digits-mlp: 0.5 to 1.0 of it), so only
# an estimate that is wrong for the settings given reaches it; a slow or busy host never does (work, not seconds).
WORK_ALLOWANCE = 3.0


class BudgetExceeded(UnlearningInputError):
    """A request whose estimated cost is over the app's budget (refused before any work)."""


@dataclasses.dataclass(frozen=True)
class RunCost:
    """Estimated seconds of one run, by part, on this machine."""

    unlearning_s: float
    evaluation_s: float
    retrain_s: float

    @property
    def seconds(self) -> float:
        return self.unlearning_s + self.evaluation_s + self.retrain_s

    def describe(self) -> str:
        return estimate_parts({"unlearning": self.unlearning_s, "evaluation": self.evaluation_s,
                               "training Retrain": self.retrain_s}, keep=("unlearning", "evaluation"))


RunRequest = tuple  # (model, forget, method, overrides, seed, with_retrain), as run_unlearning takes them


def estimate_run(model_name: str, forget: str, method: str, overrides: dict[str, Any] | None = None,
                 seed: int = 0, with_retrain: bool = True, counted: set | None = None) -> RunCost:
    """The estimated cost of ``run_unlearning(model_name, forget, method, seed, overrides, with_retrain)``
    here (validates the request as the run does). ``counted`` collects the Retrain trainings and the
    evaluations of the original and of Retrain already priced for earlier runs of the same request (a Compare
    or a sweep pays for each once)."""
    counted = set() if counted is None else counted
    spec = get_model_spec(model_name)
    request = spec.parse_forget(forget)
    method_obj = get_method(method).for_task(spec.family, overrides, model=model_name, forget_kind=request.kind)
    task = spec.make_task(request, seed)
    work = method_obj.work(task.size("forget"), task.size("retain"))
    profile = spec.cost
    if profile is None:  # a user's model: no prices, no estimate (only the operator's wall-clock cap applies)
        return RunCost(0.0, 0.0, 0.0)

    def first_time(*key) -> bool:
        new = key not in counted
        counted.add(key)
        return new

    evaluations = 1
    if not evaluation_is_cached(model_name, task, "original"):
        evaluations += first_time(model_name, "original", *task.evaluation_key())
    retraining = False
    if with_retrain and task.retrain_available():
        if not retrain_is_ready(model_name, task):
            retraining = first_time(model_name, "retrain", *task.retrain_key())
        if not evaluation_is_cached(model_name, task, "retrain"):
            evaluations += first_time(model_name, "retrain-evaluation", *task.retrain_key(), *task.evaluation_key())
    unlearning = model_prices(model_name).of(work)  # the price the run's work meter checks against
    return RunCost(unlearning_s=unlearning, evaluation_s=evaluations * profile.evaluation_s,
                   retrain_s=profile.retrain_s * retraining)


def estimate_runs(requests: list[RunRequest]) -> RunCost:
    """The summed estimate of several runs done one after another (shared Retrains and evaluations once)."""
    counted: set = set()
    costs = [estimate_run(*request, counted=counted) for request in requests]
    return RunCost(*(sum(getattr(c, part) for c in costs) for part in ("unlearning_s", "evaluation_s", "retrain_s")))


def fitting_setting(requests: list[RunRequest], cost: RunCost, budget_s: float) -> str:
    """A suggestion that fits the budget for ``requests`` estimated at ``cost``: the length knob of a single
    run scaled down, or what dominates."""
    fixed = cost.evaluation_s + cost.retrain_s
    if len(requests) > 1:
        return several_runs_advice(requests, cost)
    model_name, forget, method, overrides, _, _ = requests[0]
    spec = get_model_spec(model_name)
    method_obj = get_method(method).for_task(spec.family, overrides, model=model_name,
                                             forget_kind=spec.parse_forget(forget).kind)
    knob = method_obj.length_knob
    if fixed >= budget_s or knob is None or not cost.unlearning_s:
        parts = "evaluating the models" + (" and training Retrain" if cost.retrain_s else "")
        hint = "; a class target uses a shipped Retrain" if cost.retrain_s else ""
        return f"{parts} alone would take about {fixed:.0f} s here: try a smaller model or forget target{hint}"
    current = getattr(method_obj.config, knob)
    value = current * 0.9 * (budget_s - fixed) / cost.unlearning_s
    value = max(int(value), 1) if isinstance(current, int) else float(f"{value:.2g}")
    return f"{knob} at most {value} (now {current})"


def several_runs_advice(requests: list[RunRequest], cost: RunCost) -> str:
    """What fits for a Compare or a sweep: only what such a request can change. A sweep's targets are its
    random shares (each trains its own Retrain), so a class target is advised only for a single random target."""
    targets = {forget for _, forget, *_ in requests}
    methods = {method for _, _, method, *_ in requests}
    seeds = {seed for *_, seed, _ in requests}
    changes = []
    if len(targets) > 1:
        retrains = f", whose Retrains alone take about {cost.retrain_s:.0f} s" if cost.retrain_s else ""
        changes.append(f"fewer shares (now {len(targets)}{retrains})")
    if len(methods) > 1:
        changes.append(f"fewer methods (now {len(methods)})")
    if len(seeds) > 1:
        changes.append(f"fewer seeds (now {len(seeds)})")
    changes.append("cheaper settings for the slowest methods (e.g. fewer epochs or iterations)")
    if len(targets) == 1 and cost.retrain_s:  # Compare on a random target: a class's Retrain is shipped
        changes.append("a class target (its Retrain is shipped)")
    changes.append("a smaller model")
    return ", ".join(changes[:-1]) + " or " + changes[-1]


def check_budget(requests: list[RunRequest], budget_s: float | None) -> RunCost:
    """The estimate of ``requests`` (runs done one after another), or ``BudgetExceeded`` naming the estimate,
    the budget and settings that fit."""
    cost = estimate_runs(requests)
    if budget_s is not None and cost.seconds > budget_s:
        what = (f"{get_method(requests[0][2]).label} on {requests[0][0]}" if len(requests) == 1
                else f"these {len(requests)} runs")
        raise BudgetExceeded(f"{what} would take {cost.describe()}, over this app's budget of {budget_s:.0f} s "
                             f"per request. To fit: {fitting_setting(requests, cost, budget_s)}. (The command line "
                             "has no budget: python -m unlearn_core run ...)")
    return cost


@dataclasses.dataclass(frozen=True)
class AuditCost:
    """Estimated seconds of one audit, by part, on this machine."""

    attacks_s: float
    training_s: float  # shadows and Retrain trained first, where not shipped or cached
    rerun_s: float     # repeating the audited run, when it has left the app's cache

    @property
    def seconds(self) -> float:
        return self.attacks_s + self.training_s + self.rerun_s

    def describe(self) -> str:
        return estimate_parts({"attacks": self.attacks_s, "training shadows and Retrain": self.training_s,
                               "repeating the run": self.rerun_s}, keep=("attacks",))


def estimate_audit(report: dict[str, Any], attacks: Any, settings: dict[str, dict[str, Any]] | None = None,
                   rerun: bool = False) -> AuditCost:
    """The estimated cost of auditing the run of ``report`` with ``attacks`` here (validates the request);
    ``rerun``: the run itself must be repeated first."""
    spec = get_model_spec(report["model"])
    task = spec.make_task(spec.parse_forget(report["forget"]), report["seed"])
    work = audit_work(report, task, attacks, settings)
    prices = model_prices(report["model"])
    if prices is None:  # a user's model: no prices, no estimate (only the operator's wall-clock cap applies)
        return AuditCost(0.0, 0.0, 0.0)
    training = work.retrains * prices.retrain_s
    run = (estimate_run(report["model"], report["forget"], report["method"], report["hyperparameters"],
                        report["seed"]).seconds if rerun else 0.0)
    return AuditCost(prices.of(work) - training, training, run)


def check_audit_budget(report: dict[str, Any], attacks: Any, settings: dict[str, dict[str, Any]] | None,
                       budget_s: float | None, rerun: bool = False) -> AuditCost:
    """The estimate of the audit, or ``BudgetExceeded`` naming the estimate, the budget and settings that fit."""
    cost = estimate_audit(report, attacks, settings, rerun)
    if budget_s is not None and cost.seconds > budget_s:
        configs = {name: ATTACKS[name].config_for(get_model_spec(report["model"]).family, (settings or {}).get(name))
                   for name in ([attacks] if isinstance(attacks, str) else attacks)}
        knobs = [f"fewer {ATTACKS[name].length_knob} for {name} (now {getattr(config, ATTACKS[name].length_knob)})"
                 for name, config in configs.items()]
        if len(configs) > 1:
            knobs.append("fewer attacks")
        raise BudgetExceeded(f"this audit of {report['method']} on {report['model']} would take {cost.describe()}, "
                             f"over this app's budget of {budget_s:.0f} s per request. To fit: {' or '.join(knobs)}. "
                             "(The command line has no budget: python -m unlearn_core audit ...)")
    return cost
