"""The forget-amount sweep (SalUn's Figure 1): each method's Avg. Gap to Retrain as the share of the training set
that is forgotten grows, beside the gap of doing nothing (the untouched original model).

For every share P, seed and method, :func:`forget_amount_sweep` runs ``runner.run_unlearning`` on ``random:P`` and
returns plain data (numbers and strings) for the plots, the benchmark files and the app.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from typing import Any

import numpy as np

from .errors import ComputationStopped, UnlearningInputError, shown
from .hparams import SEED_MAX, check_seed, decimal_number
from .methods import METHODS, get_method
from .runner import ProgressFn, partial_record, run_unlearning
from .zoo import available_models, get_model_spec

DEFAULT_SHARES = (10.0, 20.0, 30.0, 40.0, 50.0)
SHARES_HELP = "percentages strictly between 0 and 100, each given once (e.g. 10,20,30,40,50)"


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """A validated sweep: canonical method names, shares as floats, seeds as ints, overrides per method."""

    model: str
    shares: tuple[float, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: dict[str, dict[str, Any]]
    configs: str  # every method's full validated configuration as JSON: equal sweeps compare equal

    @property
    def cache_key(self) -> tuple:
        """Hashable identity of the sweep."""
        return (self.model, self.shares, self.methods, self.seeds, self.configs)


def share_forget(share: float) -> str:
    """The forget target of one share: ``random:P``."""
    return f"random:{share:g}"


def _items(value: Any) -> list:
    """A list from a sequence, or from text separated by commas and/or spaces (what the CLI and app pass)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value.strip()) if item]
    if isinstance(value, (int, float)):
        return [value]
    return list(value)


def _check_shares(raw_shares: Any, problems: list[str]) -> tuple[float, ...]:
    shares: list[float] = []
    wrong: list[str] = []
    for raw in _items(raw_shares):
        # Plain ASCII decimals only (float() would also read "٣", "６４" and "1_0"); a trailing % is allowed.
        number = decimal_number(raw.strip().removesuffix("%") if isinstance(raw, str) else raw)
        if number is None:
            wrong.append(f"{shown(raw)} is not a number written in plain digits")
            continue
        # As the forget target writes it (``random:{P:g}``), so the data names the share that was run.
        share = float(f"{number:g}")
        if not 0 < share < 100:  # also refuses NaN
            wrong.append(f"{raw} is not strictly between 0 and 100")
        elif share in shares:
            wrong.append(f"{share:g} is given twice")
        else:
            shares.append(share)
    if not shares and not wrong:
        wrong.append("none given")
    if wrong:
        problems.append(f"shares must be {SHARES_HELP}; got: {'; '.join(wrong)}")
    return tuple(shares)


def _check_methods(family: str, raw_methods: Any, raw_overrides: Any,
                   problems: list[str]) -> tuple[tuple[str, ...], dict[str, dict[str, Any]], dict[str, dict]]:
    """(canonical method names, their overrides, their full validated configurations)."""
    # Retrain is the reference every gap is measured to (its own gap is 0 by definition), so not a contender.
    valid = [name for name, cls in METHODS.items() if family in cls.tasks and name != "retrain"]
    names = [str(raw).strip().lower().replace("-", "_") for raw in _items(raw_methods)]
    methods = list(dict.fromkeys(name for name in names if name in valid))
    unknown = [name for name in dict.fromkeys(names) if name not in valid and name != "retrain"]
    twice = [name for name in methods if names.count(name) > 1]
    if "retrain" in names:
        problems.append("Retrain is the reference every gap is measured to (its own gap is 0): leave it out")
    if unknown:
        problems.append(f"unknown method {', '.join(map(shown, unknown))} for {family} models; valid: "
                        f"{', '.join(valid)}")
    elif not names:
        problems.append(f"pick at least one method; valid: {', '.join(valid)}")
    if twice:
        problems.append(f"method {', '.join(twice)} is given twice")

    overrides = raw_overrides or {}
    if not isinstance(overrides, dict):
        problems.append(f"overrides must map a method to its hyperparameters, e.g. {{\"ga\": {{\"epochs\": 1}}}}; "
                        f"got {shown(raw_overrides)}")
        overrides = {}
    stray = [str(name) for name in overrides if name not in methods]
    if stray:
        problems.append(f"overrides given for methods not in the sweep: {', '.join(stray)}")
    given = {name: overrides.get(name) or {} for name in methods}
    configs: dict[str, dict] = {}
    for name, values in given.items():
        if not isinstance(values, dict):
            problems.append(f"overrides for {name} must be a JSON object; got {shown(values)}")
            continue
        try:
            configs[name] = dataclasses.asdict(get_method(name).for_task(family, values).config)  # validates
        except UnlearningInputError as error:
            problems.append(str(error))
    return tuple(methods), given, configs


