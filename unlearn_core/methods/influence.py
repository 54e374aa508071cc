"""IU: influence unlearning with a WoodFisher inverse-Hessian estimate (Izzo et al. 2021; Jia et al. 2023)."""
from __future__ import annotations

import dataclasses

import torch

from ..errors import check_finite
from ..execution import average_tensors
from ..hparams import hparam
from .base import UnlearnResult, UnlearningMethod, Work
from .registry import register


@dataclasses.dataclass
class InfluenceConfig:
    """One influence step (Izzo et al. 2021; Jia et al. 2023, the Unlearn-Sparse/SalUn code's Wfisher):
    theta <- theta + alpha F^{-1} (n_f / n) (grad L(theta; D_f) - grad L(theta; D_r)), where F = damping I
    + G^T G / N is the empirical Fisher of N per-sample retain gradients G (WoodFisher's estimate of the retain
    Hessian), applied exactly by the Woodbury identity."""

    # The official code starts WoodFisher's recursion from the identity (damping 1), so the step is mostly
    # alpha (n_f / n) (grad L_f - grad L_r) and alpha is its size (the official script's default alpha: 0.2). The
    # size that forgets depends on how small the forget loss already is: each model tunes it (tuned/*.json).
    alpha: float = hparam(10.0, "scale of the influence step", low=0.0, high=1e6)
    samples: int = hparam(128, "retain samples N whose gradients estimate the Fisher", low=1, high=10000)
    damping: float = hparam(1.0, "damping added to the Fisher diagonal (the official recursion starts from the "
                            "identity: 1)", low=0.0, high=1e3, low_inclusive=False)
    batch_size: int = hparam(64, "minibatch size of the forget and retain mean gradients", low=1, high=4096)


def flat_grad(model, params, loss) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    average_tensors(grads)  # a data-parallel run: the whole batch's gradient on every process
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])


def mean_gradient(model, params, task, which: str, batch_size: int) -> torch.Tensor:
    """grad L(theta; ``which`` set), the mean of its minibatch gradients."""
    total = torch.zeros(sum(p.numel() for p in params), device=params[0].device)
    batches = 0
    for batch in task.batches(which, batch_size):
        total += flat_grad(model, params, task.loss(model, batch))
        batches += 1
    return total / max(batches, 1)


@register
class InfluenceUnlearning(UnlearningMethod):
    name, label = "iu", "IU"
    summary = "One influence-function step that removes the forget set's estimated contribution."
    reference = "Izzo et al. 2021; WoodFisher (Singh & Alistarh 2020), as used by Jia et al., NeurIPS 2023."
    Config = InfluenceConfig
    __doc__ = InfluenceConfig.__doc__

    length_knob = "samples"

    def work(self, n_forget, n_retain):
        # the forget and retain mean gradients in batches, then one retain gradient per sample (a batch of one
        # costs several batched passes' worth of time)
        return Work(n_forget + n_retain + 4 * self.config.samples)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        model.eval()
        params = list(task.parameters_for_unlearning(model).values())
        forget_grad = mean_gradient(model, params, task, "forget", cfg.batch_size)
        retain_grad = mean_gradient(model, params, task, "retain", cfg.batch_size)
        share = task.size("forget") / (task.size("forget") + task.size("retain"))
        # removing D_f from the empirical risk over D moves its minimiser by about H^{-1} (n_f / n)
        # (grad L_f - grad L_r) (the official code's v); the retain term is zero only at an exact optimum
        v = share * (forget_grad - retain_grad)
        generator = torch.Generator().manual_seed(task.seed)
        rows = []
        for i, sample in enumerate(task.batches("retain", 1, generator, limit=cfg.samples)):
            rows.append(flat_grad(model, params, task.loss(model, sample)))
            if progress and i % 32 == 0:
                progress(i / cfg.samples, "IU: per-sample retain gradients")
        grads = torch.stack(rows)  # N x d
        n = len(rows)
        # (damping I + G^T G / N)^{-1} v = (v - G^T (N damping I + G G^T)^{-1} G v) / damping
        small = n * cfg.damping * torch.eye(n, dtype=grads.dtype) + grads @ grads.T
        step = (v - grads.T @ torch.linalg.solve(small, grads @ v)) / cfg.damping
        check_finite(step.norm(), "IU influence step")
        offset = 0
        with torch.no_grad():
            for p in params:
                p.add_(cfg.alpha * step[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
        return UnlearnResult(model)
