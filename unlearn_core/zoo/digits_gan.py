"""digits-gan: the unconditional DCGAN on the digits this project trains and ships, its Retrain reference
(trained without class 3), and the GAN family's method defaults. Forgetting a class here follows
Adapt-then-Unlearn: negatives and positives are latents whose images the digits classifier labels (tasks/gan.py)."""
from __future__ import annotations

import functools
from pathlib import Path

from ..assets import ASSETS
from ..data import ForgetRequest, load_digits_split
from ..diffusion.evaluation import digits_classifier, features
from ..gan_training import train_digits_gan
from ..methods.registry import register_task_defaults
from ..models.gan import load_gan
from ..tasks.gan import GANTask, Oracle, generator_shipped
from .registry import CostProfile, ModelSpec, base_model, class_left_out, register_model

DIGITS_GAN_DIR = ASSETS / "digits-gan"
IMAGE_SIZE = 16


def retrain_dir(forget_class: int) -> Path:
    return ASSETS / f"digits-gan-retrain-class{int(forget_class)}"


@functools.lru_cache(maxsize=1)
def shipped_discriminator():
    """The shipped discriminator, read-only (Adapt-then-Unlearn trains copies of it)."""
    return load_gan(DIGITS_GAN_DIR)[1].requires_grad_(False).eval()


def _load_generator():
    return load_gan(DIGITS_GAN_DIR)[0]


def digits_oracle() -> Oracle:
    """digits-cnn judges the digits GAN's images (Adapt-then-Unlearn's MNIST experiments use a classifier too)."""
    return Oracle("digits-cnn", tuple(f"class {c}" for c in range(10)), lambda images: digits_classifier()(images),
                  features)


def digits_gan_task(request: ForgetRequest, seed: int) -> GANTask:
    split = load_digits_split(IMAGE_SIZE)
    return GANTask(base_model("digits-gan"), shipped_discriminator(), split.x_train, split.y_train, request, seed,
                   digits_oracle(), int(request.value), retrain_dir=retrain_dir(int(request.value)))


def retrain_for(request: ForgetRequest) -> str:
    """Shipped where a generator trained without the class is here; none is trained in a run."""
    return "shipped" if generator_shipped(retrain_dir(int(request.value))) else "none"


def train(out_dir: Path | None = None, seed: int = 0, progress=None, forget: str | None = None) -> dict:
    """Train the shipped GAN, or with ``forget="class:K"`` its Retrain reference without class K."""
    without = class_left_out(forget, "digits-gan")
    out_dir = Path(out_dir) if out_dir is not None else (retrain_dir(without) if without is not None else DIGITS_GAN_DIR)
    return train_digits_gan(out_dir, seed=seed, progress=progress, without_class=without)


register_model(ModelSpec(
    name="digits-gan", family="gan",
    description="Unconditional DCGAN (16x16 digits) trained by this project: forget a class it draws",
    forget_kinds=("class",), num_classes=10,
    load=_load_generator, make_task=digits_gan_task, train=train,
    available=lambda: (DIGITS_GAN_DIR / "generator" / "model.safetensors").exists(),
    default_forget="class:3", bench_methods=("atu", "atu_salun", "ga", "ft", "salun"),
    # the run budget's prices (benchmarks/digits-gan.json, one thread): Adapt-then-Unlearn's defaults (45,000
    # sample passes) take 55 s, 1.2 ms a pass; the oracle-guided baselines 2-3.5 ms a pass
    cost=CostProfile(pass_s=1.8e-3, score_s=0.3, evaluation_s=3.0), retrain_for=retrain_for,
))


def _register_method_defaults() -> None:
    """Starting points for GANs: Adam at DCGAN-like rates; the oracle's losses are per-sample cross-entropies."""
    kind = "gan"
    adam = dict(optimizer="adam", weight_decay=0.0, batch_size=64)
    register_task_defaults("ga", kind, lr=1e-4, epochs=2.0, retain_weight=1.0, clip=1.0, **adam)
    register_task_defaults("ft", kind, lr=1e-4, epochs=2.0, **adam)
    register_task_defaults("rl", kind, lr=1e-4, epochs=2.0, forget_share=0.5, **adam)
    register_task_defaults("salun", kind, lr=1e-4, epochs=2.0, forget_share=0.5, ratio=0.5, **adam)
    register_task_defaults("salun_soft", kind, lr=1e-4, epochs=2.0, forget_share=0.5, **adam)


_register_method_defaults()
