"""SFR-on (Huang et al., NeurIPS 2024): saliency forgetting on the remain-preserving manifold, online."""
from __future__ import annotations

import dataclasses

import torch

from ..hparams import hparam
from ..saliency import fisher_diagonal, fisher_ratio, threshold_mask
from ..tasks.base import RELABEL_TARGETS
from .base import (GRADIENT_TASKS, MaskedUpdater, UnlearnResult, UnlearningMethod, Work, cosine_factor,
                   make_optimizer, take_step)
from .registry import register
from .salun import saliency_artifacts


@dataclasses.dataclass
class SFROnConfig:
    """SFR-on. Mask: m = 1[(F_f + 1e-15) / (F_r + 1e-15) >= gamma] from diagonal Fisher informations.
    Adaptive forget loss: L_f = sum_i pi_i l_i with pi_i = softmax(-lambda log l_i) (detached).
    Every K iterations a masked, clipped step on -alpha_t L_f with alpha_t = alpha_0 (1 + cos(pi t / T)) / 2;
    every iteration a remain step on L(theta; D_r); cosine learning-rate schedule. The alternation keeps
    forgetting on the remain-preserving manifold (an implicit online Hessian approximation).
    ``forget_loss="relabel"`` replaces -L_f by descent on the random-label loss (for diffusion: MSE between
    eps(x_t, t, c_f) and the model's own stop-gradient eps(x_t, t, c')), as the authors' DDPM code offers; its
    adaptive weights pi_i = softmax(+lambda log l_i) favour the samples still far from the wrong target.
    Departure from the official code: losses are clamped at ``loss_floor`` (1e-8) inside the log, where the
    official code adds 1e-15 (see the field's comment)."""

    # Measured on digits-cnn, class:3, seeds 0-2 (benchmarks/digits-cnn.md): K = 5 / T = 90 (the paper's K with
    # a CIFAR-sized T scaled down) cost ~2 points of TA; a forget step every 10 iterations and 200 remain steps
    # leave TA within 1 point of Retrain.
    iterations: int = hparam(200, "total iterations T (one remain step each)", low=1, high=100000)
    forget_every: int = hparam(10, "K: a forget step every K iterations", low=1, high=1000)
    # The paper's alpha_0 = 25 assumes CIFAR-scale losses. Our digits CNN fits its training data to per-sample
    # losses ~1e-5, so the ascent gradient starts ~1000x smaller; alpha_0 = 300 did not move it at all. The
    # clip bounds the step once the ascent takes off, so a large alpha_0 mostly shortens the slow start.
    # Measured: 5e3 leaves TA 1.03 below Retrain on class:3, 5e4 over-forgets random:10 (Avg. Gap 3.2); 2e4
    # meets both targets.
    alpha0: float = hparam(2e4, "alpha_0: initial weight of the forget (ascent) loss", low=0.0, high=1e7)
    temperature: float = hparam(0.5, "lambda: adaptive-weight temperature (0 = plain gradient ascent)",
                                low=0.0, high=10.0)
    gamma: float = hparam(1.0, "Fisher-ratio threshold of the mask", low=0.0, high=1e6, low_inclusive=False)
    lr: float = hparam(0.01, "learning rate (cosine-decayed)", low=0.0, high=10.0, low_inclusive=False)
    clip: float = hparam(7.0, "gradient-norm clip of the forget step", low=0.0, high=1e6, low_inclusive=False)
    batch_size: int = hparam(64, "minibatch size of both steps", low=1, high=4096)
    fisher_samples: int = hparam(512, "retain samples used for the remain Fisher", low=1, high=1000000)
    weight_decay: float = hparam(5e-4, "weight decay", low=0.0, high=1.0)
    optimizer: str = hparam("sgd", "optimizer of both steps (the paper: SGD for classifiers, Adam for diffusion)",
                            choices=("sgd", "adam"))
    decay_alpha: bool = hparam(True, "cosine-decay alpha_t to 0 over T (off: alpha_t = alpha_0 throughout, the official "
                               "code's decay_forget_alpha=False)")
    forget_loss: str = hparam("adaptive_ascent", "forget step: ascent on the adaptive loss L_f, or descent on the "
                              "random-label loss (the official DDPM code's 'rl' option)",
                              choices=("adaptive_ascent", "relabel"))
    relabel_target: str = hparam("random", "wrong target of the relabel forget step: a random other label, or always "
                                 "the next one (the official DDPM code's (c_f + 1) mod 10)", choices=RELABEL_TARGETS)
    # Where we depart from the official code: its adaptive weights use log(l_i + 1e-15). At a model that fits
    # its training data, a third to a half of the forget samples have a loss of exactly 0 in float32; with
    # 1e-15 the softmax puts almost all its mass on those, whose gradient is 0, and the ascent gradient was
    # ~117x smaller than with our clamp at 1e-8 on the same batch. The tuning grid searches both floors
    # (benchmarks/tuning/) so the choice is measured, not assumed.
    loss_floor: float = hparam(1e-8, "smallest per-sample loss the adaptive weights see (ours 1e-8; the official "
                               "code adds 1e-15)", low=0.0, high=1.0, low_inclusive=False)