def _check_seeds(raw_seeds: Any, problems: list[str]) -> tuple[int, ...]:
    seeds: list[int] = []
    wrong: list[str] = []
    for raw in _items(raw_seeds):
        try:
            value = check_seed(raw)
        except UnlearningInputError:
            wrong.append(f"{shown(raw)} is out of range or not an integer")
            continue
        if value in seeds:
            wrong.append(f"{value} is given twice")
        else:
            seeds.append(value)
    if not seeds and not wrong:
        wrong.append("none given")
    if wrong:
        problems.append(f"seeds must be integers in 0..{SEED_MAX}, each given once (e.g. 0,1,2); "
                        f"got: {'; '.join(wrong)}")
    return tuple(seeds)


def validate_sweep(model_name: str, shares: Any, methods: Any, seeds: Any,
                   overrides: dict[str, dict[str, Any]] | None = None) -> SweepRequest:
    """Check a whole sweep before any work; every problem found goes into one :class:`UnlearningInputError`
    that names the valid values. ``shares``, ``methods`` and ``seeds`` are sequences or comma-separated text."""
    spec = get_model_spec(str(model_name or ""))
    if "random" not in spec.forget_kinds:
        takers = [name for name in available_models() if "random" in get_model_spec(name).forget_kinds]
        raise UnlearningInputError(
            f"the forget-amount sweep forgets random shares of the training set (random:P), but {spec.name} takes "
            f"only {', '.join(spec.forget_kinds)} targets; models that take random:P: {', '.join(takers) or 'none'}")
    problems: list[str] = []
    clean_shares = _check_shares(shares, problems)
    clean_methods, clean_overrides, configs = _check_methods(spec.family, methods, overrides, problems)
    clean_seeds = _check_seeds(seeds, problems)
    if problems:
        raise UnlearningInputError("; ".join(problems))
    # Drawing each forget set is cheap, and the core's own check (a share that empties a class) then fails
    # here, before any training, rather than minutes into the sweep.
    for share in clean_shares:
        for seed in clean_seeds:
            spec.make_task(spec.parse_forget(share_forget(share)), seed)
    return SweepRequest(spec.name, clean_shares, clean_methods, clean_seeds, clean_overrides,
                        json.dumps(configs, sort_keys=True, default=str))


def _series(values: list[list[float]]) -> dict[str, list]:
    """Mean and std over seeds per share (std as ``np.std``, like the benchmark tables), and the values."""
    return {"mean": [float(np.mean(v)) for v in values], "std": [float(np.std(v)) for v in values],
            "per_seed": [list(map(float, v)) for v in values]}


