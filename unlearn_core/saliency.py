"""Weight saliency: gradient magnitudes (SalUn), Fisher ratios (SFR-on) and masks over parameters.

Also turns them into plain per-layer data (2-D arrays and summary numbers) that the app's heatmaps plot.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np
import torch
from torch import nn

from .errors import UnlearningInputError, check_finite, shown
from .execution import average_gradients

Scores = dict[str, torch.Tensor]
Mask = dict[str, torch.Tensor]


class LossSource(Protocol):
    """What saliency needs of a task adapter (:class:`~unlearn_core.tasks.base.TaskAdapter` provides it):
    saliency sits below the tasks, so it names the three calls instead of importing the class."""

    def parameters_for_unlearning(self, model: nn.Module) -> dict[str, nn.Parameter]: ...

    def batches(self, which: str, batch_size: int, *, limit: int | None = None) -> Iterator[Any]: ...

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...


@contextlib.contextmanager
def gradients_only_for(model: nn.Module, params: dict[str, nn.Parameter]):
    """Within the block only ``params`` require gradients (backward allocates nothing for the rest of a
    large model); the previous flags are restored afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.requires_grad_(False)
    for p in params.values():
        p.requires_grad_(True)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def summed_gradients(model: nn.Module, params: dict[str, nn.Parameter], losses: Iterable[Callable[[], torch.Tensor]],
                     squared: bool, where: str) -> tuple[Scores, int]:
    """The gradients of each loss (a call per batch) with respect to ``params``, summed, or their squares summed
    (``squared``), and how many losses there were; the model's mode is left as the caller set it."""
    totals = {name: torch.zeros_like(p) for name, p in params.items()}
    count = 0
    for loss_of_batch in losses:
        model.zero_grad(set_to_none=True)
        loss = loss_of_batch()
        check_finite(loss, where)
        loss.backward()
        average_gradients(params.values())  # a data-parallel run: the batch's gradient, before any square
        for name, p in params.items():
            if p.grad is not None:
                totals[name] += p.grad.detach() ** 2 if squared else p.grad.detach()
        count += 1
    model.zero_grad(set_to_none=True)
    return totals, count


def batch_gradients(model: nn.Module, task: LossSource, which: str, batch_size: int, limit: int | None,
                    squared: bool, average: bool = False, params: dict[str, nn.Parameter] | None = None) -> Scores:
    """Gradients of the batch-mean loss over the ``which`` set, in eval mode: summed over batches, averaged
    (``average``), or as a mean of squares (``squared``, the empirical Fisher diagonal). ``params`` (default:
    the task's parameters for unlearning) are the only weights that get gradients."""
    params = task.parameters_for_unlearning(model) if params is None else params
    was_training = model.training
    model.eval()  # as in SalUn's code: saliency is taken at the deployed model's behaviour
    with gradients_only_for(model, params):
        totals, batches = summed_gradients(
            model, params, ((lambda batch=batch: task.loss(model, batch))
                            for batch in task.batches(which, batch_size, limit=limit)), squared, f"{which} gradient")
    model.train(was_training)
    if batches == 0:
        raise UnlearningInputError(f"the {which} set is empty")
    return {name: total / batches for name, total in totals.items()} if squared or average else totals


def gradient_saliency(model: nn.Module, task: LossSource, batch_size: int = 64) -> Scores:
    """SalUn, Eq. (3): g = |sum over forget batches of grad_theta L_f(theta_0)|."""
    return {name: g.abs() for name, g in batch_gradients(model, task, "forget", batch_size, None, False).items()}


def fisher_diagonal(model: nn.Module, task: LossSource, which: str, batch_size: int = 64,
                    limit: int | None = None) -> Scores:
    """Empirical Fisher diagonal: mean over batches of (grad of the batch-mean loss)^2."""
    return batch_gradients(model, task, which, batch_size, limit, True)


# Above this many entries the global top-k avoids concatenating and sorting every score (for a Stable
# Diffusion UNet the sort alone would need ~10 GB); it finds the threshold by bisection instead.
LEAN_TOPK_ABOVE = 1 << 24


