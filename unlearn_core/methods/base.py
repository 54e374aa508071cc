"""The one verb every unlearning method shares: ``Method(config).unlearn(model, task)``."""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import nn

from ..errors import UnlearningInputError, check_finite, shown
from ..execution import average_gradients
from ..hparams import build_config, describe, validate
from ..metering import Work  # noqa: F401 (methods state their work in it: ``from .base import Work``)
from ..saliency import Mask
from ..tasks.base import TaskAdapter
from .registry import method_defaults

ProgressFn = Callable[[float, str], None]
ALL_TASKS = ("classification", "class-diffusion", "text-diffusion")
# Methods that need only losses, scores and a parameter set also run on CLIP's zero-shot classification
# (which has no Retrain, no per-sample gradients at that scale, and no boundary/teacher machinery) and on GANs
# (their losses go through the oracle classifier, see tasks/gan.py).
GRADIENT_TASKS = ALL_TASKS + ("zero-shot", "gan")


@dataclasses.dataclass
class UnlearnResult:
    """The unlearned model plus whatever the method computed that the app plots (saliency, SLUG scores)."""

    model: nn.Module
    artifacts: dict[str, Any] = dataclasses.field(default_factory=dict)


class UnlearningMethod(abc.ABC):
    """Base class. Subclasses set ``name``, ``label``, ``summary``, ``reference``, ``Config`` (a dataclass
    of hyperparameters declared with :func:`unlearn_core.hparams.hparam`) and implement ``unlearn``."""

    name: ClassVar[str]
    label: ClassVar[str]
    summary: ClassVar[str]
    reference: ClassVar[str] = ""
    Config: ClassVar[type]
    tasks: ClassVar[tuple[str, ...]] = ALL_TASKS
    # For the run budget (``work``): the sets one epoch walks over, and passes per sample visited (a frozen
    # teacher's forward, an adversarial example).
    walks: ClassVar[tuple[str, ...]] = ("forget", "retain")
    pass_cost: ClassVar[float] = 1.0
    # The knob that scales the work, for the budget's suggestion of settings that fit.
    length_knob: ClassVar[str | None] = "epochs"
    # What a model must bring beside its weights (``ModelSpec.provides``), e.g. "text_model".
    needs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, **overrides: Any):
        if config is None:
            config = build_config(self.Config, overrides, f"{self.label} (method '{self.name}')")
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        if not isinstance(config, self.Config):
            raise UnlearningInputError(f"{self.name} expects a {self.Config.__name__}")
        validate(config)
        self.config = config

    @classmethod
    def for_task(cls, kind: str, overrides: dict[str, Any] | None = None, model: str | None = None,
                 forget_kind: str | None = None) -> "UnlearningMethod":
        """Build the method with the defaults for a model family (and, given ``model`` and ``forget_kind``,
        the defaults tuned for that model and kind of target), then the user's overrides (validated)."""
        if kind not in cls.tasks:
            raise UnlearningInputError(
                f"method '{cls.name}' does not apply to {kind} models; it supports: {', '.join(cls.tasks)}")
        defaults = method_defaults(cls.name, kind, model, forget_kind)
        return cls(build_config(cls.Config, {**defaults, **(overrides or {})}, f"{cls.label} (method '{cls.name}')"))

    @classmethod
    def describe(cls, kind: str = "classification", model: str | None = None,
                 forget_kind: str | None = None) -> dict[str, Any]:
        """Plain description for the CLI listing and the app's controls (defaults for ``kind``, tuned for
        ``model`` and ``forget_kind`` where ``tune`` chose them)."""
        fields = describe(cls.Config)
        defaults = method_defaults(cls.name, kind, model, forget_kind)
        for f in fields:
            f["default"] = defaults.get(f["name"], f["default"])
        return {"name": cls.name, "label": cls.label, "summary": cls.summary, "reference": cls.reference,
                "equation": (cls.Config.__doc__ or "").strip(), "tasks": list(cls.tasks), "hyperparameters": fields}

    def work(self, n_forget: int, n_retain: int) -> Work:
        """About how much this configuration computes on sets of these sizes (see :class:`Work`); read from
        the common knobs (``iterations`` x ``batch_size``, else ``epochs`` over ``walks``). Methods whose loop
        differs override it."""
        cfg = self.config
        if hasattr(cfg, "iterations"):
            return Work(self.pass_cost * cfg.iterations * cfg.batch_size)
        sizes = {"forget": n_forget, "retain": n_retain}
        return Work(self.pass_cost * getattr(cfg, "epochs", 1.0) * sum(sizes[which] for which in self.walks))

    def check_task(self, task: TaskAdapter) -> None:
        if task.kind not in self.tasks:
            raise UnlearningInputError(
                f"method '{self.name}' does not apply to {task.kind} models; it supports: {', '.join(self.tasks)}")

    @abc.abstractmethod
    def unlearn(self, model: nn.Module, task: TaskAdapter, progress: ProgressFn | None = None) -> UnlearnResult:
        """Unlearn in place on ``model`` (the caller's own copy) and return it with the method's artifacts."""


