"""Boundary unlearning (Chen et al., CVPR 2023): boundary expanding (BE) and boundary shrink (BS)."""
from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..hparams import hparam
from .base import UnlearnResult, UnlearningMethod, epochs_to_steps, make_optimizer, run_loop
from .baselines import OptimConfig
from .registry import register


def _swap_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


@dataclasses.dataclass
class BoundaryExpandingConfig(OptimConfig):
    """BE: add a shadow class, fine-tune with every forget sample labelled as the shadow class, then prune
    the shadow neuron, so D_f's region is handed to a class that no longer exists."""

    epochs: float = hparam(2.0, "passes over the forget set", low=0.0, high=100.0, low_inclusive=False)
    lr: float = hparam(0.001, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    batch_size: int = hparam(32, "minibatch size", low=1, high=4096)


@register
class BoundaryExpanding(UnlearningMethod):
    name, label = "be", "BE"
    walks = ("forget",)
    summary = "Relabel the forget set to an extra shadow class, then delete that class."
    reference = "Chen et al., Boundary Unlearning, CVPR 2023."
    Config = BoundaryExpandingConfig
    tasks = ("classification",)
    __doc__ = BoundaryExpandingConfig.__doc__

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        head_name = task.head_name(model)
        head = model.get_submodule(head_name)
        wide = nn.Linear(head.in_features, head.out_features + 1)
        with torch.no_grad():
            wide.weight[:-1].copy_(head.weight)
            wide.bias[:-1].copy_(head.bias)
        _swap_module(model, head_name, wide)
        shadow = head.out_features
        stream = task.cycle("forget", cfg.batch_size, torch.Generator().manual_seed(task.seed))

        def loss_at(step):
            x, _ = next(stream)
            return F.cross_entropy(model(x), torch.full((len(x),), shadow))

        optimizer = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay)
        run_loop(model, task, epochs_to_steps(task, "forget", cfg.epochs, cfg.batch_size), loss_at, optimizer,
                 self.label, progress)
        with torch.no_grad():  # prune the shadow neuron
            head.weight.copy_(wide.weight[:-1])
            head.bias.copy_(wide.bias[:-1])
        _swap_module(model, head_name, head)
        return UnlearnResult(model)


@dataclasses.dataclass
class BoundaryShrinkConfig(OptimConfig):
    """BS: find each forget sample's nearest wrong class by an FGSM step on the original model
    (x' = x + eps sign(grad_x CE)), then fine-tune with those neighbour labels so the boundary shrinks."""

    epochs: float = hparam(2.0, "passes over the forget set", low=0.0, high=100.0, low_inclusive=False)
    lr: float = hparam(0.001, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    batch_size: int = hparam(32, "minibatch size", low=1, high=4096)
    epsilon: float = hparam(0.1, "FGSM step size in pixel units (images are in [0, 1])", low=0.0, high=1.0,
                            low_inclusive=False)


@register
class BoundaryShrink(UnlearningMethod):
    name, label = "bs", "BS"
    walks, pass_cost = ("forget",), 2.0  # an adversarial example per forget sample, then the step
    summary = "Relabel each forget sample to its nearest wrong class (found adversarially) and fine-tune."
    reference = "Chen et al., Boundary Unlearning, CVPR 2023."
    Config = BoundaryShrinkConfig
    tasks = ("classification",)
    __doc__ = BoundaryShrinkConfig.__doc__

    def neighbour_labels(self, model, x, y) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
        with torch.no_grad():
            logits = model(x + self.config.epsilon * grad.sign())
            logits[torch.arange(len(y)), y] = -torch.inf  # the neighbour must be another class
        return logits.argmax(1)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        original = copy.deepcopy(model).eval()
        stream = task.cycle("forget", cfg.batch_size, torch.Generator().manual_seed(task.seed))

        def loss_at(step):
            x, y = next(stream)
            return F.cross_entropy(model(x), self.neighbour_labels(original, x, y))

        optimizer = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay)
        run_loop(model, task, epochs_to_steps(task, "forget", cfg.epochs, cfg.batch_size), loss_at, optimizer,
                 self.label, progress)
        return UnlearnResult(model)
