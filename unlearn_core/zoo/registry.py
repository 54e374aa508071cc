"""The zoo's registry: what the lab knows of a model (:class:`ModelSpec`: how to load and train it, which task
adapter and forget targets it takes), the base models, loaded once and never handed out for mutation, and
fresh copies for runs. Each model registers itself from its own module in this package."""
from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Callable

from torch import nn

from .. import cache
from ..data import ForgetRequest
from ..errors import AssetError, UnlearningInputError, shown
from ..methods import METHODS
from ..tasks.base import TaskAdapter


@dataclasses.dataclass(frozen=True)
class CostProfile:
    """What a run on this model costs, measured on the development machine (2-core x86_64, one thread) from
    the benchmark rows (``benchmarks/<model>.json``) and timed evaluations; the app's run budget prices a
    method's work with it (``unlearn_core.budget``)."""

    pass_s: float           # one sample's forward+backward inside a method's loop (optimizer included)
    score_s: float          # one evaluation of the forget and retain scores (SLUG's search)
    evaluation_s: float     # evaluating one model (metrics, samples) and inspecting the run
    retrain_s: float = 0.0  # training Retrain here, where no reference is shipped for the target


RETRAIN_SOURCES = ("shipped", "trained", "none")  # where a forget target's Retrain reference comes from


def no_retrain(request: ForgetRequest) -> str:
    """A model without Retrain references (text-to-image, zero-shot): none for any target."""
    return "none"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str                      # the task adapter's kind
    description: str
    forget_kinds: tuple[str, ...]    # "class", "random", "concept"
    num_classes: int | None
    load: Callable[[], nn.Module]
    make_task: Callable[[ForgetRequest, int], TaskAdapter]
    train: Callable[..., None]       # train(out_dir: Path, seed: int, progress) writes the shipped folder
    available: Callable[[], bool] = lambda: True
    default_forget: str = "class:3"
    # Methods `bench` runs by default (None: every method of the family); evaluation of generative models
    # costs a minute a run on a CPU, so their benchmark keeps to the methods the issue compares.
    bench_methods: tuple[str, ...] | None = None
    # The run budget's price list (None: a user's model, priced by the budget's measurement alone).
    cost: CostProfile | None = None
    # What the model brings beside its weights that some methods need (``UnlearningMethod.needs``), e.g.
    # "text_model": a text-image model that reads a concept's words.
    provides: tuple[str, ...] = ()
    # Where a target's Retrain reference comes from, one of RETRAIN_SOURCES (see ``retrain_source``).
    retrain_for: Callable[[ForgetRequest], str] = no_retrain

    def retrain_source(self, forget: str) -> str:
        """Where the Retrain reference of ``forget`` comes from, read from the shipped files without loading
        anything: "shipped" (loaded), "trained" (trained in the run, about ``cost.retrain_s``, then cached) or
        "none" (the run has no Retrain, so no gap to it). A target the model does not take is an input error."""
        return self.retrain_for(self.parse_forget(forget))

    def shipped_retrains(self) -> list[str]:
        """The class targets whose Retrain reference is shipped (concept targets are not enumerated)."""
        if "class" not in self.forget_kinds:
            return []
        return [f"class:{k}" for k in range(self.num_classes or 0)
                if self.retrain_for(ForgetRequest("class", k)) == "shipped"]

    def applies(self, method_cls) -> bool:
        """Whether ``method_cls`` can run on this model: its family, and whatever else the method needs."""
        return self.family in method_cls.tasks and set(method_cls.needs) <= set(self.provides)

    def check_method(self, method_cls) -> None:
        """A clear error where ``method_cls`` needs something this model lacks (the family is checked when
        the method is built for it)."""
        missing = sorted(set(method_cls.needs) - set(self.provides))
        if self.family in method_cls.tasks and missing:
            valid = ", ".join(name for name, cls in METHODS.items() if self.applies(cls))
            raise UnlearningInputError(f"method '{method_cls.name}' needs a {' and a '.join(missing).replace('_', ' ')}"
                                       f" beside the model, and {self.name} has none; methods for {self.name}: {valid}")

    def parse_forget(self, text: str) -> ForgetRequest:
        request = ForgetRequest.parse(text, self.num_classes)
        if request.kind not in self.forget_kinds:
            raise UnlearningInputError(
                f"model '{self.name}' takes forget targets of kind {', '.join(self.forget_kinds)}; got '{text}'")
        return request


MODELS: dict[str, ModelSpec] = {}


def class_left_out(forget: str | None, model_name: str) -> int | None:
    """The class a Retrain reference is trained without (``train --forget class:K``), or None for the model
    itself; generators' references leave out a class, nothing else."""
    if forget is None:
        return None
    request = ForgetRequest.parse(forget, 10)
    if request.kind != "class":
        raise UnlearningInputError(f"{model_name} Retrain references leave out a class (class:K); got {shown(forget)}")
    return int(request.value)


def register_model(spec: ModelSpec) -> ModelSpec:
    """Register ``spec``; registering a name again (a hub model given another path) drops what was loaded or
    computed from the previous weights."""
    previous = MODELS.get(spec.name)
    MODELS[spec.name] = spec
    if previous is not None:
        base_model.cache_clear()
        cache.forget_model(spec.name)
    return spec


def get_model_spec(name: str) -> ModelSpec:
    if not isinstance(name, str) or name not in MODELS:
        raise UnlearningInputError(f"unknown model {shown(name)}; valid: {', '.join(available_models())}")
    spec = MODELS[name]
    if not spec.available():
        raise UnlearningInputError(f"model {shown(name)} has no weights here; "
                                   f"run `python -m unlearn_core train {name}`")
    return spec


def available_models() -> list[str]:
    return [name for name, spec in MODELS.items() if spec.available()]


@functools.lru_cache(maxsize=None)
def base_model(name: str) -> nn.Module:
    """The shipped model, loaded once; treat as read-only (use :func:`fresh_copy`)."""
    try:
        model = get_model_spec(name).load()
    except AssetError as error:  # the file is named; the user asked for the model
        raise AssetError(f"model '{name}': {error}") from None
    model.requires_grad_(False)
    return model


def fresh_copy(name: str) -> nn.Module:
    """A run's own copy of the shipped model, with gradients enabled."""
    model = copy.deepcopy(base_model(name))
    return model.requires_grad_(True)

