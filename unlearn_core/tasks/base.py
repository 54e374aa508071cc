"""The interface methods are written against."""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Iterator

import torch
from torch import nn

from ..errors import UnlearningInputError, shown
from ..execution import reduce_per_sample, sharded_rows
from ..metering import credit

Batch = Any  # a task-specific minibatch (a tuple of tensors)

# The wrong targets a random-label loss can teach: a fresh random other label for every sample and step, or
# always the next label ((y + 1) mod K, the official SalUn / SFR-on DDPM code's c' = (c_f + 1) mod 10).
RELABEL_TARGETS = ("random", "next")


def check_relabel_target(target: str) -> None:
    if target not in RELABEL_TARGETS:
        raise UnlearningInputError(f"relabel target must be one of {', '.join(RELABEL_TARGETS)}; got {shown(target)}")


def wrong_labels(y: torch.Tensor, num_labels: int, generator: torch.Generator, target: str = "random") -> torch.Tensor:
    """A wrong label per sample among ``num_labels``: a random other one, or the next one (``target="next"``)."""
    check_relabel_target(target)
    offset = torch.randint(1, num_labels, y.shape, generator=generator) if target == "random" else 1
    return (y + offset) % num_labels


def reduce_rows(per_row, reduction: str, *rows: torch.Tensor) -> torch.Tensor:
    """A batch loss computed data-parallel (see :mod:`unlearn_core.execution`): ``per_row(*local rows)`` gives
    the per-sample losses of this process's rows of ``rows``; every process's are gathered and reduced by
    ``reduction`` ("mean", "sum" or "none"). Random draws belong before the call, on the whole batch, so
    that every process draws what one process would."""
    return reduce_per_sample(sharded_rows(per_row, *rows), reduction)


def inversion_seeds(seed: int, n: int) -> list[int]:
    """Sampling seeds of the images a concept-inversion attack learns from: far from the seeds the forget score
    and the grids use, so the attack never fits the very noise it is then judged on."""
    return [90_000 + 1000 * int(seed) + i for i in range(n)]


@dataclasses.dataclass
class RetrainReference:
    """The Retrain model for a target, its training time and whether it was ``"shipped"`` or ``"trained"`` here
    (all None when a family has no reference for the target)."""

    model: nn.Module | None
    seconds: float | None
    source: str | None