def adaptive_forget_loss(per_sample: torch.Tensor, temperature: float, floor: float = 1e-8) -> torch.Tensor:
    """sum_i pi_i l_i with pi = softmax(-lambda log max(l, floor)), detached: low-loss (still remembered)
    samples weigh more. A negative ``temperature`` weighs high-loss samples more (pi_i proportional to
    l_i^|lambda|). ``floor`` keeps a loss of exactly 0 from taking all the weight (see ``loss_floor``)."""
    weights = torch.softmax(-temperature * per_sample.detach().clamp_min(floor).log(), dim=0)
    return (weights * per_sample).sum()


@register
class SFROn(UnlearningMethod):
    name, label = "sfr_on", "SFR-on"
    tasks = GRADIENT_TASKS
    summary = "Fisher-ratio-masked adaptive gradient ascent alternating with remain steps."
    reference = ("Huang et al., Unified Gradient-Based Machine Unlearning with Remain Geometry Enhancement, "
                 "NeurIPS 2024.")
    Config = SFROnConfig
    __doc__ = SFROnConfig.__doc__

    length_knob = "iterations"

    def work(self, n_forget, n_retain):
        # the two Fishers, a remain step every iteration and a forget step every K
        cfg = self.config
        steps = cfg.iterations * (1 + 1 / cfg.forget_every)
        return Work(n_forget + min(cfg.fisher_samples, n_retain) + steps * cfg.batch_size)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        if progress:
            progress(0.0, "SFR-on: Fisher information on forget and retain sets")
        forget_fisher = fisher_diagonal(model, task, "forget", cfg.batch_size)
        retain_fisher = fisher_diagonal(model, task, "retain", cfg.batch_size, limit=cfg.fisher_samples)
        ratio = fisher_ratio(forget_fisher, retain_fisher)
        mask = threshold_mask(ratio, cfg.gamma)
        params = task.parameters_for_unlearning(model)
        updater = MaskedUpdater(mask, params, restore=False)  # remain steps may move every weight
        optimizer = make_optimizer(params.values(), cfg.optimizer, cfg.lr, cfg.weight_decay)
        generator = torch.Generator().manual_seed(task.seed)
        forget = task.cycle("forget", cfg.batch_size, generator)
        retain = task.cycle("retain", cfg.batch_size, generator)
        model.train()
        for t in range(cfg.iterations):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * cosine_factor(t, cfg.iterations)
            if t % cfg.forget_every == 0:
                alpha = cfg.alpha0 * (cosine_factor(t, cfg.iterations) if cfg.decay_alpha else 1.0)
                if cfg.forget_loss == "relabel":
                    # Descent on the wrong target: a sample is still remembered while its loss is high, so
                    # the adaptive weights turn round (pi_i proportional to l_i^lambda).
                    per_sample = task.relabel_loss(model, next(forget), generator, reduction="none",
                                                   target=cfg.relabel_target)
                    forget_objective = adaptive_forget_loss(per_sample, -cfg.temperature, cfg.loss_floor)
                else:
                    per_sample = task.loss(model, next(forget), reduction="none")
                    forget_objective = -adaptive_forget_loss(per_sample, cfg.temperature, cfg.loss_floor)
                take_step(optimizer, alpha * forget_objective, "SFR-on forget step", updater, clip=cfg.clip)
            take_step(optimizer, task.loss(model, next(retain)), "SFR-on remain step")
            if progress and (t % 10 == 0 or t == cfg.iterations - 1):
                progress((t + 1) / cfg.iterations, f"SFR-on: iteration {t + 1}/{cfg.iterations}")
        model.eval()
        return UnlearnResult(model, saliency_artifacts(ratio, mask, "fisher_ratio"))
