"""Class-conditional diffusion adapter: noise-prediction losses, SalUn's relabelled noise target, and
metrics judged by the shipped digits classifier on generated samples."""
from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..data import ForgetRequest, resize
from ..diffusion.training import squared_error
from ..errors import UnlearningInputError
from ..metrics import frechet_distance
from ..models.ddpm import NULL_CLASS, build_scheduler, noise_loss, to_model_space
from .base import RetrainReference, TensorSetsTask, check_relabel_target, inversion_seeds, reduce_rows


def unet_shipped(folder: Path | None) -> bool:
    """Whether ``folder`` holds a shipped Retrain reference of a class-conditional diffusion model."""
    return folder is not None and (folder / "unet").is_dir()


class ClassDiffusionTask(TensorSetsTask):
    """Forget one class of a class-conditional DDPM with classifier-free guidance.

    Batches are ``(x, y)`` with ``x`` in the model's [-1, 1] space. Metrics use the shipped digits classifier
    on samples drawn with fixed seeds (the same noise for every model, so before/after differences are the
    model's, not the sampler's):

    - ``ua`` = 100 - % of forget-class-conditioned samples classified as the forget class;
    - ``retain_acc`` = % of retained-class-conditioned samples classified as their class;
    - ``fid`` = Frechet distance between the classifier's penultimate features of generated retained-class
      samples and of the real retained training images (an FID stand-in: no Inception weights here).
    """

    kind = "class-diffusion"

    # Evaluation budgets (samples per class) and the cheap scoring set SLUG's step search calls repeatedly.
    eval_forget_samples = 100
    eval_retain_samples_per_class = 40
    score_forget_samples = 32
    score_retain_samples_per_class = 6
    score_steps = 10

    def __init__(self, x01: torch.Tensor, y: torch.Tensor, request: ForgetRequest, seed: int,
                 num_classes: int = 10, guidance: float | None = None, steps: int | None = None,
                 retrain_dir: Path | None = None, model_name: str = "digits-ddpm", original: nn.Module | None = None):
        from ..diffusion.sampling import DEFAULT_GUIDANCE, DEFAULT_STEPS, validate_sampling

        super().__init__(seed)
        if request.kind != "class":
            raise UnlearningInputError(
                f"class-conditional diffusion models forget a whole class: use 'class:K' with K in "
                f"0..{num_classes - 1}; got '{request}'")
        if not 0 <= int(request.value) < num_classes:
            raise UnlearningInputError(f"class must be in 0..{num_classes - 1}; got {request.value}")
        self.request, self.num_classes, self.null_class = request, num_classes, NULL_CLASS
        self.forget_class = int(request.value)
        self.retained_classes = [c for c in range(num_classes) if c != self.forget_class]
        self.guidance, self.steps = validate_sampling(
            DEFAULT_GUIDANCE if guidance is None else guidance, DEFAULT_STEPS if steps is None else steps)
        self.model_name, self.retrain_dir = model_name, retrain_dir
        self.original = original  # the read-only base model: the "before" panel of before/after grids
        self.alphas_cumprod = build_scheduler().alphas_cumprod.float()
        x = to_model_space(x01)
        forget = y == self.forget_class
        self.x_forget, self.y_forget = x[forget], y[forget]
        self.x_retain, self.y_retain = x[~forget], y[~forget]
        self._real_features = None
        self._x01_retain = x01[~forget]

    # --- data ---------------------------------------------------------------------------------------
    # --- losses -------------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch, reduction: str = "mean") -> torch.Tensor:
        """Noise-prediction MSE at a uniform random timestep (per-sample means with reduction="none")."""
        x, y = batch
        x_t, t, noise = self.noisy(x)  # the draws of ``noise_loss``, made for the whole batch
        return reduce_rows(lambda x_t, t, noise, y: squared_error(self.predict_noise(model, x_t, t, y), noise, "none"),
                           reduction, x_t, t, noise, y)

    def noisy(self, x0: torch.Tensor, generator: torch.Generator | None = None):
        """(x_t, t, eps) at uniform random timesteps."""
        n = x0.shape[0]
        t = torch.randint(0, len(self.alphas_cumprod), (n,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = self.alphas_cumprod[t].view(n, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise, t, noise

    def other_classes(self, n: int, generator: torch.Generator, target: str = "random") -> torch.Tensor:
        """The c' != c_f of SalUn's relabelled target: a random retained class per sample, or always the next
        class (c_f + 1) mod K (``target="next"``, the official DDPM code's choice)."""
        check_relabel_target(target)
        if target == "next":
            return torch.full((n,), (self.forget_class + 1) % self.num_classes, dtype=torch.long)
        pick = torch.randint(0, len(self.retained_classes), (n,), generator=generator)
        return torch.tensor(self.retained_classes)[pick]

    def predict_noise(self, model: nn.Module, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return model(x_t, t, class_labels=cond).sample

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator,
                     reference: nn.Module | None = None, reduction: str = "mean",
                     target: str = "random") -> torch.Tensor:
        """SalUn for diffusion: MSE(eps_theta(x_t, t, c_f), stopgrad eps(x_t, t, c')) with c' another class
        (see :meth:`other_classes`); the target comes from ``reference`` when given, else from the model itself
        (no gradient)."""
        x, y = batch
        x_t, t, _ = self.noisy(x, generator)
        other = self.other_classes(len(x), generator, target)

        def per_row(x_t, t, other, y):
            with torch.no_grad():
                wrong = self.predict_noise(reference if reference is not None else model, x_t, t, other)
            return squared_error(self.predict_noise(model, x_t, t, y), wrong, "none")

        return reduce_rows(per_row, reduction, x_t, t, other, y)

    # --- ESD hooks (shared with the text-to-image adapter) ---------------------------------------------
    def frozen_copy(self, model: nn.Module) -> nn.Module:
        return copy.deepcopy(model).eval().requires_grad_(False)

    def concept_inputs(self, model: nn.Module, batch_size: int, generator: torch.Generator):
        """(x_t, t, concept condition, null condition) for ESD: forget-class training images noised to a random
        timestep (a class-conditional model has the concept's data; the text adapter samples x_t instead)."""
        idx = torch.randint(0, len(self.x_forget), (batch_size,), generator=generator)
        x_t, t, _ = self.noisy(self.x_forget[idx], generator)
        return x_t, t, self.y_forget[idx], torch.full((batch_size,), self.null_class, dtype=torch.long)

    def parameter_group(self, model: nn.Module, group: str) -> dict[str, nn.Parameter]:
        """ESD's parameter sets. A class-conditional UNet has no cross-attention, so only 'all' applies."""
        if group == "all":
            return self.parameters_for_unlearning(model)
        raise UnlearningInputError(
            f"parameter set '{group}' needs a text-conditioned model (cross-attention); for class-conditional "
            "diffusion the valid choice is 'all'")

    # --- concept inversion hooks (unlearn_core.audit.inversion) -------------------------------------------
    inversion_score_name = "forget accuracy"

    def inversion_data(self, original: nn.Module, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` forget-class images drawn by ``original`` (model space) with their class labels. The seeds are
        not the forget score's, so the attack never fits the very noise it is then judged on."""
        labels = torch.full((n,), self.forget_class, dtype=torch.long)
        seeds = inversion_seeds(seed, n)
        return self.sample(original, labels, seeds).detach(), labels

    def inversion_loss(self, model: nn.Module, x0: torch.Tensor, cond: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
        return noise_loss(model, self.alphas_cumprod, x0, cond, generator=generator)

    def concept_embedding(self, model: nn.Module) -> torch.Tensor:
        """The forget class's row of the class embedding (what the attack must NOT start from)."""
        return model.class_embedding.weight[self.forget_class].float().detach()

    def inversion_start(self, model: nn.Module) -> torch.Tensor:
        """The learned class vector's starting point: the null class's embedding, the unconditional "any
        digit" of classifier-free guidance (starting from the forget class's own row would hand the attack the
        answer)."""
        return model.class_embedding.weight[self.null_class].float().detach().clone()

    @contextlib.contextmanager
    def learned_concept(self, model: nn.Module, vector: torch.Tensor) -> Iterator[None]:
        """Within the block, conditioning on the forget class uses ``vector`` in place of its class-embedding
        row (a forward hook on ``class_embedding``; the weights are not touched). The null class, used by
        guidance, keeps its own row."""
        def swap(module, args, output):
            is_forget = (args[0] == self.forget_class).unsqueeze(-1)
            return torch.where(is_forget, vector.to(output.dtype), output)

        handle = model.class_embedding.register_forward_hook(swap)
        try:
            yield
        finally:
            handle.remove()

    # --- sampling and scores --------------------------------------------------------------------------
    def sample(self, model: nn.Module, classes, seeds, guidance: float | None = None,
               steps: int | None = None) -> torch.Tensor:
        from ..diffusion.sampling import ddim_sample

        return ddim_sample(model, self.alphas_cumprod, classes, list(seeds), self.null_class,
                           self.guidance if guidance is None else guidance, self.steps if steps is None else steps)

    @staticmethod
    def _seeds(offset: int, n: int) -> list[int]:
        return [offset + i for i in range(n)]

    def _classified(self, model: nn.Module, classes: list[int], per_class: int, seed_offset: int,
                    steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from ..diffusion.evaluation import classify

        labels = torch.tensor([c for c in classes for _ in range(per_class)], dtype=torch.long)
        samples = self.sample(model, labels, self._seeds(seed_offset, len(labels)), steps=steps)
        return samples, labels, classify(samples)

    def forget_score(self, model: nn.Module) -> float:
        """% of a small fixed set of forget-class samples (few DDIM steps) classified as the forget class."""
        _, labels, predicted = self._classified(model, [self.forget_class], self.score_forget_samples, 50_000,
                                                steps=self.score_steps)
        return float(100.0 * (predicted == labels).float().mean())

    def retain_score(self, model: nn.Module) -> float:
        """% of a small fixed set of retained-class samples (few DDIM steps) classified as their class."""
        _, labels, predicted = self._classified(model, self.retained_classes, self.score_retain_samples_per_class,
                                                60_000, steps=self.score_steps)
        return float(100.0 * (predicted == labels).float().mean())

    def forget_target(self, model: nn.Module) -> float:
        """Retrain's forget score when known; otherwise chance level (a model that never saw the class draws
        something else, which the classifier calls the forget class about 1 time in ``num_classes``)."""
        return self.target_forget_score if self.target_forget_score is not None else 100.0 / self.num_classes

    def _real(self) -> np.ndarray:
        if self._real_features is None:
            from ..diffusion.evaluation import features

            self._real_features = features(resize(self._x01_retain, 16))
        return self._real_features

    def evaluation_settings(self) -> dict:
        return {"forget_samples": self.eval_forget_samples,
                "retain_samples_per_class": self.eval_retain_samples_per_class,
                "retain_samples": self.eval_retain_samples_per_class * len(self.retained_classes),
                "ddim_steps": self.steps, "guidance": self.guidance, "sampler": "ddim (eta 0, fixed seeds)"}

    def evaluation_key(self) -> tuple:
        """The forget class and the evaluation's settings: the samples come from fixed seeds, so the metrics do
        not depend on the run's seed."""
        return (str(self.request), *sorted(self.evaluation_settings().items()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        from ..diffusion.evaluation import classifier_input, features

        _, f_labels, f_pred = self._classified(model, [self.forget_class], self.eval_forget_samples, 0)
        samples, r_labels, r_pred = self._classified(model, self.retained_classes,
                                                     self.eval_retain_samples_per_class, 20_000)
        forget_acc = float(100.0 * (f_pred == f_labels).float().mean())
        generated = features(classifier_input(samples))
        return {"ua": 100.0 - forget_acc, "forget_acc": forget_acc,
                "retain_acc": float(100.0 * (r_pred == r_labels).float().mean()),
                "fid": frechet_distance(generated, self._real())}

    # --- Retrain reference ------------------------------------------------------------------------------
    def retrain_available(self) -> bool:
        return unet_shipped(self.retrain_dir)

    def retrain_key(self) -> tuple:
        return (str(self.request),)

    def retrain(self, progress=None, live: bool = False) -> RetrainReference:
        """The shipped Retrain reference (a model trained without the forget class with the same recipe).
        Training one takes tens of minutes on a CPU, so it is never done inside a run (``live`` is ignored)."""
        import json

        from ..models.ddpm import load_unet

        if not self.retrain_available():
            raise UnlearningInputError(
                f"no Retrain reference is shipped for class {self.forget_class}; train it with "
                f"`python -m unlearn_core train {self.model_name} --forget class:{self.forget_class}` "
                "(or run without the Retrain reference)")
        if progress:
            progress(1.0, f"loaded the shipped Retrain reference {self.retrain_dir.name}")
        record = self.retrain_dir / "recipe.json"
        seconds = json.loads(record.read_text()).get("train_s") if record.exists() else None
        return RetrainReference(load_unet(self.retrain_dir).requires_grad_(False), seconds, "shipped")

    # --- parameters ---------------------------------------------------------------------------------
    def layer_weights(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """SLUG's candidates: conv and linear weights (no biases, norms or the class embedding)."""
        params = self.parameters_for_unlearning(model)
        return {n: p for n, p in params.items() if p.ndim >= 2 and not n.startswith("class_embedding")}

    # --- images ---------------------------------------------------------------------------------------
    def before_after_grid(self, outcome, path: Path, seeds: list[int] | None = None) -> Path:
        """Rows = classes, columns = seeds: the original, the unlearned and (when shipped) Retrain."""
        from ..diffusion.grids import before_after_class_grid

        title = (f"{self.model_name}: forget class {self.forget_class}, guidance {self.guidance:g}, "
                 f"{self.steps} DDIM steps")
        return before_after_class_grid(self, outcome, Path(path), title, seeds)