def forget_amount_sweep(model_name: str, shares: Any = DEFAULT_SHARES, methods: Any = ("salun",),
                        seeds: Any = (0,), overrides: dict[str, dict[str, Any]] | None = None,
                        progress: ProgressFn | None = None, allowance: float | None = None) -> dict[str, Any]:
    """Run every method on ``random:P`` for every share P and seed, with Retrain, and return plain data:

    ``{"model", "shares": [P...], "seeds": [...], "methods": {name: {"label", "mean", "std", "per_seed"}},
    "original": {"mean", "std", "per_seed"}, "reports": [report...], "seconds"}``

    ``mean``/``std``/``per_seed`` run over ``shares`` (``per_seed[i]`` lists one Avg. Gap per seed);
    ``original`` is doing nothing: the untouched model's Avg. Gap to Retrain. ``progress(fraction, message)``
    is called often; raising from it (the app's Cancel) stops the sweep. Retrain for a share and seed is trained
    once and shared by the methods (the runner caches it), so the runs are ordered share, seed, method.
    ``allowance`` is each run's work stop (``runner.run_unlearning``). Stopped by one of the app's limits
    (``ComputationStopped``) after some shares were finished, every method on every seed, it returns those shares
    with ``partial`` (``runner.partial_record``) saying which were not run; stopped in the first, it raises.
    """
    request = validate_sweep(model_name, shares, methods, seeds, overrides)
    labels = {name: get_method(name).label for name in request.methods}
    total = len(request.shares) * len(request.seeds) * len(request.methods)
    gaps: dict[str, list[list[float]]] = {name: [] for name in request.methods}
    original: list[list[float]] = []
    reports: list[dict[str, Any]] = []
    finished: list[float] = []
    stopped = None
    start = time.perf_counter()
    for share in request.shares:
        try:
            share_reports = _sweep_share(request, share, labels, len(reports), total, progress, allowance)
        except ComputationStopped as stop:
            if not finished:
                raise
            stopped = stop
            break
        reports += share_reports
        for name in request.methods:
            gaps[name].append([float(r["avg_gap"]) for r in share_reports if r["method"] == name])
        # Doing nothing depends on the share and seed only: every method's report carries the same number.
        original.append([float(r["avg_gap_original"]) for r in share_reports if r["method"] == request.methods[0]])
        finished.append(share)
    if progress and stopped is None:
        progress(1.0, "sweep done")
    result = {"model": request.model, "shares": finished, "seeds": list(request.seeds),
              "methods": {name: {"label": labels[name], **_series(gaps[name])} for name in request.methods},
              "original": _series(original), "reports": reports, "seconds": time.perf_counter() - start}
    if stopped is not None:
        result["partial"] = partial_record(stopped, "shares", finished, list(request.shares))
    return result


def _sweep_share(request: SweepRequest, share: float, labels: dict[str, str], done: int, total: int,
                 progress: ProgressFn | None, allowance: float | None) -> list[dict[str, Any]]:
    """Every method on every seed of one share (``done`` runs of the ``total`` came before): their reports."""
    reports = []
    for seed in request.seeds:
        for name in request.methods:
            where = f"{share_forget(share)}, seed {seed}, {labels[name]} ({done + len(reports) + 1}/{total})"
            run_progress = None if progress is None else (
                lambda f, m, done=done + len(reports), where=where:
                progress((done + min(max(f, 0.0), 1.0)) / total, f"{where}: {m}"))
            report = run_unlearning(request.model, share_forget(share), name, seed, request.overrides[name],
                                    progress=run_progress, allowance=allowance).report
            if "avg_gap" not in report:
                raise UnlearningInputError(
                    f"{request.model}'s reports have no Avg. Gap to Retrain (it needs UA, RA, TA and MIA, which "
                    "only classifiers report), so it has no forget-amount sweep")
            reports.append(report)
    return reports


def share_judgement(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep judged at every share, seed by seed (``targets.judge_seeds``): per share, each method's rank by
    mean Avg. Gap (1 = closest to Retrain), its worst seed against doing nothing (the original's gap on the same
    seed and share) and whether it beats doing nothing on every seed. Plain data, one dict per share:
    ``{"share", "methods": {name: {"label", "rank", "mean", "worst_seed", "worst_gap", "worst_nothing",
    "beats_nothing"}}, "nothing_mean"}``."""
    from .targets import Bound, judge_seeds

    seeds = list(sweep["seeds"])
    out = []
    for i, share in enumerate(sweep["shares"]):
        nothing = sweep["original"]["per_seed"][i]
        means = {name: float(np.mean(entry["per_seed"][i])) for name, entry in sweep["methods"].items()}
        order = sorted(means, key=lambda name: means[name])
        methods = {}
        for name, entry in sweep["methods"].items():
            judged = judge_seeds(list(zip(entry["per_seed"][i], nothing)), seeds,
                                 {"gap": lambda pair: pair[0], "nothing": lambda pair: pair[1]},
                                 [Bound("gap", "<", "nothing")])
            methods[name] = {"label": entry["label"], "rank": order.index(name) + 1, "mean": means[name],
                             "worst_seed": judged.worst_seed, "worst_gap": judged.worst["gap"],
                             "worst_nothing": judged.worst["nothing"], "beats_nothing": judged.met,
                             "beats_nothing_on_mean": judged.mean_passes}
        out.append({"share": share, "methods": methods, "nothing_mean": float(np.mean(nothing))})
    return out