def _global_topk_lean(scores: Scores, keep: int) -> Mask:
    """The same mask as the sort (the ``keep`` largest entries; ties broken by position, first layer first)
    from integer bisection on the float32 bit patterns, which order non-negative floats; only per-layer
    boolean temporaries are allocated."""
    keys = {name: s.detach().float().view(torch.int32) for name, s in scores.items()}  # scores are >= 0

    def at_least(value: int) -> int:  # one host sync per call, not one per layer
        return int(torch.stack([(k >= value).sum() for k in keys.values()]).sum())

    low, high = 0, 0x7F800001  # count(>= low) >= keep > count(>= high)
    while high - low > 1:
        mid = (low + high) // 2
        if at_least(mid) >= keep:
            low = mid
        else:
            high = mid
    quota = keep - at_least(low + 1)  # entries equal to the threshold still to take, in position order
    masks = {}
    for name, k in keys.items():
        mask = k > low
        if quota > 0:
            tied = torch.nonzero(k.flatten() == low).flatten()[:quota]
            mask.view(-1)[tied] = True
            quota -= len(tied)
        masks[name] = mask
    return masks


def topk_mask(scores: Scores, ratio: float, scope: str = "global") -> Mask:
    """m = 1 for the top ``ratio`` share of entries, ranked over all parameters or within each layer."""
    if not 0 < ratio <= 1:
        raise UnlearningInputError(f"mask ratio must be in (0, 1]; got {ratio}")
    if scope == "global":
        total = sum(s.numel() for s in scores.values())
        keep = max(1, int(round(ratio * total)))
        if total > LEAN_TOPK_ABOVE:
            return _global_topk_lean(scores, keep)
        flat = torch.cat([s.flatten() for s in scores.values()])
        # Rank by sorting so exactly `keep` entries are chosen even when scores tie.
        chosen = torch.zeros(flat.numel(), dtype=torch.bool)
        chosen[torch.argsort(flat, descending=True, stable=True)[:keep]] = True
        masks, offset = {}, 0
        for name, s in scores.items():
            masks[name] = chosen[offset:offset + s.numel()].view_as(s)
            offset += s.numel()
        return masks
    if scope == "layer":
        masks = {}
        for name, s in scores.items():
            keep = max(1, int(round(ratio * s.numel())))
            chosen = torch.zeros(s.numel(), dtype=torch.bool)
            chosen[torch.argsort(s.flatten(), descending=True, stable=True)[:keep]] = True
            masks[name] = chosen.view_as(s)
        return masks
    raise UnlearningInputError(f"mask scope must be 'global' or 'layer'; got {shown(scope)}")


def fisher_ratio(forget_fisher: Scores, retain_fisher: Scores, eps: float = 1e-15) -> Scores:
    """SFR-on's saliency: (F_f + eps) / (F_r + eps) per parameter entry."""
    return {name: (forget_fisher[name] + eps) / (retain_fisher[name] + eps) for name in forget_fisher}


def threshold_mask(scores: Scores, gamma: float) -> Mask:
    """m = 1 where the score is at least gamma (SFR-on uses gamma = 1 on the Fisher ratio)."""
    return {name: s >= gamma for name, s in scores.items()}


def mask_share(mask: Mask) -> float:
    total = sum(m.numel() for m in mask.values())
    return float(sum(m.sum().item() for m in mask.values()) / max(total, 1))


@dataclasses.dataclass
class LayerSaliency:
    """One layer's saliency as plain data: scores reshaped to (out, in*k*k) and the mask alongside."""

    name: str
    shape: tuple
    scores: np.ndarray
    mask: np.ndarray
    salient_share: float
    mean_score: float

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "scores": self.scores.tolist(),
                "mask": self.mask.astype(int).tolist(), "salient_share": self.salient_share,
                "mean_score": self.mean_score}


def as_2d(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(1, -1) if tensor.ndim <= 1 else tensor.reshape(tensor.shape[0], -1)


def layer_saliency(scores: Scores, mask: Mask) -> list[LayerSaliency]:
    """Per-layer heatmap data for every parameter tensor (out x in*k*k; biases as one row)."""
    return [LayerSaliency(name=name, shape=tuple(s.shape), scores=as_2d(s).float().cpu().numpy(),
                          mask=as_2d(mask[name]).cpu().numpy().astype(bool),
                          salient_share=float(mask[name].float().mean()), mean_score=float(s.float().mean()))
            for name, s in scores.items()]
