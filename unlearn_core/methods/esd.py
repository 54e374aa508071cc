"""ESD (Gandikota et al., ICCV 2023): erase a concept by fine-tuning towards negative guidance.

Written against adapter hooks so both diffusion adapters can use it:
``task.frozen_copy(model)``, ``task.concept_inputs(model, batch_size, generator)`` -> (x_t, t, c, null),
``task.predict_noise(model, x_t, t, cond)`` and ``task.parameter_group(model, name)``.
"""
from __future__ import annotations

import dataclasses

import torch

from ..diffusion.training import squared_error
from ..execution import place, teacher_device
from ..hparams import hparam
from ..tasks.base import reduce_rows
from .base import UnlearnResult, UnlearningMethod, make_optimizer, run_loop
from .registry import register


@dataclasses.dataclass
class ESDConfig:
    """ESD, Eq. (2): with a frozen copy eps_0 of the original model, train eps_theta so that
    eps_theta(x_t, c, t) -> eps_0(x_t, null, t) - eta (eps_0(x_t, c, t) - eps_0(x_t, null, t)),
    i.e. min_theta ||eps_theta(x_t, c, t) - [eps_0(x_t, null, t) - eta (eps_0(x_t, c, t) - eps_0(x_t, null, t))]||^2:
    conditioning on the concept c now steers away from it (negative classifier-free guidance).
    Optionally + w_r L(theta; D_r) (w_r = 0 is the paper's method)."""

    iterations: int = hparam(200, "optimizer steps", low=1, high=100000)
    eta: float = hparam(1.0, "negative-guidance strength (the paper uses 1-2)", low=0.0, high=20.0)
    lr: float = hparam(1e-5, "learning rate (Adam, as in the paper)", low=0.0, high=10.0, low_inclusive=False)
    batch_size: int = hparam(32, "minibatch size", low=1, high=4096)
    parameters: str = hparam("all", "which weights train: all, ESD-x (cross-attention) or ESD-u (everything "
                             "else); the x/u split needs a text-conditioned model", choices=("all", "esd-x", "esd-u"))
    retain_weight: float = hparam(0.0, "weight of the ordinary loss on a paired retain batch (0 = the paper)",
                                  low=0.0, high=100.0)
    clip: float = hparam(1.0, "gradient-norm clip", low=0.0, high=1e6, low_inclusive=False)


@register
class ESD(UnlearningMethod):
    name, label = "esd", "ESD"
    summary = "Fine-tune the concept's prediction towards negative guidance from a frozen copy."
    reference = "Gandikota et al., Erasing Concepts from Diffusion Models, ICCV 2023."
    Config = ESDConfig
    tasks = ("class-diffusion", "text-diffusion")
    __doc__ = ESDConfig.__doc__
    length_knob = "iterations"
    pass_cost = 1.7  # the frozen copy's two guided predictions beside the trained one

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        frozen = task.frozen_copy(model)
        if teacher_device() is not None:  # a second GPU holds the frozen copy (--teacher-device)
            frozen = place(frozen, teacher_device())
        params = task.parameter_group(model, cfg.parameters)
        optimizer = make_optimizer(params.values(), "adam", cfg.lr)
        generator = torch.Generator().manual_seed(task.seed)
        retain = task.cycle("retain", cfg.batch_size, generator) if cfg.retain_weight > 0 else None

        def loss_at(step):
            x_t, t, concept, null = task.concept_inputs(model, cfg.batch_size, generator)

            def per_row(x_t, t, concept, null):  # a data-parallel run computes its own rows
                with torch.no_grad():
                    eps_c = task.predict_noise(frozen, x_t, t, concept)
                    eps_null = task.predict_noise(frozen, x_t, t, null)
                    target = eps_null - cfg.eta * (eps_c - eps_null)
                return squared_error(task.predict_noise(model, x_t, t, concept), target, "none")

            loss = reduce_rows(per_row, "mean", x_t, t, concept, null)
            if retain is not None:
                loss = loss + cfg.retain_weight * task.loss(model, next(retain))
            return loss

        # Only the chosen set needs gradients: the others (ESD-x: all but cross-attention; the text encoder) are
        # frozen for the loop, so backward skips their weight gradients (the same update, less work).
        chosen = {id(p) for p in params.values()}
        frozen_here = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
        for p in frozen_here:
            p.requires_grad_(False)
        try:
            losses = run_loop(model, task, cfg.iterations, loss_at, optimizer, self.label, progress, clip=cfg.clip)
        finally:
            for p in frozen_here:
                p.requires_grad_(True)
        return UnlearnResult(model, {"esd": {"losses": losses}})
