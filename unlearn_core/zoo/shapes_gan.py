"""shapes-gan: the unconditional GAN on the procedural coloured shapes that this project trains and ships, its
Retrain reference (trained without triangles) and the text-image model beside it (shapes-clip), so that a
concept can be forgotten from its words alone (Text-to-Unlearn) or through the shapes classifier as oracle
(Adapt-then-Unlearn and the gradient baselines)."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .. import shapes as S
from ..assets import ASSETS
from ..data import ForgetRequest
from ..errors import UnlearningInputError, shown
from ..gan_training import SHAPES_CLASSIFIER_DIR, train_shapes_gan
from ..models.gan import load_gan
from ..models.shapes_clip import load_shapes_clip, train_shapes_clip
from ..models.shapes_t2i import ConceptClassifier
from ..tasks.gan import GANTask, Oracle, TextGuidance, generator_shipped
from ..tasks.text_diffusion import resolve_concept
from .registry import CostProfile, ModelSpec, base_model, register_model

SHAPES_GAN_DIR = ASSETS / "shapes-gan"
SHAPES_CLIP_DIR = ASSETS / "shapes-clip"


def retrain_dir(concept_name: str) -> Path:
    return ASSETS / f"shapes-gan-retrain-{concept_name}"


@functools.lru_cache(maxsize=1)
def shipped_discriminator():
    """The shipped discriminator, read-only (Adapt-then-Unlearn trains copies of it)."""
    return load_gan(SHAPES_GAN_DIR)[1].requires_grad_(False).eval()


@functools.lru_cache(maxsize=1)
def concept_classifier() -> ConceptClassifier:
    return ConceptClassifier.from_pretrained(SHAPES_CLASSIFIER_DIR).eval()


@functools.lru_cache(maxsize=1)
def shapes_clip():
    """The shipped text-image model, read-only (it reads the concept's words; it is never trained by a run)."""
    return load_shapes_clip(SHAPES_CLIP_DIR).requires_grad_(False).eval()


def shapes_oracle(kind: str) -> Oracle:
    """The shapes concept classifier's head for ``kind`` (shape, colour or background) judges the images; its
    shape head's extra "no shape" output counts as no class."""
    classifier = concept_classifier()

    def features(images01: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([classifier.features(images01[i:i + 512]) for i in range(0, len(images01), 512)]
                             ).double().numpy()

    return Oracle(f"shapes classifier ({kind} head)", tuple(S.NAMES_BY_KIND[kind]),
                  lambda images: classifier(images)[kind], features)


# How a prompt names one concept of each kind (every word is in shapes-clip's vocabulary).
PROMPT_TEMPLATES = {"shape": "a {}", "colour": "a {} shape", "background": "a shape on a {} background"}


def alternative_prompts(concept: S.Concept) -> tuple[str, ...]:
    """Prompts for the other concepts of the same kind: what Text-to-Unlearn moves the concept's images towards
    unless the user names something else."""
    template = PROMPT_TEMPLATES[concept.kind]
    return tuple(template.format(name) for i, name in enumerate(S.NAMES_BY_KIND[concept.kind]) if i != concept.index)


def _load_generator():
    return load_gan(SHAPES_GAN_DIR)[0]


def shapes_gan_task(request: ForgetRequest, seed: int) -> GANTask:
    text_model = shapes_clip()
    words = resolve_concept(str(request.value), text_model.tokenizer, "shapes-gan")
    concept = S.concept_table()[words]
    data = S.make_dataset()
    labels = {"shape": data.shape, "colour": data.colour, "background": data.background}[concept.kind]
    return GANTask(base_model("shapes-gan"), shipped_discriminator(), data.images, labels, request, seed,
                   shapes_oracle(concept.kind), concept.index, retrain_dir=retrain_dir(concept.name),
                   text=TextGuidance(text_model, words, "shapes-clip", alternative_prompts(concept)))


def retrain_for(request: ForgetRequest) -> str:
    """Shipped where a generator trained without the named concept is here; none is trained in a run."""
    words = resolve_concept(str(request.value), shapes_clip().tokenizer, "shapes-gan")
    return "shipped" if generator_shipped(retrain_dir(S.concept_table()[words].name)) else "none"


def train(out_dir: Path | None = None, seed: int = 0, progress=None, forget: str | None = None) -> dict:
    """Train the shipped GAN and the text-image model beside it (``shapes-clip``, or ``OUT/text-model`` with
    ``out_dir``), or with ``forget="concept:SHAPE"`` the GAN's Retrain reference without that shape."""
    if forget is not None:
        request = ForgetRequest.parse(forget, None)
        if request.kind != "concept":
            raise UnlearningInputError(f"shapes-gan Retrain references leave out a shape (concept:SHAPE); got "
                                       f"{shown(forget)}")
        without = str(request.value).strip().lower()
        return train_shapes_gan(Path(out_dir) if out_dir is not None else retrain_dir(without), seed=seed,
                                progress=progress, without_shape=without)
    gan = train_shapes_gan(Path(out_dir) if out_dir is not None else SHAPES_GAN_DIR, seed=seed, progress=progress)
    text = train_shapes_clip(Path(out_dir) / "text-model" if out_dir is not None else SHAPES_CLIP_DIR, seed=seed,
                             progress=progress)
    return {"gan": gan, "text_model": text}


register_model(ModelSpec(
    name="shapes-gan", family="gan",
    description="Unconditional DCGAN (16x16 coloured shapes) trained by this project, with a small CLIP-like "
                "text-image model: forget a shape, colour or background by its words",
    forget_kinds=("concept",), num_classes=None,
    load=_load_generator, make_task=shapes_gan_task, train=train,
    available=lambda: (SHAPES_GAN_DIR / "generator" / "model.safetensors").exists()
    and (SHAPES_CLIP_DIR / "config.json").exists(),
    default_forget="concept:triangle", bench_methods=("text_unlearn", "atu", "atu_salun", "ga", "ft"),
    cost=CostProfile(pass_s=6e-4, score_s=0.4, evaluation_s=4.0), provides=("text_model",), retrain_for=retrain_for,
))
