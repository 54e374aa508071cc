"""Unconditional GANs: forgetting a class a generator draws (Adapt-then-Unlearn's setting, Tiwary et al., TMLR).

A generator has no training set to split. As in Adapt-then-Unlearn, the forget and retain sets are *latent
vectors*: a seeded pool of z is drawn through the original generator and a shipped classifier (the *oracle*:
digits-cnn for the digits GAN, the shapes concept classifier for the shapes GAN) labels each image; z whose
image shows the forget class are the *negatives* (forget set), the others the *positives* (retain set).
Batches are ``(z, oracle label)``. A generator with a text-image model beside it (:class:`TextGuidance`) can
also be unlearned from the concept's words alone (Text-to-Unlearn).

Losses methods share:

- ``loss``: the oracle's cross-entropy on G(z) against the class the original drew for that z: fine-tuning
  descends it on positives (they keep their digit), gradient ascent ascends it on negatives, and its gradient on
  the negatives is SalUn's saliency (the weights that draw the class) and SFR-on's forget Fisher.
- ``relabel_loss``: SalUn's random labels carried over through the oracle: cross-entropy of the oracle on G(z)
  against a wrong class, so a negative's image is pushed towards another digit.
- ``adversarial_loss`` / ``discriminator_loss``: the GAN's own non-saturating losses, for Adapt-then-Unlearn,
  which trains against a discriminator on generated positives or negatives.

Evaluation draws a fixed grid of latents (the same for every model and run, so before and after compare the same
z): UA = 100 - the share of samples the oracle calls the forget class; each retained class's share against the
original's (mode coverage; the smallest ratio is reported); the share of confidently recognised samples; and the
Frechet distance of the oracle's features of the retained samples to real retained digits.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import ForgetRequest
from ..errors import UnlearningInputError
from ..metrics import frechet_distance
from ..gan_loop import calibrate_batch_norm, discriminator_loss, generator_loss
from ..models.gan import (Discriminator, Generator, generate, latents, load_gan, read_gan_record, to_model_space,
                          to_pixels)
from .base import RetrainReference, TensorSetsTask, wrong_labels

CONFIDENT = 0.9  # an image counts as a clear digit when the oracle gives it this probability


@dataclasses.dataclass(frozen=True)
class Oracle:
    """The shipped classifier that judges a generator's images: ``logits`` maps [0, 1] images to class logits
    (differentiable; it may have outputs beyond ``class_names``, such as the shapes classifier's "no shape",
    which count as no class), ``features`` maps them to the features of the Frechet distance."""

    name: str
    class_names: tuple[str, ...]
    logits: Callable[[torch.Tensor], torch.Tensor]
    features: Callable[[torch.Tensor], np.ndarray]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def concept_prompts(concept: str) -> list[str]:
    """The concept said alone and with an article ("triangle", "a triangle"), averaged into one text
    embedding, as CLIP's zero-shot prompts are ensembled."""
    words = " ".join(concept.split())
    first = words.split(" ", 1)[0]
    return [words] if first in ("a", "an") else [words, f"a {words}"]


def text_embedding(text_model, prompts: list[str]) -> torch.Tensor:
    """The unit mean of the prompts' text features (no gradient: the text model is never trained)."""
    with torch.no_grad():
        return F.normalize(text_model.encode_text(prompts).mean(0), dim=0)


