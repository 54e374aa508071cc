"""Concept inversion: is the erased concept gone, or only hidden behind its word (or class label)?

Pham et al. 2023, "Circumventing Concept Erasure Methods For Text-to-Image Generative Models" (ICLR 2024),
showed that erased Stable Diffusion models still draw the concept when prompted with a learned word embedding
found by textual inversion on images of the concept. This module runs that attack on a finished generative
run: it freezes a copy of the unlearned model and optimises ONE new conditioning vector (a token embedding for
text-to-image models, a class-embedding row for class-conditional ones) with the ordinary diffusion noise loss
on images of the concept drawn by the original model, then scores the concept with that vector in place.

The same attack on the original model is the positive control: it must find a vector that draws the concept.
A Retrain model, when one exists, shows what "never learned" looks like under the same attack.

The family-specific parts are task hooks (:class:`~unlearn_core.tasks.text_diffusion.TextDiffusionTask` and
:class:`~unlearn_core.tasks.class_diffusion.ClassDiffusionTask`): ``inversion_data``, ``inversion_loss``,
``inversion_start``, ``concept_embedding``, ``learned_concept`` and ``inversion_score_name``.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import torch
from torch import nn

from ..errors import UnlearningInputError, check_finite
from ..hparams import as_config, hparam
from ..metering import Work, credit
from ..runner import RunOutcome, retrain_is_ready, retrain_model
from ..zoo import base_model

ProgressFn = Callable[[float, str], None]

GENERATIVE_FAMILIES = ("class-diffusion", "text-diffusion")
# Drawing the attack's images with the full sampler, priced in score evaluations (the audit's budget): one
# evaluation draws a few dozen images at a few steps; checked against benchmarks/audit-*.jsonl within 2.5x.
IMAGES_PER_SCORE = 16


@dataclasses.dataclass
class InversionConfig:
    """Knobs of the concept-inversion attack (Pham et al. 2023, textual inversion against an erased model).

    Defaults measured on shapes-t2i (concept:triangle) and digits-ddpm (class:3), one CPU thread: the attack on
    the original model finds a vector that draws the concept in most samples within 50 steps (shapes-t2i 94%,
    digits-ddpm 100%, from 19% and 9% at the neutral start); one attack takes about 20-30 s on shapes-t2i and
    6-10 s on digits-ddpm. The defaults are a cheap attack, so a low erasure under attack is a lower bound: on
    shapes-t2i after SalUn, 200 steps at lr 0.05 recover the triangle in 19% of samples, 800 steps at lr 0.1 in
    38% (after ESD: 6% at the defaults, 44% after 400 steps at lr 0.1)."""

    steps: int = hparam(200, "optimisation steps of the learned vector", low=1, high=100_000)
    lr: float = hparam(0.05, "Adam learning rate of the learned vector", low=0.0, high=10.0, low_inclusive=False)
    images: int = hparam(64, "images of the concept drawn by the original model to invert", low=1, high=10_000)
    batch_size: int = hparam(16, "images per optimisation step", low=1, high=4096)
    controls: bool = hparam(True, "also attack the original model (the positive control) and Retrain when one "
                                  "exists")


def work(report: dict[str, Any], task, config: InversionConfig) -> Work:
    """The attack's work (the audit's budget): drawing the images, then per attacked model (the unlearned one,
    with ``controls`` the original and Retrain) ``steps`` passes of a batch and three forget scores (half a score
    evaluation each); training Retrain when it is not at hand."""
    targets = 1 + (1 + bool(task.retrain_available())) * bool(config.controls)
    passes = targets * config.steps * min(config.batch_size, config.images)
    scores = config.images / IMAGES_PER_SCORE + targets * 3 / 2
    retraining = bool(config.controls) and not retrain_is_ready(report["model"], task)
    return Work(passes, scores, retrains=int(retraining))


def _check_outcome(outcome: RunOutcome) -> Any:
    task = getattr(outcome, "task", None)
    family = getattr(task, "kind", None) or "unknown"
    if family not in GENERATIVE_FAMILIES:
        raise UnlearningInputError(f"inversion applies to generative models: {', '.join(GENERATIVE_FAMILIES)}; "
                                   f"this model's family is {family}")
    return task


def _span(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0))


def attack(task, target: nn.Module, x0: torch.Tensor, cond: torch.Tensor, config: InversionConfig, seed: int,
           label: str = "model", progress: ProgressFn | None = None) -> dict[str, Any]:
    """Invert the concept against a frozen copy of ``target`` (never ``target`` itself) on the images ``x0``
    drawn with ``cond``; the forget score without the vector, with its neutral start and with the learned vector,
    the loss per step and how close the vector started and ended to the concept's own embedding (cosine)."""
    start_time = time.perf_counter()
    if progress:
        progress(0.0, f"scoring the {label} model without and with the learned vector's neutral start")
    model = task.frozen_copy(target)
    plain = task.counted_forget_score(model)
    concept = task.concept_embedding(model)
    vector = nn.Parameter(task.inversion_start(model))
    start_cosine = _cosine(vector.detach(), concept)
    optimizer = torch.optim.Adam([vector], lr=config.lr)
    generator = torch.Generator().manual_seed(int(seed))
    losses: list[float] = []
    with task.learned_concept(model, vector), torch.enable_grad():
        with torch.no_grad():  # the neutral start must not draw the concept already, or the attack proves nothing
            at_start = task.counted_forget_score(model)
        for step in range(config.steps):
            pick = torch.randint(0, len(x0), (min(config.batch_size, len(x0)),), generator=generator)
            credit(passes=len(pick))
            loss = task.inversion_loss(model, x0[pick], cond[pick], generator)
            check_finite(loss, f"concept inversion on the {label} model")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress:
                progress((step + 1) / (config.steps + 1), f"inverting the concept on the {label} model: step "
                                                          f"{step + 1}/{config.steps}, loss {losses[-1]:.4f}")
        if progress:
            progress(config.steps / (config.steps + 1), f"scoring the {label} model with the learned vector")
        with torch.no_grad():
            attacked = task.counted_forget_score(model)
    return {"erasure": plain, "erasure_under_attack": attacked, "erasure_at_start": at_start, "loss_curve": losses,
            "cosine_to_concept": {"start": start_cosine, "end": _cosine(vector.detach(), concept)},
            "seconds": time.perf_counter() - start_time}


