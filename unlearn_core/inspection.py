"""What the app shows about one run, gathered as plain data: saliency per layer, SLUG's layer analysis,
input attributions (classifiers), before/after samples (generative models), and the files to download.

The app calls :func:`inspect_run` with a :class:`~unlearn_core.runner.RunOutcome`; everything returned is
numbers, arrays, strings and file paths, so the plotting code (the ``plots`` package) and the UI never touch a model.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .cache import ModelCache
from .export import save_weights
from .runner import run_copy

ProgressFn = Callable[[float, str], None]
SAMPLES_PER_CLASS = 4
# The before/after grids draw every model from the same fixed seeds (ones the evaluation does not use), whatever
# the run's seed: a new seed then reuses the original's and Retrain's cached grids, and grids of different
# runs start from the same noise, so they compare across seeds and methods too.
GRID_SEED_OFFSET = 30_000
# The layer analysis draws its noise from this seed (not from whatever the run left in torch's generator), so
# it is a function of the model and the task's data and can be cached by them.
LAYER_ANALYSIS_SEED = 0
# Keyed by (model name, ...): the analyses and samples of the original model depend only on the key.
_LAYER_ANALYSIS = ModelCache(16)
_SAMPLES = ModelCache(16)


def layer_analysis(model_name: str, task: Any, retain_samples: int = 256, batch_size: int = 128) -> dict[str, Any]:
    """SLUG's per-layer importance and gradient alignment on the *original* model, and its Pareto front,
    for any run (so every method's page shows which layers a single-layer edit would pick)."""
    from .methods.slug import layer_scores, mean_gradient, pareto_front

    def compute() -> dict[str, Any]:
        model = run_copy(model_name).eval()
        layers = task.layer_weights(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(LAYER_ANALYSIS_SEED)
            forget_grad = mean_gradient(model, task, "forget", batch_size, layers)
            retain_grad = mean_gradient(model, task, "retain", batch_size, layers, limit=retain_samples)
        scores = layer_scores(model, task, layers, forget_grad, retain_grad)
        front = pareto_front({s["name"]: s["importance"] for s in scores}, {s["name"]: s["alignment"] for s in scores})
        for s in scores:
            s["on_front"] = s["name"] in front
        return {"layers": scores, "front": front, "chosen": None, "trace": [], "searches": {}}

    # The forget and retain sets are fixed by what the task's evaluation depends on (a classifier's random
    # forget set by the seed; a class or concept not), so the evaluation key keys the analysis too.
    key = (model_name, *task.evaluation_key(), retain_samples, batch_size)
    return _LAYER_ANALYSIS.remember(key, compute)


def grid_seeds(per_class: int) -> list[int]:
    """The seeds of the before/after grids' columns (the same for every run; see ``GRID_SEED_OFFSET``)."""
    return [GRID_SEED_OFFSET + i for i in range(per_class)]


def before_after_samples(outcome: Any, per_class: int = SAMPLES_PER_CLASS) -> dict[str, Any] | None:
    """Samples of every class from the original, the unlearned and (when the task has one) the Retrain model,
    all from the same seeds (the same starting noise), in [0, 1], class-major; ``None`` for models that do
    not generate. The seeds are fixed (:func:`grid_seeds`), so the original's and Retrain's samples are cached
    once per model and forget target."""
    task = outcome.task
    if hasattr(task, "grid_prompts"):
        return prompt_samples(outcome, per_class)
    if not hasattr(task, "sample"):
        return None
    classes = list(range(int(getattr(task, "num_classes", 10))))
    seeds = grid_seeds(per_class)
    labels = [c for c in classes for _ in range(per_class)]
    all_seeds = [s for _ in classes for s in seeds]

    def draw(model) -> np.ndarray:
        with torch.no_grad():
            samples = task.sample(model, labels, all_seeds)
        return ((samples.float().clamp(-1, 1) + 1) / 2).cpu().numpy()

    model_name = outcome.report["model"]
    settings = (tuple(all_seeds), getattr(task, "guidance", None), getattr(task, "steps", None))
    before = _SAMPLES.remember((model_name, "original", *settings), lambda: draw(run_copy(model_name)))
    retrain = None
    has_retrain = getattr(task, "retrain_available", None)
    if callable(has_retrain) and has_retrain():
        key = (model_name, "retrain", str(getattr(task, "request", "")), *settings)
        retrain = _SAMPLES.remember(key, lambda: draw(task.retrain().model))
    return {"classes": classes, "per_class": per_class, "seeds": seeds, "before": before,
            "after": draw(outcome.model), "retrain": retrain, "forget_class": getattr(task, "forget_class", None),
            "class_names": getattr(task, "class_names", None)}


def prompt_samples(outcome: Any, per_prompt: int = SAMPLES_PER_CLASS) -> dict[str, Any]:
    """Text-to-image models: the task's fixed prompt list (rows; ``marked`` for the prompts that ask for the
    erased concept) x ``per_prompt`` seeds, from the original and the unlearned model with the same seeds, as
    [0, 1] arrays (N, C, H, W), prompt-major, from the fixed :func:`grid_seeds`. The original's images are
    cached."""
    task = outcome.task
    prompts, marked = task.grid_prompts()
    seeds = grid_seeds(per_prompt)

    def draw(model) -> np.ndarray:
        with torch.no_grad():
            return task.prompt_grid(model, prompts, seeds).flatten(0, 1).float().cpu().numpy()

    model_name = outcome.report["model"]
    key = (model_name, "original", tuple(prompts), tuple(seeds), task.guidance, task.steps)
    return {"prompts": prompts, "marked": marked, "per_class": per_prompt, "seeds": seeds,
            "before": _SAMPLES.remember(key, lambda: draw(run_copy(model_name))), "after": draw(outcome.model),
            "retrain": None, "concept": getattr(task, "concept", None)}


def write_downloads(outcome: Any, out_dir: Path, seeds_report: dict[str, Any] | None = None) -> dict[str, str]:
    """The unlearned weights (safetensors, report in the metadata) and the JSON report: ``seeds_report`` (every
    seed's report and the summary) when the request ran over several seeds, whose first seed ``outcome`` is."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = outcome.report
    stem = f"{report['model']}_{report['method']}_{str(report['forget']).replace(':', '-')}_seed{report['seed']}"
    weights = save_weights(outcome.model, out_dir / f"{stem}.safetensors", report)
    if seeds_report is not None:
        stem += f"_{len(seeds_report['runs'])}seeds"
    report_path = out_dir / f"{stem}.json"
    report_path.write_text(json.dumps(seeds_report or report, indent=2, default=float))
    return {"weights": str(weights), "report": str(report_path)}


def inspect_run(outcome: Any, out_dir: Path, attribution: str | None = "integrated_gradients",
                progress: ProgressFn | None = None, seeds_report: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the result panels need, as plain data (see the module docstring). A request run over several
    seeds passes its first seed's ``outcome`` (the panels of one model) and ``seeds_report`` (the table's spread),
    kept under ``view["seeds"]``."""
    start = time.perf_counter()
    report = outcome.report
    family = getattr(outcome.task, "kind", "classification")
    view: dict[str, Any] = {"report": report, "family": family, "saliency": outcome.artifacts.get("saliency"),
                            "slug": None, "slug_is_run": False, "attribution": None, "generated": None,
                            "seeds": seeds_report}
    if progress:
        progress(0.0, "layer analysis for the Pareto plot")
    if "slug" in outcome.artifacts:
        view["slug"], view["slug_is_run"] = outcome.artifacts["slug"], True
    elif hasattr(outcome.task, "layer_weights"):
        view["slug"] = layer_analysis(report["model"], outcome.task)
    if family == "classification" and attribution:
        if progress:
            progress(0.3, "input attributions on forget samples (captum)")
        view["attribution"] = forget_attributions_for(outcome, attribution)
    if family != "classification":
        if progress:
            progress(0.3, "sampling before/after images with the same seeds")
        view["generated"] = before_after_samples(outcome)
    if progress:
        progress(0.8, "writing the weights and the report")
    view["files"] = write_downloads(outcome, out_dir, seeds_report)
    view["inspect_s"] = time.perf_counter() - start
    return view


def forget_attributions_for(outcome: Any, method: str) -> dict[str, Any]:
    from .attribution import forget_attributions

    return forget_attributions(run_copy(outcome.report["model"]), outcome.model, outcome.task, method,
                               seed=int(outcome.report.get("seed", 0)))
