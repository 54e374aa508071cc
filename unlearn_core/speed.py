"""``bench-speed``: click-to-result time of the app's runs, measured the way the app computes them
(``runner.run_unlearning`` with Retrain, then ``inspection.inspect_run`` with the app's default attribution) in a
warm process: the models are loaded and one run per configuration (the warm-up seed) has filled the caches a
running app holds (the original's evaluation, Retrain, the original's grids), then a NEW seed is timed."""
from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import UnlearningInputError, shown
from .inspection import inspect_run
from .runner import run_unlearning
from .zoo import available_models, base_model

# (model, forget target, method, target seconds from issue 14 on the idle 2-core machine)
SPEED_RUNS: list[tuple[str, str, str, float]] = [
    ("digits-cnn", "class:3", "salun", 4.0),
    ("digits-ddpm", "class:3", "salun", 40.0),
    ("shapes-t2i", "concept:triangle", "esd", 40.0),
]
DEFAULT_ATTRIBUTION = "integrated_gradients"  # the app's default (lab_ui/config.py)
ProgressFn = Callable[[float, str], None]


def click(model: str, forget: str, method: str, seed: int, attribution: str | None = DEFAULT_ATTRIBUTION,
          out_dir: Path | None = None) -> dict[str, Any]:
    """One click of the app: the run and its inspection; the times of each part in seconds."""
    start = time.perf_counter()
    outcome = run_unlearning(model, forget, method, seed, None, True)
    ran = time.perf_counter()
    view = inspect_run(outcome, Path(out_dir or tempfile.mkdtemp(prefix="bench-speed-")), attribution)
    done = time.perf_counter()
    return {"model": model, "forget": forget, "method": method, "seed": seed, "total_s": done - start,
            "run_s": ran - start, "unlearn_s": outcome.report["runtime_s"]["unlearn"],
            "inspect_s": done - ran, "report": outcome.report, "view": view}


def run_speed_benchmark(models: list[str] | None = None, seed: int = 1, warmup_seed: int = 0,
                        threads: int | None = None, progress: ProgressFn | None = None) -> list[dict[str, Any]]:
    """Time each of :data:`SPEED_RUNS` (or those of ``models``) at ``seed`` after a warm-up run at
    ``warmup_seed``; returns one row per run (``total_s`` is click to all panels)."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    timed = [r[0] for r in SPEED_RUNS if r[0] in available_models()]
    unknown = [shown(name) for name in models or [] if name not in timed]
    if unknown:
        raise UnlearningInputError(f"bench-speed times the models {', '.join(timed)}; got {', '.join(unknown)}")
    runs = [r for r in SPEED_RUNS if r[0] in timed and (models is None or r[0] in models)]
    rows = []
    for i, (model, forget, method, target) in enumerate(runs):
        if progress:
            progress(i / len(runs), f"{model}: loading and warming up (seed {warmup_seed})")
        base_model(model)
        warm = click(model, forget, method, warmup_seed)
        if progress:
            progress((i + 0.5) / len(runs), f"{model}: timing {method} on {forget} with new seed {seed}")
        row = click(model, forget, method, seed)
        row.update(target_s=target, warmup_total_s=warm["total_s"])
        rows.append(row)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A markdown table of the rows, with the machine it ran on."""
    lines = [f"Click to all panels, warm process, new seed; torch {torch.__version__}, {torch.get_num_threads()} "
             f"thread(s), {platform.processor() or platform.machine()}",
             "",
             "A target is judged on the one timed click (one seed), not on a mean.",
             "",
             "| model | method | forget | click to result (s) | target (s; one timed click) | run (s) | "
             "unlearning (s) | inspection (s) | first click, cold caches (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = "met" if r["total_s"] <= r["target_s"] else "missed"
        lines.append(f"| {r['model']} | {r['method']} | {r['forget']} | {r['total_s']:.1f} | {r['target_s']:g} "
                     f"({verdict}) | {r['run_s']:.1f} | {r['unlearn_s']:.1f} | {r['inspect_s']:.1f} | "
                     f"{r['warmup_total_s']:.1f} |")
    return "\n".join(lines)