def invert(outcome: RunOutcome, config: InversionConfig | dict[str, Any] | None = None,
           progress: ProgressFn | None = None) -> dict[str, Any]:
    """Concept inversion against ``outcome``'s unlearned model (and, with ``controls``, the original and
    Retrain). ``erasure`` / ``erasure_under_attack`` are the task's forget score (``score_name``: erasure % for
    text-to-image, forget accuracy % for class diffusion) on the same prompts, seeds and steps as its plain
    forget score, without and with the learned vector. ``outcome.model`` is never changed."""
    task = _check_outcome(outcome)
    config = as_config(InversionConfig, config)
    start_time = time.perf_counter()
    report = outcome.report
    seed = int(report.get("seed", 0))
    original = getattr(task, "original", None)
    if original is None:
        original = base_model(report["model"])
    if progress:
        progress(0.0, f"drawing {config.images} images of the concept with the original model")
    credit(scores=config.images / IMAGES_PER_SCORE)
    x0, cond = task.inversion_data(original, config.images, seed)

    targets: list[tuple[str, nn.Module]] = [("unlearned", outcome.model)]
    if config.controls:
        targets.append(("original", original))
        reference = retrain_model(report["model"], report["forget"], seed, task)
        if reference.model is not None:
            targets.append(("retrain", reference.model))
    results = {}
    for k, (label, model) in enumerate(targets):
        share = _span(progress, 0.05 + 0.95 * k / len(targets), 0.05 + 0.95 * (k + 1) / len(targets))
        results[label] = attack(task, model, x0, cond, config, seed, label, share)

    unlearned = results.pop("unlearned")
    out = {"erasure": unlearned["erasure"], "erasure_under_attack": unlearned["erasure_under_attack"],
           "erasure_at_start": unlearned["erasure_at_start"], "loss_curve": unlearned["loss_curve"],
           "cosine_to_concept": unlearned["cosine_to_concept"],
           "score_name": task.inversion_score_name, "steps": config.steps,
           "config": dataclasses.asdict(config), "seconds_unlearned": unlearned["seconds"]}
    for label, result in results.items():
        out[label] = result
    out["seconds"] = time.perf_counter() - start_time
    if progress:
        progress(1.0, "concept inversion done")
    return out
