"""Baselines the SalUn and SFR-on papers compare against: Retrain, FT, GA, RL and l1-sparse."""
from __future__ import annotations

import dataclasses

import torch

from ..hparams import hparam
from ..tasks.base import RELABEL_TARGETS, TaskAdapter
from .base import (GRADIENT_TASKS, ProgressFn, UnlearnResult, UnlearningMethod, Work, epochs_to_steps,
                   make_optimizer, run_loop, steps_of_epochs)
from .registry import register


@dataclasses.dataclass
class OptimConfig:
    """Knobs shared by the fine-tuning style methods (each method overrides the defaults it needs)."""

    epochs: float = hparam(3.0, "passes over the data the method iterates on", low=0.0, high=100.0,
                           low_inclusive=False)
    lr: float = hparam(0.01, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    batch_size: int = hparam(64, "minibatch size", low=1, high=4096)
    optimizer: str = hparam("sgd", "optimizer (SGD with momentum 0.9 as in the papers, or Adam)",
                            choices=("sgd", "adam"))
    weight_decay: float = hparam(5e-4, "weight decay", low=0.0, high=1.0)


@register
class Retrain(UnlearningMethod):
    """Exact unlearning: train from scratch on the retain set with the shipped model's own recipe."""

    name, label = "retrain", "Retrain"
    summary = "Exact unlearning: the gold standard every other method is judged against."
    reference = "Retraining from scratch on D_r (SalUn, Sec. 3)."
    # no Retrain reference for text-to-image concept erasure; GANs have shipped ones (trained without the class)
    tasks = ("classification", "class-diffusion", "gan")
    length_knob = None

    def work(self, n_forget, n_retain):
        return Work(0.0, retrains=1)

    @dataclasses.dataclass
    class Config:
        """No knobs: Retrain reuses the recipe the shipped model was trained with."""

    def unlearn(self, model, task: TaskAdapter, progress: ProgressFn | None = None) -> UnlearnResult:
        self.check_task(task)
        return UnlearnResult(task.retrain(progress=progress, live=True).model)


def _loop(method: UnlearningMethod, model, task: TaskAdapter, which: str, loss_at, progress):
    """``epochs`` passes over the ``which`` set with the method's optimizer settings."""
    cfg = method.config
    steps = epochs_to_steps(task, which, cfg.epochs, cfg.batch_size)
    params = task.parameters_for_unlearning(model)
    optimizer = make_optimizer(params.values(), cfg.optimizer, cfg.lr, cfg.weight_decay)
    clip = getattr(cfg, "clip", 0.0) or None
    return run_loop(model, task, steps, loss_at, optimizer, method.label, progress, clip=clip)


@register
class FineTune(UnlearningMethod):
    """FT: fine-tune on D_r only, relying on catastrophic forgetting of D_f (Warnecke et al. 2021)."""

    name, label = "ft", "FT"
    tasks = GRADIENT_TASKS
    summary = "Fine-tune on the retain set and hope the forget set is forgotten."
    reference = "Fine-tuning baseline, SalUn Table 1."
    walks = ("retain",)

    @dataclasses.dataclass
    class Config(OptimConfig):
        """min_theta L(theta; D_r) for a few epochs."""

        epochs: float = hparam(4.0, "passes over the retain set", low=0.0, high=100.0, low_inclusive=False)
        lr: float = hparam(0.02, "learning rate", low=0.0, high=10.0, low_inclusive=False)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        stream = task.cycle("retain", self.config.batch_size, torch.Generator().manual_seed(task.seed))
        _loop(self, model, task, "retain", lambda step: task.loss(model, next(stream)), progress)
        return UnlearnResult(model)


@register
class GradientAscent(UnlearningMethod):
    """GA: maximise the forget loss, i.e. minimise -L(theta; D_f) (Thudi et al. 2022)."""

    name, label = "ga", "GA"
    tasks = GRADIENT_TASKS
    summary = "Gradient ascent on the forget set; forgets fast, often at the expense of everything else."
    reference = "Gradient ascent baseline, SalUn Table 1."
    walks = ("forget",)

    @dataclasses.dataclass
    class Config(OptimConfig):
        """min_theta -L(theta; D_f) + w_r L(theta; D_r) (w_r = 0: plain GA)."""

        # Ascent from a well-fitted model starts on near-zero losses and gradients: with SGD it either does
        # nothing or, a little higher, collapses the model (lr 0.07 -> UA 0, lr 0.1 -> RA 11 on digits-cnn).
        # Adam's normalised steps start at once; at 3e-4 for 2.5 passes the class is gone on every seed.
        epochs: float = hparam(2.5, "passes over the forget set", low=0.0, high=100.0, low_inclusive=False)
        lr: float = hparam(3e-4, "learning rate", low=0.0, high=10.0, low_inclusive=False)
        batch_size: int = hparam(32, "minibatch size", low=1, high=4096)
        optimizer: str = hparam("adam", "optimizer (SGD with momentum 0.9, or Adam)", choices=("sgd", "adam"))
        weight_decay: float = hparam(0.0, "weight decay", low=0.0, high=1.0)
        # Ascent feeds on itself (a growing loss has growing gradients); the clip keeps it from blowing up.
        clip: float = hparam(1.0, "gradient-norm clip (0 = off)", low=0.0, high=1e6)
        retain_weight: float = hparam(0.0, "weight of an ordinary loss on a paired retain batch (0 = plain GA; "
                                      "diffusion models need it)", low=0.0, high=100.0)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        generator = torch.Generator().manual_seed(task.seed)
        stream = task.cycle("forget", self.config.batch_size, generator)
        if self.config.retain_weight > 0:
            retain = task.cycle("retain", self.config.batch_size, generator)

            def loss_at(step):
                return -task.loss(model, next(stream)) + self.config.retain_weight * task.loss(model, next(retain))
        else:
            def loss_at(step):
                return -task.loss(model, next(stream))
        _loop(self, model, task, "forget", loss_at, progress)
        return UnlearnResult(model)

    def work(self, n_forget, n_retain):
        # a paired retain batch for every forget batch
        return Work(super().work(n_forget, n_retain).passes * (2 if self.config.retain_weight > 0 else 1))


@dataclasses.dataclass
class RandomLabelConfig(OptimConfig):
    """Random-label fine-tuning (SalUn, Eq. (5)): min_theta E_{(x,y) in D_f, y' != y} l(theta; x, y')
    + E_{(x,y) in D_r} l(theta; x, y), i.e. training on D_f with random wrong labels mixed into D_r."""

    epochs: float = hparam(2.0, "passes over the union of forget and retain sets", low=0.0, high=100.0,
                           low_inclusive=False)
    lr: float = hparam(0.01, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    batch_size: int = hparam(64, "minibatch size (forget and retain samples together)", low=2, high=4096)
    forget_share: float = hparam(0.0, "share of each batch drawn from the forget set; 0 = in proportion to "
                                 "the set sizes, as when the two sets are simply concatenated", low=0.0, high=0.95)
    forget_weight: float = hparam(1.0, "weight of the random-label loss against the retain loss",
                                  low=0.0, high=100.0)
    relabel_target: str = hparam("random", "wrong target of a forget sample: a random other label each time, or "
                                 "always the next one ((y + 1) mod K, the official DDPM code's choice)",
                                 choices=RELABEL_TARGETS)


def random_label_loop(method: UnlearningMethod, model, task: TaskAdapter, progress, updater=None, after_step=None):
    """Shared by RL and SalUn: every minibatch mixes random-labelled forget samples with retain samples."""
    cfg = method.config
    n_forget, n_retain = task.size("forget"), task.size("retain")
    share = cfg.forget_share or n_forget / (n_forget + n_retain)
    forget_size = min(max(1, int(round(share * cfg.batch_size))), cfg.batch_size - 1)
    retain_size = cfg.batch_size - forget_size
    generator = torch.Generator().manual_seed(task.seed)
    forget = task.cycle("forget", forget_size, generator)
    retain = task.cycle("retain", retain_size, generator)
    label_generator = torch.Generator().manual_seed(task.seed + 1)
    reference = getattr(task, "frozen_reference", None)

    def loss_at(step):
        relabel = task.relabel_loss(model, next(forget), label_generator, reference, target=cfg.relabel_target)
        # weight each part by its samples, as one loss over the mixed batch would
        return (cfg.forget_weight * forget_size * relabel + retain_size * task.loss(model, next(retain))) / cfg.batch_size

    steps = steps_of_epochs(cfg.epochs, n_forget + n_retain, cfg.batch_size, "the forget and retain sets")
    params = task.parameters_for_unlearning(model)
    optimizer = make_optimizer(params.values(), cfg.optimizer, cfg.lr, cfg.weight_decay)
    return run_loop(model, task, steps, loss_at, optimizer, method.label, progress, updater, after_step=after_step)


@register
class RandomLabel(UnlearningMethod):
    """RL: relabel D_f randomly and fine-tune together with D_r (Golatkar et al. 2020; SalUn Eq. (5))."""

    name, label = "rl", "RL"
    tasks = GRADIENT_TASKS
    summary = "Teach the forget set random wrong labels while training on the retain set."
    reference = "Random labeling, SalUn Eq. (5) without the mask."
    Config = RandomLabelConfig

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        random_label_loop(self, model, task, progress)
        return UnlearnResult(model)


@register
class L1Sparse(UnlearningMethod):
    """l1-sparse: FT with an l1 penalty whose weight decays linearly, alpha_t = alpha (1 - t/T)
    (Jia et al. 2023, "Model sparsity can simplify machine unlearning", Eq. (6))."""

    name, label = "l1_sparse", "l1-sparse"
    tasks = GRADIENT_TASKS
    summary = "Fine-tune on the retain set with a decaying l1 penalty that sparsifies the weights."
    reference = "Jia et al., NeurIPS 2023; SalUn Table 1."
    walks = ("retain",)

    @dataclasses.dataclass
    class Config(OptimConfig):
        """min_theta L(theta; D_r) + alpha_t ||theta||_1 with alpha_t = alpha (1 - t/T)."""

        epochs: float = hparam(4.0, "passes over the retain set", low=0.0, high=100.0, low_inclusive=False)
        lr: float = hparam(0.02, "learning rate", low=0.0, high=10.0, low_inclusive=False)
        alpha: float = hparam(1e-4, "initial l1 weight", low=0.0, high=1.0)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        stream = task.cycle("retain", cfg.batch_size, torch.Generator().manual_seed(task.seed))
        params = list(task.parameters_for_unlearning(model).values())
        total = epochs_to_steps(task, "retain", cfg.epochs, cfg.batch_size)

        def loss_at(step):
            penalty = sum(p.abs().sum() for p in params)
            return task.loss(model, next(stream)) + cfg.alpha * (1 - step / total) * penalty

        _loop(self, model, task, "retain", loss_at, progress)
        return UnlearnResult(model)
