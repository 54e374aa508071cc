"""Relearning attack: does the forgotten target come back after a few fine-tuning steps on a handful of its
samples? (Relearning attacks on unlearned models: Lynch et al. 2024, Hu et al. 2024 "Jogging the memory of
unlearned LLMs"; for diffusion, the fine-tuning attacks of Pham et al. 2023 and Zhang et al. 2024.)

The attacker holds ``samples`` forget samples (images of the class or concept, with their label or caption)
and ``retain_samples`` ordinary ones, and fine-tunes with the model's own training loss on both together. The
forget score (the family's: forget accuracy, or % of samples still showing the concept) is recorded after
every ``eval_every`` steps, from three starting points: the unlearned model, the original (which never forgot)
and Retrain where one exists (it has to learn the target from scratch: the fair yardstick, since any model
learns a class from a few labelled examples eventually). The verdict is the number of steps each needs to reach
half the original's forget score.

A random forget set is different: a model that generalises still classifies most of it right after unlearning,
and so does Retrain (it is ordinary data to it), so forget accuracy starts at the top for every model and says
nothing. What the original has and Retrain lacks there is memory: a low loss on those very samples. So on a
random target the curves are the mean loss on the forget samples the attacker does not hold (whether the few it
holds bring back the rest), and recovered means the loss falls ``recover_share`` of the way from Retrain's (the
never-seen level; the original's test-set loss where there is no Retrain) down to the original's.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any, Callable

import torch
from torch import nn

from ..errors import UnlearningInputError
from ..hparams import as_config, hparam
from ..metering import Work, credit
from ..methods.base import make_optimizer
from ..runner import retrain_is_ready, retrain_model, run_copy
from ..zoo import get_model_spec

ProgressFn = Callable[[float, str], None]

# The forget score each family reports (what the curves' y axis means).
SCORE_NAMES = {"classification": "forget accuracy (%)", "class-diffusion": "forget-class samples drawn as the class (%)",
               "text-diffusion": "samples still showing the concept (%)",
               "zero-shot": "forget accuracy (%)", "gan": "samples drawn as the forget class (%)"}


@dataclasses.dataclass
class RelearnConfig:
    """Relearning attack: Adam on L(theta; B_f u B_r) for ``steps`` steps, where B_f is a fixed set of
    ``samples`` forget samples and B_r of ``retain_samples`` retain samples (so a classifier cannot relearn by
    calling everything the forgotten class); steps to recover = the first step at which the forget score
    reaches ``recover_share`` of the original model's."""

    steps: int = hparam(20, "fine-tuning steps of the attack", low=1, high=500)
    samples: int = hparam(8, "forget samples the attacker holds", low=1, high=512)
    retain_samples: int = hparam(8, "retain samples mixed into every step (0 = forget samples only)", low=0,
                                 high=512)
    # Classifiers relearn at Adam's usual 1e-3; the diffusion models were trained at ~1e-3 too, but a few
    # samples at that rate wreck them within steps, so their default (FAMILY_DEFAULTS) is lower.
    lr: float = hparam(1e-3, "Adam learning rate of the attack", low=0.0, high=1.0, low_inclusive=False)
    eval_every: int = hparam(1, "measure the forget score every this many steps", low=1, high=500)
    recover_share: float = hparam(50.0, "recovered = forget score at this % of the original's", low=1.0, high=100.0)


LOSS_NAME = "forget-set loss (cross-entropy; lower = remembered)"  # the measure on a random forget set
# The attacker's draw: a seed of its own, so it is not the forget set's or the method's.
ATTACK_SEED_OFFSET = 7919

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "class-diffusion": {"lr": 1e-4, "eval_every": 2},
    "text-diffusion": {"lr": 1e-4, "eval_every": 2},
    "gan": {"lr": 1e-4},
}


def work(report: dict[str, Any], task, config: RelearnConfig) -> Work:
    """The attack's work (the audit's budget): ``steps`` passes of the attacker's samples from each starting
    model, a forget score (half a score evaluation) every ``eval_every`` steps and at the start, and training
    Retrain when it is not at hand."""
    starts = 2 + bool(task.retrain_available())
    samples = config.samples + (config.retain_samples if task.size("retain") else 0)
    scores = starts * (1 + math.ceil(config.steps / config.eval_every)) / 2
    return Work(starts * config.steps * samples, scores, retrains=int(not retrain_is_ready(report["model"], task)))


def attack_batch(task, config: RelearnConfig, seed: int):
    """The attacker's samples: a fixed, seeded draw of forget (and retain) samples, as one batch."""
    generator = torch.Generator().manual_seed(int(seed) + ATTACK_SEED_OFFSET)
    forget = next(task.batches("forget", config.samples, generator))
    if config.retain_samples == 0 or task.size("retain") == 0:
        return forget
    retain = next(task.batches("retain", config.retain_samples, generator))
    return tuple(torch.cat([f, r]) for f, r in zip(forget, retain))


