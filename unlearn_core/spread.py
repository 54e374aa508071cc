"""Results over several seeds: each number with its spread, and the paired comparison with doing nothing.

On our small data one seed cannot decide whether a method beats the untouched original; the summary here
reads every seed's report against Retrain and against doing nothing *on the same seed* (same forget set, same
Retrain) and says in how many seeds the method wins, with a t-interval of the paired difference.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from .metrics import generation_gap, generation_gap_of

MODELS = ("unlearned", "original", "retrain")


def interval(values: Sequence[float]) -> dict[str, Any]:
    """``{mean, std, ci95, n}`` of ``values``: the sample standard deviation (ddof 1) and the two-sided 95%
    Student-t interval of the mean; one value has std 0 and no interval (``ci95`` None)."""
    data = np.asarray([float(v) for v in values], dtype=float)
    n = len(data)
    if n == 0:
        raise ValueError("interval() needs at least one value")
    mean = float(data.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "ci95": None, "n": 1}
    std = float(data.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def gap_pair(report: Mapping[str, Any]) -> tuple[float, float] | None:
    """(the method's gap to Retrain, doing nothing's gap) of one run, both against that run's Retrain:
    SalUn's Avg. Gap for classifiers, else the generation gap (class-conditional generators and GANs);
    None without a Retrain reference or a gap measure."""
    if "avg_gap" in report and "avg_gap_original" in report:
        return float(report["avg_gap"]), float(report["avg_gap_original"])
    metrics = dict(report.get("metrics", {}))
    gap = generation_gap_of(metrics)
    if gap is None:
        return None
    return gap, generation_gap(metrics["original"], metrics["retrain"], metrics["original"])


def metric_gaps(report: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Per metric present in the unlearned, original and Retrain blocks: (|unlearned - Retrain|,
    |original - Retrain|) of one run."""
    metrics = report.get("metrics", {})
    blocks = [metrics.get(name) for name in MODELS]
    if any(block is None for block in blocks):
        return {}
    unlearned, original, retrain = blocks
    return {key: (abs(float(unlearned[key]) - float(retrain[key])), abs(float(original[key]) - float(retrain[key])))
            for key in unlearned if key in original and key in retrain and _is_number(unlearned[key])
            and _is_number(original[key]) and _is_number(retrain[key])}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _paired(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """The comparison of a method with doing nothing over seeds: k wins of n (a strictly smaller gap), the
    paired difference (method - doing nothing; negative = the method is closer to Retrain)."""
    differences = [gap - nothing for gap, nothing in pairs]
    return {"k": int(sum(d < 0 for d in differences)), "n": len(differences), "difference": interval(differences)}


def seed_summary(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of one request's per-seed reports (``runner.run_seeds``'s ``summary``):

    - ``metrics``: for the unlearned model, Retrain and doing nothing (the original), each metric's
      :func:`interval` over the seeds;
    - ``gap`` / ``gap_original``: the interval of the method's gap to Retrain and of doing nothing's
      (:func:`gap_pair`), ``gap_name`` saying which gap it is;
    - ``beats_doing_nothing``: ``{k, n, difference}``, seeds where the method's gap is below the original's on the
      same seed, and the paired difference's interval;
    - ``metric_gaps``: per metric, the same paired comparison of |unlearned - Retrain| with |original - Retrain|
      (what the app colours a table cell by);
    - ``runtime_s``: the unlearning time's interval.
    """
    if not reports:
        raise ValueError("seed_summary() needs at least one report")
    summary: dict[str, Any] = {"n": len(reports), "seeds": [r.get("seed") for r in reports], "metrics": {}}
    for name in MODELS:
        blocks = [r.get("metrics", {}).get(name) for r in reports]
        if any(block is None for block in blocks):
            continue
        keys = [k for k in blocks[0] if all(_is_number(b.get(k)) for b in blocks)]
        summary["metrics"][name] = {k: interval([b[k] for b in blocks]) for k in keys}
    pairs = [gap_pair(r) for r in reports]
    if all(pair is not None for pair in pairs):
        summary["gap_name"] = "avg_gap" if "avg_gap" in reports[0] else "generation_gap"
        summary["gap"] = interval([gap for gap, _ in pairs])
        summary["gap_original"] = interval([nothing for _, nothing in pairs])
        summary["beats_doing_nothing"] = _paired(pairs)
    per_run = [metric_gaps(r) for r in reports]
    shared = [k for k in per_run[0] if all(k in gaps for gaps in per_run)]
    summary["metric_gaps"] = {k: {"unlearned": interval([g[k][0] for g in per_run]),
                                  "original": interval([g[k][1] for g in per_run]),
                                  **_paired([g[k] for g in per_run])} for k in shared}
    times = [r.get("runtime_s", {}).get("unlearn") for r in reports]
    if all(_is_number(t) for t in times):
        summary["runtime_s"] = {"unlearn": interval(times)}
    return summary


def beats_line(summary: Mapping[str, Any]) -> str | None:
    """The verdict in words: "beats doing nothing in k of N seeds (difference X, 95% interval [lo, hi])", or for
    one seed the advice to run several; None without a gap to Retrain."""
    beats = summary.get("beats_doing_nothing")
    if beats is None:
        return None
    difference = beats["difference"]
    if beats["n"] == 1:
        won = "beats" if beats["k"] else "does not beat"
        return (f"{won} doing nothing on this seed (difference {difference['mean']:+.2f}); one seed: run several to "
                "see the spread")
    lo, hi = difference["ci95"]
    return (f"beats doing nothing in {beats['k']} of {beats['n']} seeds (difference {difference['mean']:+.2f}, 95% "
            f"interval [{lo:+.2f}, {hi:+.2f}]; negative = closer to Retrain than the untouched original)")


def indistinguishable(gaps_by_method: Mapping[str, Sequence[float]]) -> list[tuple[str, str]]:
    """Pairs of methods (run on the same seeds, gaps in seed order) whose paired difference's 95% interval
    contains 0: the seeds cannot tell them apart. With one seed every pair is indistinguishable."""
    names = list(gaps_by_method)
    pairs = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = gaps_by_method[first], gaps_by_method[second]
            if len(a) != len(b):
                raise ValueError(f"{first} and {second} were run on different numbers of seeds")
            spread = interval([x - y for x, y in zip(a, b)])
            if spread["ci95"] is None or spread["ci95"][0] <= 0 <= spread["ci95"][1]:
                pairs.append((first, second))
    return pairs