@dataclasses.dataclass(frozen=True)
class TextGuidance:
    """A text-image model beside a generator (Text-to-Unlearn needs nothing else): ``model`` has
    ``encode_text(prompts)`` and ``encode_image(images01)`` (unit vectors, the image side differentiable) and
    ``scale()`` (the logit scale); ``concept`` is the user's words for what to forget, already checked against its vocabulary."""

    model: nn.Module
    concept: str
    name: str
    alternatives: tuple[str, ...] = ()  # prompts for the other concepts of its kind (the default neutral prompts)

    def choices(self, neutral_prompts: list[str] | None = None) -> torch.Tensor:
        """Unit text features (1 + k, D): the concept's words first, then each neutral prompt (default: the
        other concepts of its kind)."""
        prompts = list(neutral_prompts) if neutral_prompts else list(self.alternatives)
        concept = text_embedding(self.model, concept_prompts(self.concept))
        return torch.stack([concept] + [text_embedding(self.model, [p]) for p in prompts])

    def relevance(self, image_features: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
        """w = softmax(s [cos(f, t_c), cos(f, t_n,1), ..., cos(f, t_n,k)])_c for unit image features f: the
        zero-shot probability that an image shows the concept rather than the alternatives."""
        return (float(self.model.scale()) * image_features @ choices.T).softmax(1)[:, 0]


LABELLERS = ("oracle", "text")  # who flags the original's samples as showing the forget target


def generator_shipped(folder: Path | None) -> bool:
    """Whether ``folder`` holds a shipped Retrain generator."""
    return folder is not None and (folder / "generator").is_dir()


class GANTask(TensorSetsTask):
    kind = "gan"

    def __init__(self, generator: Generator, discriminator: Discriminator, real_x01: torch.Tensor,
                 real_y: torch.Tensor, request: ForgetRequest, seed: int, oracle: Oracle, forget_class: int,
                 retrain_dir: Path | None = None, text: TextGuidance | None = None, pool_size: int = 4000,
                 eval_samples: int = 1000, score_samples: int = 500):
        super().__init__(seed)
        if not 0 <= int(forget_class) < oracle.num_classes:
            raise UnlearningInputError(f"{oracle.name} knows classes 0..{oracle.num_classes - 1}; got {forget_class}")
        self.request, self.forget_class, self.oracle = request, int(forget_class), oracle
        self.num_classes, self.text = oracle.num_classes, text
        self.forget_name = oracle.class_names[self.forget_class]
        self.retained_classes = [c for c in range(self.num_classes) if c != self.forget_class]
        self.original = generator.eval()
        self.discriminator = discriminator.eval().requires_grad_(False)
        self.retrain_dir = retrain_dir
        self.z_dim = generator.config.z_dim
        self.eval_samples, self.score_samples = eval_samples, score_samples
        z = latents(pool_size, 10_000 + self.seed, self.z_dim)
        labels = self.oracle_labels(generator, z)
        negative = labels == self.forget_class
        if not negative.any():
            raise UnlearningInputError(f"the generator draws no {self.forget_name} in {pool_size} samples: "
                                       "nothing to forget")
        self.x_forget, self.y_forget = z[negative], labels[negative]
        self.x_retain, self.y_retain = z[~negative], labels[~negative]
        keep = real_y != self.forget_class
        self._real_x01 = real_x01[keep]
        self._real_features: np.ndarray | None = None
        self._original_shares: dict[int, float] | None = None
        self._text_split: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        """What the oracle calls each class (grid rows)."""
        return self.oracle.class_names

    # --- the oracle ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def oracle_probabilities(self, generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """The oracle's class probabilities for the images ``generator`` draws from ``z`` (in eval mode)."""
        return self.oracle.logits(generate(generator, z)).softmax(1)

    def oracle_logits(self, model: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """The oracle's logits on G(z), differentiable in G's weights (the losses methods descend)."""
        return self.oracle.logits(to_pixels(model(z)))

    def oracle_labels(self, generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
        return self.oracle_probabilities(generator, z).argmax(1)

    # --- losses ---------------------------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch, reduction: str = "mean") -> torch.Tensor:
        z, y = batch
        return F.cross_entropy(self.oracle_logits(model, z), y, reduction=reduction)

    @staticmethod
    def adversarial_loss(discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        """The generator's non-saturating loss on its images ``fake`` = G(z), -log D(G(z)), as the GAN was
        trained with."""
        return generator_loss(discriminator, fake)

    @staticmethod
    def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """-log D(real) - log(1 - D(fake)) (images in the model's [-1, 1] space; no gradient into G)."""
        return discriminator_loss(discriminator, real, fake.detach())

    def drawn_by_original(self, which: str, labeller: str = "oracle") -> torch.Tensor:
        """The original generator's images (model space) of the negatives or positives: the "data" that
        Adapt-then-Unlearn adapts to (negatives) or keeps (positives). ``labeller`` "oracle": the judging
        classifier's split (the task's forget and retain sets); "text": the same pool of latents split by the
        text model alone, an image being a negative when its zero-shot relevance to the concept's words is at
        least one half (so the target is read from words, and the classifier only judges)."""
        if labeller not in LABELLERS:
            raise UnlearningInputError(f"labeller must be one of {', '.join(LABELLERS)}; got {labeller!r}")
        if labeller == "oracle":
            return to_model_space(generate(self.original, self._data(which)[0]))
        images, shows_concept = self._split_by_text()
        chosen = images[shows_concept] if which == "forget" else images[~shows_concept]
        if len(chosen) == 0:
            raise UnlearningInputError(f"{self.text.name} finds no image of '{self.text.concept}' among the "
                                       f"original's samples: nothing to forget" if which == "forget" else
                                       f"{self.text.name} sees '{self.text.concept}' in every sample: nothing to keep")
        return to_model_space(chosen)

    def _split_by_text(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The original's images of the whole pool and which of them the text model calls the concept (relevance
        >= 0.5), computed once per task: negatives and positives are two sides of the same split."""
        if self.text is None:
            raise UnlearningInputError("negatives read from words need a text-image model beside the generator, and "
                                       "this one has none; flag them with the classifier (negatives=oracle)")
        if self._text_split is None:
            images = generate(self.original, torch.cat([self.x_forget, self.x_retain]))
            with torch.no_grad():
                features = torch.cat([self.text.model.encode_image(images[i:i + 500])
                                      for i in range(0, len(images), 500)])
            self._text_split = images, self.text.relevance(features, self.text.choices()) >= 0.5
        return self._text_split

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator, reference: nn.Module | None = None,
                     reduction: str = "mean", target: str = "random") -> torch.Tensor:
        z, y = batch
        wrong = wrong_labels(y, self.num_classes, generator, target)
        return F.cross_entropy(self.oracle_logits(model, z), wrong, reduction=reduction)

    # --- evaluation -----------------------------------------------------------------------------------------
    def evaluation_latents(self, n: int) -> torch.Tensor:
        """Fixed latents (independent of the run's seed): every model is judged on the same z."""
        return latents(n, 424_242, self.z_dim)

    def class_shares(self, model: nn.Module, n: int) -> tuple[dict[int, float], torch.Tensor, torch.Tensor]:
        probabilities = self.oracle_probabilities(model, self.evaluation_latents(n))
        labels = probabilities.argmax(1)
        shares = {c: float(100.0 * (labels == c).float().mean()) for c in range(self.num_classes)}
        return shares, labels, probabilities

    def forget_score(self, model: nn.Module) -> float:
        """Share of samples (percent) the oracle calls the forget class."""
        return self.class_shares(model, self.score_samples)[0][self.forget_class]

    def retain_score(self, model: nn.Module) -> float:
        """Share of samples (percent) confidently recognised as a retained digit."""
        _, labels, probabilities = self.class_shares(model, self.score_samples)
        clear = ((probabilities.max(1).values >= CONFIDENT) & (labels != self.forget_class)
                 & (labels < self.num_classes))  # an oracle's "no class" output is not a retained class
        return float(100.0 * clear.float().mean())

    def forget_target(self, model: nn.Module) -> float:
        """Retrain's share when known, else none at all."""
        return self.target_forget_score if self.target_forget_score is not None else 0.0

    def original_shares(self) -> dict[int, float]:
        if self._original_shares is None:
            self._original_shares = self.class_shares(self.original, self.eval_samples)[0]
        return self._original_shares

    def real_features(self) -> np.ndarray:
        if self._real_features is None:
            self._real_features = self.oracle.features(self._real_x01)
        return self._real_features

    def evaluation_settings(self) -> dict:
        return {"samples": self.eval_samples, "latents": "fixed (seed 424242)", "oracle": self.oracle.name}

    def evaluation_key(self) -> tuple:
        return (str(self.request), *sorted(self.evaluation_settings().items()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The class-diffusion family's keys with a GAN's meaning, so tables, gaps and tuning read both alike:
        ``forget_acc`` the share of samples drawn as the forget class, ``retain_acc`` the smallest retained
        class's share in percent of the original's (mode coverage: 100 = no class lost ground), ``fid`` the
        Frechet distance of the retained samples' classifier features to real retained digits; plus the share
        of confidently recognised samples and which retained class lost most."""
        shares, labels, probabilities = self.class_shares(model, self.eval_samples)
        original = self.original_shares()
        coverage = {c: 100.0 * shares[c] / original[c] for c in self.retained_classes if original[c] > 0}
        worst = min(coverage, key=coverage.get)
        images = generate(model, self.evaluation_latents(self.eval_samples))[labels != self.forget_class]
        return {
            "ua": 100.0 - shares[self.forget_class],
            "forget_acc": shares[self.forget_class],
            "retain_acc": coverage[worst],
            "fid": (frechet_distance(self.oracle.features(images), self.real_features()) if len(images) > 1
                    else float("inf")),
            "confident": float(100.0 * (probabilities.max(1).values >= CONFIDENT).float().mean()),
            "worst_retained_class": float(worst),
        }

    def settle(self, model: nn.Module) -> None:
        """Training steps move the generator's batch-norm statistics towards whatever latents the method fed
        it (often only negatives or positives); re-estimate them on fresh latents, as the shipped generator's
        were, so every sample is drawn with statistics of the whole latent distribution."""
        calibrate_batch_norm(model, self.z_dim, batches=20, batch_size=256,
                             rng=torch.Generator().manual_seed(self.seed))
        model.eval()

    # --- the same latents before and after ---------------------------------------------------------------
    def latents_by_class(self, per_class: int) -> dict[int, torch.Tensor]:
        """For each class, the first ``per_class`` evaluation latents whose image *the original* draws as that
        class: a grid row of the forget class shows what became of the latents that drew it."""
        if getattr(self, "_by_class", (0, None))[0] < per_class:
            pool = latents(20 * per_class * self.num_classes, 515_151, self.z_dim)
            labels = self.oracle_labels(self.original, pool)
            # a class the original never draws (none here) would fall back to the pool's first latents
            self._by_class = (per_class, {c: (pool[labels == c] if (labels == c).any() else pool)[:per_class]
                                          for c in range(self.num_classes)})
        return {c: z[:per_class] for c, z in self._by_class[1].items()}

    @torch.no_grad()
    def sample(self, model: nn.Module, labels: list[int], seeds: list[int], guidance=None, steps=None) -> torch.Tensor:
        """Images (model space) for grid cells (class row, column): the k-th latent of the row's class, k the
        column's rank among ``seeds`` (the grid's fixed column seeds); ``guidance`` and ``steps`` (diffusion
        samplers' knobs) do not apply."""
        columns = sorted(set(seeds))
        by_class = self.latents_by_class(len(columns))
        z = torch.stack([by_class[int(c)][columns.index(s) % len(by_class[int(c)])] for c, s in zip(labels, seeds)])
        return to_model_space(generate(model, z))

    def before_after_grid(self, outcome, path: Path, seeds: list[int] | None = None) -> Path:
        """The CLI's grid: rows = the class the original draws for the row's latents, columns = latents; the
        original, the unlearned generator and Retrain on the same latents."""
        from ..diffusion.grids import before_after_class_grid

        title = f"{outcome.report['model']}: forget {self.forget_name}; each row: latents the original draws as it"
        return before_after_class_grid(self, outcome, Path(path), title, seeds)

    # --- Retrain ---------------------------------------------------------------------------------------------
    def retrain_available(self) -> bool:
        return generator_shipped(self.retrain_dir)

    def retrain_key(self) -> tuple:
        return (str(self.request),)

    def retrain(self, progress=None, live: bool = False) -> RetrainReference:
        if not self.retrain_available():
            raise UnlearningInputError(f"no Retrain GAN is shipped for {self.forget_name}")
        generator, _ = load_gan(self.retrain_dir)
        if progress:
            progress(1.0, f"loaded the shipped Retrain reference {self.retrain_dir.name}")
        seconds = read_gan_record(self.retrain_dir).get("train_s")  # its training time, recorded beside it
        return RetrainReference(generator.requires_grad_(False).eval(), seconds, "shipped")