def held_out_forget(task, config: RelearnConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The forget samples the attacker does not hold: ``attack_batch`` takes the first ``samples`` of the same
    seeded shuffle (``TensorSetsTask.batches``). All of them when the attacker holds every one."""
    x, y = task.x_forget, task.y_forget
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed) + ATTACK_SEED_OFFSET))
    rest = order[config.samples:]
    return (x[rest], y[rest]) if len(rest) else (x, y)


def mean_loss(task, samples: tuple[torch.Tensor, torch.Tensor]) -> Callable[[nn.Module], float]:
    """The measure ``model -> mean training loss on samples``."""

    def measure(model: nn.Module) -> float:
        credit(passes=len(samples[0]))  # a forward pass over the samples, for the audit's work meter
        with torch.no_grad():
            return float(task.loss(model, samples))

    return measure


def relearn_curve(model: nn.Module, task, batch, config: RelearnConfig, seed: int, progress: ProgressFn | None = None,
                  label: str = "model", measure: Callable[[nn.Module], float] | None = None) -> list[list[float]]:
    """[[step, measure], ...] while fine-tuning a copy of ``model`` on ``batch`` (``model`` is untouched); the
    measure is the task's forget score unless one is given."""
    measure = measure or task.counted_forget_score  # counted: the audit's work meter sees each score
    attacked = copy.deepcopy(model)
    # eval mode: batch-norm statistics of a 16-sample batch would move the model more than the attack's gradient
    attacked.eval().requires_grad_(True)
    params = task.parameters_for_unlearning(attacked)
    optimizer = make_optimizer(params.values(), "adam", config.lr, 0.0)
    torch.manual_seed(int(seed))
    curve = [[0, float(measure(attacked))]]
    for step in range(1, config.steps + 1):
        credit(passes=len(batch[0]))  # the one batch drawn is reused: each step's passes are credited here
        loss = task.loss(attacked, batch)
        if not torch.isfinite(loss):
            raise UnlearningInputError(f"the relearning attack diverged on the {label} at step {step}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == config.steps:
            curve.append([step, float(measure(attacked))])
        if progress:
            progress(step / config.steps, f"relearning the {label}: step {step}/{config.steps}")
    return curve


def steps_to_recover(curve: list[list[float]], threshold: float, lower_is_recovered: bool = False) -> int | None:
    """The first measured step whose forget score reaches ``threshold`` (a loss: falls to it); None if none
    does."""
    return next((int(step) for step, value in curve
                 if (value <= threshold if lower_is_recovered else value >= threshold)), None)


def relearn(outcome, config: RelearnConfig | dict | None = None, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Run the relearning attack from the unlearned model of ``outcome`` (a runner.RunOutcome), the original
    and Retrain (where one exists). Returns plain data: per model ``curve`` and ``steps_to_recover``, the
    threshold, what was measured (``measure``: "score", or "loss" on a random forget set) and its name."""
    report, task = outcome.report, outcome.task
    spec = get_model_spec(report["model"])
    family = spec.family
    config = as_config(RelearnConfig, config, FAMILY_DEFAULTS.get(family))
    if not hasattr(task, "batches") or family not in SCORE_NAMES:
        raise UnlearningInputError(f"relearn applies to {', '.join(SCORE_NAMES)} models; this model's family is "
                                   f"{family}")
    start = time.perf_counter()
    seed = int(report.get("seed", 0))
    batch = attack_batch(task, config, seed)
    by_loss = spec.parse_forget(report["forget"]).kind == "random"
    held_out = held_out_forget(task, config, seed) if by_loss else None
    measure = mean_loss(task, held_out) if by_loss else None
    original = run_copy(report["model"])
    starts: list[tuple[str, nn.Module]] = [("unlearned", outcome.model), ("original", original)]
    reference = retrain_model(report["model"], report["forget"], seed, task)
    if reference.model is not None:
        starts.append(("retrain", reference.model))
    results: dict[str, Any] = {}
    for index, (name, model) in enumerate(starts):
        part = (lambda f, m, i=index: progress((i + f) / len(starts), m)) if progress else None
        results[name] = {"curve": relearn_curve(model, task, batch, config, seed, part, name, measure)}
    original_score = results["original"]["curve"][0][1]
    measured: dict[str, Any] = {"measure": "score", "score_name": SCORE_NAMES[family]}
    if by_loss:
        # Never seen: Retrain's loss on these samples before the attack (or the original's on the test set).
        unseen = (results["retrain"]["curve"][0][1] if "retrain" in results
                  else mean_loss(task, (task.x_test, task.y_test))(original))
        threshold = unseen - config.recover_share / 100.0 * (unseen - original_score)
        measured = {"measure": "loss", "score_name": LOSS_NAME, "unseen_loss": unseen,
                    "unseen_from": "retrain" if "retrain" in results else "test set", "measured_on": len(held_out[0])}
    else:
        threshold = config.recover_share / 100.0 * original_score
    for name in results:
        results[name]["steps_to_recover"] = steps_to_recover(results[name]["curve"], threshold, by_loss)
    return {**results, "threshold": threshold, "original_score": original_score, **measured,
            "recover_share": config.recover_share, "steps": config.steps, "samples": config.samples,
            "retain_samples": config.retain_samples, "lr": config.lr, "retrain": results.get("retrain"),
            "seconds": time.perf_counter() - start}