class TaskAdapter(abc.ABC):
    """Forget/retain data, losses and evaluation for one model family.

    ``kind`` names the family ("classification", "class-diffusion", "text-diffusion"); methods that
    only make sense for some families list the kinds they support.
    """

    kind: str = ""

    def __init__(self, seed: int):
        self.seed = int(seed)
        # The forget score a good unlearning reaches; the runner sets it from Retrain when it has one.
        self.target_forget_score: float | None = None

    # --- data ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    def batches(self, which: str, batch_size: int, generator: torch.Generator | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        """Minibatches of the ``"forget"`` or ``"retain"`` set, shuffled when a generator is given.
        ``limit`` caps the number of samples drawn (SLUG and the masks use a subset of the retain set)."""

    def cycle(self, which: str, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """An endless shuffled stream of minibatches."""
        while True:
            yield from self.batches(which, batch_size, generator)

    @abc.abstractmethod
    def size(self, which: str) -> int:
        """Number of samples in the forget or retain set."""

    # --- losses -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: Batch, reduction: str = "mean") -> torch.Tensor:
        """The model's ordinary training loss (cross-entropy, noise MSE). ``reduction="none"`` gives one
        loss per sample (SFR-on's adaptive weights need them)."""

    @abc.abstractmethod
    def relabel_loss(self, model: nn.Module, batch: Batch, generator: torch.Generator,
                     reference: nn.Module | None = None, reduction: str = "mean",
                     target: str = "random") -> torch.Tensor:
        """Random-label loss on a forget batch: the forget samples are taught a wrong target (another label;
        for diffusion the frozen ``reference``'s prediction for another condition), a random one or the next
        one (``target``, see :data:`RELABEL_TARGETS`). ``reduction="none"`` gives one loss per sample."""

    # --- evaluation ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def forget_score(self, model: nn.Module) -> float:
        """How much of the forget target the model still shows, in percent (forget accuracy)."""

    @abc.abstractmethod
    def retain_score(self, model: nn.Module) -> float:
        """How well the model still does on what it should keep, in percent."""

    def scores(self, model: nn.Module) -> tuple[float, float]:
        """The forget and the retain score: one score evaluation, as the run budget counts and meters them."""
        credit(scores=1)
        return self.forget_score(model), self.retain_score(model)

    def counted_forget_score(self, model: nn.Module) -> float:
        """The forget score alone (an audit's check): half a score evaluation, as the work meter counts it."""
        credit(scores=0.5)
        return float(self.forget_score(model))

    def forget_target(self, model: nn.Module) -> float:
        """The forget score a good unlearning should reach (SLUG's step search aims at it): Retrain's when
        known, else the family's estimate for ``model`` (the original)."""
        return self.target_forget_score if self.target_forget_score is not None else 0.0

    @abc.abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The metrics the report shows for one model."""

    def evaluation_key(self) -> tuple:
        """What :meth:`evaluate` depends on besides the model's weights: the runner caches the original's and
        Retrain's metrics by it. By default the forget target and the run's seed (a forget set or a held-out
        subset drawn by the seed); families whose evaluation uses fixed sampling seeds leave the run's seed out,
        so a new seed does not evaluate the original again."""
        return (str(getattr(self, "request", "")), self.seed)

    def evaluation_settings(self) -> dict[str, Any] | None:
        """The evaluation's sample counts and sampler settings, as the report states them (None: nothing to
        state, e.g. a classifier evaluated on its whole forget, retain and test sets)."""
        return None

    # --- Retrain (exact unlearning) -------------------------------------------------------------------
    def retrain_available(self) -> bool:
        """Whether :meth:`retrain` can give a reference for this forget target."""
        return False

    def retrain_is_shipped(self) -> bool:
        """Whether :meth:`retrain` loads a shipped reference (no training: what the run budget needs to know).
        Families whose references are shipped or absent say yes."""
        return True

    def retrain(self, progress=None, live: bool = False) -> RetrainReference:
        """The Retrain reference: the model trained from scratch without the forget set, with its training
        time (recorded beside a shipped reference) and source. A shipped reference is loaded when one exists
        (``live=True`` trains anyway, as the benchmark does to time it)."""
        raise NotImplementedError(f"{self.kind} models have no Retrain reference")

    def retrain_key(self) -> tuple:
        """What the Retrain reference depends on (the runner caches references by it)."""
        return (str(getattr(self, "request", "")), self.seed)

    def settle(self, model: nn.Module) -> None:
        """What a family does to a model after any method has changed it, before it is evaluated (nothing by
        default; GANs re-estimate their batch-norm statistics)."""

    def parameters_for_unlearning(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The parameters methods may change (all of them unless a family says otherwise)."""
        return dict(model.named_parameters())

    def layer_weights(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """Candidate layers for SLUG: weights with two or more dimensions."""
        return {n: p for n, p in self.parameters_for_unlearning(model).items() if p.ndim >= 2}


class TensorSetsTask(TaskAdapter):
    """Adapters whose forget and retain sets are in-memory (x, y) tensors: ``x_forget``, ``y_forget``,
    ``x_retain``, ``y_retain`` set by the subclass."""

    x_forget: torch.Tensor
    y_forget: torch.Tensor
    x_retain: torch.Tensor
    y_retain: torch.Tensor

    def _data(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which == "forget":
            return self.x_forget, self.y_forget
        if which == "retain":
            return self.x_retain, self.y_retain
        raise ValueError(f"which must be 'forget' or 'retain', got {which!r}")

    def size(self, which: str) -> int:
        return len(self._data(which)[0])

    def batches(self, which: str, batch_size: int, generator: torch.Generator | None = None,
                limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self._data(which)
        order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
        if limit is not None:
            order = order[:limit]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            credit(passes=len(idx))  # every method draws its samples here: one pass each, for the work meter
            yield x[idx], y[idx]
