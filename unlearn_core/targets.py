"""Judging a benchmark target over seeds: a target is **met** only when its worst seed meets it.

A mean over seeds can meet a bound that one seed misses (shapes-gan: 9.3% of triangles on the mean, 10.2% on
seed 1, against "under 10%"), so every target line the benchmarks write shows the mean *and* the worst seed,
named, and its verdict is the worst seed's. :func:`judge_seeds` is the one place that decides; the benchmark's
target functions (``bench.py``) and the forget-amount sweep's per-share judgement (``sweep.py``) all call it.
"""
from __future__ import annotations

import dataclasses
import operator
from typing import Any, Callable, Mapping, Sequence

import numpy as np

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                   "<": operator.lt}


@dataclasses.dataclass(frozen=True)
class Bound:
    """One condition of a target: quantity ``name`` ``op`` ``limit``, where ``limit`` is a number or the name of
    another quantity (e.g. the original's FID times 1.2, computed per seed)."""

    name: str
    op: str
    limit: float | str

    def limit_of(self, values: Mapping[str, float]) -> float:
        return float(values[self.limit]) if isinstance(self.limit, str) else float(self.limit)

    def holds(self, values: Mapping[str, float]) -> bool:
        return _OPS[self.op](float(values[self.name]), self.limit_of(values))

    def slack(self, values: Mapping[str, float]) -> float:
        """How far inside the bound (negative: outside), relative to the limit's size: picks the worst seed."""
        value, limit = float(values[self.name]), self.limit_of(values)
        room = value - limit if self.op in (">=", ">") else limit - value
        return room / max(abs(limit), 1.0)


@dataclasses.dataclass(frozen=True)
class SeedJudgement:
    """A target judged seed by seed: each seed's quantities, their means, which seeds meet the bounds."""

    seeds: tuple[int, ...]
    per_seed: tuple[dict[str, float], ...]
    mean: dict[str, float]
    passes: tuple[bool, ...]
    mean_passes: bool
    worst_index: int

    @property
    def met(self) -> bool:
        """Met on the worst seed (so on every seed)."""
        return all(self.passes)

    @property
    def worst_seed(self) -> int:
        return self.seeds[self.worst_index]

    @property
    def worst(self) -> dict[str, float]:
        return self.per_seed[self.worst_index]

    @property
    def failing_seeds(self) -> list[int]:
        return [seed for seed, ok in zip(self.seeds, self.passes) if not ok]

    def verdict(self) -> str:
        """``**met**`` or ``**not met**`` with the seeds that miss it and whether the mean alone would meet it."""
        if self.met:
            return "**met**" + (" (every seed)" if len(self.seeds) > 1 else "")
        failing = self.failing_seeds
        which = f"seed{'s' if len(failing) > 1 else ''} {', '.join(map(str, failing))}"
        if len(failing) == len(self.seeds) and len(self.seeds) > 1:
            which = "every seed"
        return f"**not met** (misses it on {which}" + ("; the mean alone would meet it)" if self.mean_passes else ")")

    def line(self, label: str, describe: Callable[[Mapping[str, float]], str]) -> str:
        """``- label: mean ...; worst seed S: ...: verdict``, ``describe`` writing one set of quantities."""
        if len(self.seeds) == 1:
            return f"- {label}: seed {self.seeds[0]}: {describe(self.per_seed[0])}: {self.verdict()}"
        return (f"- {label}: mean {describe(self.mean)}; worst seed {self.worst_seed}: {describe(self.worst)}: "
                f"{self.verdict()}")


def judge_seeds(items: Sequence[Any], seeds: Sequence[int], quantities: Mapping[str, Callable[[Any], float]],
                bounds: Sequence[Bound]) -> SeedJudgement:
    """Judge ``bounds`` on each item (one per seed: a report, or a tuple of reports of the same seed) and on the
    means. ``quantities`` name -> function of one item; the bounds refer to these names. The worst seed is a
    failing one where any fails (the one furthest outside), else the one closest to a bound."""
    if not items or len(items) != len(seeds):
        raise ValueError(f"need one item per seed; got {len(items)} items for seeds {list(seeds)}")
    per_seed = tuple({name: float(fn(item)) for name, fn in quantities.items()} for item in items)
    mean = {name: float(np.mean([values[name] for values in per_seed])) for name in quantities}
    passes = tuple(all(bound.holds(values) for bound in bounds) for values in per_seed)
    # Closest to (or furthest outside) a bound; ties (e.g. every seed at UA 100) broken by the total room left.
    slack = [(min((b.slack(values) for b in bounds), default=0.0), sum(b.slack(values) for b in bounds))
             for values in per_seed]
    worst = min(range(len(slack)), key=slack.__getitem__)
    return SeedJudgement(tuple(int(s) for s in seeds), per_seed, mean, passes,
                         all(bound.holds(mean) for bound in bounds), worst)


def report_seeds_of(reports: Sequence[Mapping[str, Any]]) -> list[int]:
    """The seed of each report (its ``seed`` field; its position where a report has none)."""
    return [int(r["seed"]) if r.get("seed") is not None else i for i, r in enumerate(reports)]