# ------------------------------------------------------------------------------------------------------
# Optimisation helpers shared by the methods, so each method states only its loss.

def make_optimizer(params: Iterable[nn.Parameter], kind: str, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise UnlearningInputError(f"optimizer must be 'sgd' or 'adam'; got {shown(kind)}")


def cosine_factor(step: int, total: int) -> float:
    """(1 + cos(pi t / T)) / 2: 1 at the start, 0 at the end."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


class MaskedUpdater:
    """Applies a weight mask: gradients of masked-out entries are zeroed after backward, and (with
    ``restore``) those entries are reset to theta_0 after every step so weight decay or momentum cannot
    drift them. The mask stays boolean (one byte per weight, not a float copy of the model) and only the
    masked-out entries of theta_0 are kept for the restore."""

    def __init__(self, mask: Mask | None, params: dict[str, nn.Parameter], restore: bool = True):
        self.params = params
        self.mask = {n: m.to(device=params[n].device, dtype=torch.bool) for n, m in mask.items()} if mask else None
        self.frozen = ({n: p.detach()[~self.mask[n]].clone() for n, p in params.items()}
                       if mask and restore else None)

    def mask_gradients(self) -> None:
        if self.mask is None:
            return
        for name, p in self.params.items():
            if p.grad is not None:
                p.grad.masked_fill_(~self.mask[name], 0)

    @torch.no_grad()
    def restore(self) -> None:
        if self.frozen is None:
            return
        for name, p in self.params.items():
            p.masked_scatter_(~self.mask[name], self.frozen[name])


def take_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, where: str,
              updater: MaskedUpdater | None = None, clip: float | None = None,
              params: Iterable[nn.Parameter] | None = None) -> float:
    """zero_grad, backward, average over processes, mask, clip, step, restore; raises DivergenceError on a NaN/inf
    loss."""
    check_finite(loss, where)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(p for g in optimizer.param_groups for p in g["params"])
    if updater is not None:
        updater.mask_gradients()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(list(params) if params is not None else
                                       [p for g in optimizer.param_groups for p in g["params"]], clip)
    optimizer.step()
    if updater is not None:
        updater.restore()
    return float(loss.detach())


def run_loop(model: nn.Module, task: TaskAdapter, steps: int, loss_at: Callable[[int], torch.Tensor],
             optimizer: torch.optim.Optimizer, where: str, progress: ProgressFn | None = None,
             updater: MaskedUpdater | None = None, clip: float | None = None, schedule: str = "constant",
             after_step: Callable[[int], None] | None = None) -> list[float]:
    """The common loop: ``steps`` optimizer steps on ``loss_at(step)``, with an optional cosine schedule."""
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    losses = []
    model.train()
    for step in range(steps):
        if schedule == "cosine":
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * cosine_factor(step, steps)
        losses.append(take_step(optimizer, loss_at(step), where, updater, clip))
        if after_step is not None:
            after_step(step)
        if progress and (step % 10 == 0 or step == steps - 1):
            progress((step + 1) / steps, f"{where}: step {step + 1}/{steps}")
    model.eval()
    return losses


def epochs_to_steps(task: TaskAdapter, which: str, epochs: float, batch_size: int,
                    samples: int | None = None, what: str | None = None) -> int:
    """Optimizer steps of ``epochs`` passes over the ``which`` set (or over ``samples`` samples, described as
    ``what``), a part batch rounded up to a step; see :func:`steps_of_epochs` for a length that does no work."""
    count = task.size(which) if samples is None else samples
    return steps_of_epochs(epochs, count, batch_size, what or f"the {which} set")


def steps_of_epochs(epochs: float, samples: int, batch_size: int, what: str) -> int:
    """``ceil(epochs * samples / batch_size)`` steps. Epochs that cover less than one sample are refused: the
    rounding up to one step would otherwise hide a length that asks for no training at all (epochs=1e-300
    reported "Done")."""
    if samples > 0 and epochs * samples < 1:
        smallest = smallest_covering(samples)
        raise UnlearningInputError(
            f"hyperparameter 'epochs' = {shown(epochs)} covers less than one of the {samples} samples of {what}, "
            f"so the method would not train; the smallest value that does one optimizer step is {smallest:g}")
    return max(1, int(math.ceil(epochs * samples / batch_size)))


def smallest_covering(samples: int) -> float:
    """The smallest epochs, at 3 significant digits rounded up, that cover one of ``samples`` samples."""
    exact = 1.0 / samples
    scale = 10 ** (2 - math.floor(math.log10(exact)))
    return math.ceil(exact * scale) / scale
