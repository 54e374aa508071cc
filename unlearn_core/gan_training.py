"""Training and quality measurement of the unconditional GANs (``models/gan.py``) and the entries that write
their shipped folders: ``digits-gan`` (or its Retrain reference without one class) and ``shapes-gan`` (16x16 RGB
procedural shapes, or its Retrain reference without one shape).

Loss: the non-saturating GAN loss of Goodfellow et al. (2014), with one-sided label smoothing of the real
targets (Salimans et al., "Improved Techniques for Training GANs", 2016); Adam with DCGAN's betas.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from . import shapes
from .assets import ASSETS
from .data import load_digits_split
from .diffusion.training import CHECKPOINT_NAME, ema_update, load_training_checkpoint, save_training_checkpoint
from .errors import UnlearningInputError, check_finite, shown
from .execution import place, run_device
from .models.classifier import load_classifier
from .models.gan import (Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, generate, latents,
                         save_gan, to_model_space)
from .models.pretrained import RecipeDict
from .models.shapes_t2i import ConceptClassifier

ProgressFn = Callable[[float, str], None]
NUM_CLASSES = 10
# A shipped GAN's quality is pooled over 10,000 samples, 1000 from each of ten latent seeds: one seed's 1000 samples
# put digits-gan's confident share anywhere in 88.6-90.8% (90.0% pooled), so a single seed's number can be
# picked to land on either side of a 90% target; the worst seed is reported beside the pooled share.
QUALITY_SEEDS = tuple(range(10))
QUALITY_SAMPLES = 10_000
CONFIDENCE = 0.9  # a sample counts as recognisable when the classifier gives one class >= this
CLASSIFY_CHUNK = 500  # generated images judged per classifier call (bounds the activations' memory)
SHAPE_LABELS = (*shapes.SHAPES, "none")  # the concept classifier's shape head: the five shapes + no shape
SHAPES_CLASSIFIER_DIR = ASSETS / "shapes-t2i" / "classifier"


@dataclasses.dataclass
class GANRecipe(RecipeDict):
    """How a shipped GAN is trained (these defaults: digits-gan; :data:`SHAPES_GAN_RECIPE`: shapes-gan); its
    Retrain references use the same recipe and seed on D_r."""

    steps: int = 8000
    batch_size: int = 64
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    lr_decay_start: float = 0.5   # share of the steps after which both learning rates fall linearly to 0
    beta1: float = 0.5            # DCGAN's Adam momentum; 0.9 makes the two-player game oscillate
    beta2: float = 0.999
    real_label: float = 0.9       # one-sided label smoothing: the discriminator's target for real images
    ema_decay: float = 0.999      # the shipped generator is this EMA of the trained one
    bn_calibration_batches: int = 20  # batches of fresh z that set the EMA generator's batch-norm statistics
    z_dim: int = 64
    # (128, 64, 32) gave 87.7% confident digits (1000 samples, seed 0) at 8000 steps; batch 128 or 256, or an EMA
    # of 0.9995, 88.8-89.7% (GPU grid, session 9); (256, 128, 64) 90.7% on that sample, 90.0% on the card's
    # 10,000 (seeds 0-9; worst seed 88.6%).
    generator_channels: tuple = (256, 128, 64)
    discriminator_channels: tuple = (32, 64, 128)
    spectral_norm: bool = True
    # Differentiable augmentation (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
    # 2020) of every image the discriminator sees, real and fake: "translation" shifts each by up to
    # ``translation`` pixels. With 1,437 training digits an unaugmented discriminator memorises them.
    # "brightness" adds one random offset in [-brightness, brightness] (model space) to all pixels of each
    # image; "brightness+translation" does both.
    augment: str = "none"
    translation: int = 2
    brightness: float = 1.0  # DiffAugment's +-0.5 in [0, 1] pixels
    checkpoint_every: int = 500
    progress_every: int = 100


AUGMENTATIONS = ("none", "translation", "brightness", "brightness+translation")

# shapes-gan's recipe. Short trials (2-3k steps, one thread): without augmentation the generator drew only
# dark backgrounds (light 0.0% all along); DiffAugment's brightness shift gave both (~50/50). A wider
# discriminator (64, 128, 256) or no spectral norm were no better at 2k steps, the former at twice the cost.
SHAPES_GAN_RECIPE = GANRecipe(steps=10000, augment="brightness", generator_channels=(128, 64, 32))


def translate(images: torch.Tensor, max_shift: int, rng: torch.Generator, fill: float | None = -1.0) -> torch.Tensor:
    """Each image shifted by its own integer offset in [-max_shift, max_shift] on both axes, the uncovered
    border filled with ``fill`` (the digits' background, -1 in model space) or, with ``fill=None``, with the
    nearest edge pixels; differentiable in the images."""
    if max_shift <= 0:
        return images
    n, _, height, width = images.shape
    padded = (F.pad(images, [max_shift] * 4, value=fill) if fill is not None
              else F.pad(images, [max_shift] * 4, mode="replicate"))
    shift_y = torch.randint(0, 2 * max_shift + 1, (n, 1, 1), generator=rng)
    shift_x = torch.randint(0, 2 * max_shift + 1, (n, 1, 1), generator=rng)
    rows = (torch.arange(height).view(1, height, 1) + shift_y).expand(n, height, width)
    cols = (torch.arange(width).view(1, 1, width) + shift_x).expand(n, height, width)
    batch = torch.arange(n).view(n, 1, 1).expand(n, height, width)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def shift_brightness(images: torch.Tensor, max_offset: float, rng: torch.Generator) -> torch.Tensor:
    """Each image plus its own uniform offset in [-max_offset, max_offset], not clamped (DiffAugment's
    brightness). Why: when the generator has dropped a mode far from its samples (a whole background shade),
    the augmented real and fake images overlap across the gap, so the discriminator's gradient reaches it."""
    offsets = (torch.rand(len(images), 1, 1, 1, generator=rng) * 2 - 1) * max_offset
    return images + offsets


def augment_for_discriminator(images: torch.Tensor, recipe: GANRecipe, rng: torch.Generator) -> torch.Tensor:
    """The recipe's differentiable augmentation of images the discriminator sees (real and fake alike)."""
    kinds = recipe.augment.split("+")
    if "brightness" in kinds:
        images = shift_brightness(images, recipe.brightness, rng)
    if "translation" in kinds:
        images = translate(images, recipe.translation, rng)
    return images


def linear_decay(step: int, total: int, decay_start: float) -> float:
    """1 until ``decay_start`` x ``total`` steps, then linearly down to 0 at ``total`` (lets the two players
    settle instead of circling an equilibrium at a fixed step size)."""
    begin = decay_start * total
    return 1.0 if step < begin else max(0.0, (total - step) / max(total - begin, 1))


def build_gan(recipe: GANRecipe, image_size: int = 16, image_channels: int = 1) -> tuple[Generator, Discriminator]:
    """A freshly initialised generator and discriminator of the recipe's sizes."""
    generator = Generator(GeneratorConfig(z_dim=recipe.z_dim, image_size=image_size, out_channels=image_channels,
                                          channels=tuple(recipe.generator_channels)))
    discriminator = Discriminator(DiscriminatorConfig(image_size=image_size, in_channels=image_channels,
                                                      channels=tuple(recipe.discriminator_channels),
                                                      spectral_norm=recipe.spectral_norm))
    return place(generator, run_device()), place(discriminator, run_device())


def discriminator_loss(discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor,
                       real_label: float = 1.0) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), with the real target smoothed to ``real_label``."""
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    return (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(discriminator: Discriminator, fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)) (strong gradients while D rejects the fakes)."""
    logits = discriminator(fake)
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


@torch.no_grad()
def calibrate_batch_norm(generator: Generator, z_dim: int, batches: int, batch_size: int,
                         rng: torch.Generator) -> None:
    """Set the batch-norm running statistics to the average over ``batches`` batches of fresh latents: the
    EMA generator's weights never ran in train mode, so the statistics copied from the trained one do not fit
    them (momentum None gives a cumulative average)."""
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved_momentum = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    generator.train()
    for _ in range(batches):
        generator(torch.randn(batch_size, z_dim, generator=rng))
    for m, momentum in zip(norms, saved_momentum):
        m.momentum = momentum
    generator.eval()


def train_gan(images: torch.Tensor, recipe: GANRecipe | None = None, seed: int = 0,
              progress: ProgressFn | None = None, checkpoint_dir: str | Path | None = None,
              label: str = "GAN") -> tuple[Generator, Discriminator]:
    """Train the GAN on ``images`` in [0, 1], shape (N, C, S, S); return the EMA generator (batch norm
    recalibrated) and the discriminator, both in eval mode.

    Each step: one discriminator update on a real batch and a fake batch, then one generator update on the
    same fakes. With ``checkpoint_dir`` the state is written every ``checkpoint_every`` steps and a killed run
    resumes from it when the recipe, seed and data size match (giving the same result as an uninterrupted run).
    """
    recipe = recipe or GANRecipe()
    if recipe.augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}; got {recipe.augment!r}")
    torch.manual_seed(int(seed))
    generator, discriminator = build_gan(recipe, images.shape[-1], images.shape[1])
    ema = copy.deepcopy(generator).requires_grad_(False)
    rng = torch.Generator().manual_seed(int(seed))  # data order and latents
    betas = (recipe.beta1, recipe.beta2)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=recipe.lr_generator, betas=betas)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=recipe.lr_discriminator, betas=betas)
    data = to_model_space(images)
    identity = {"recipe": recipe.to_dict(), "seed": int(seed), "n": len(images)}
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    start = 0
    if path is not None and path.exists():
        state = load_training_checkpoint(path)
        if state.get("identity") == identity:
            for module, key in ((generator, "generator"), (discriminator, "discriminator"), (ema, "ema"),
                                (optimizer_g, "optimizer_g"), (optimizer_d, "optimizer_d")):
                module.load_state_dict(state[key])
            rng.set_state(state["rng"])
            torch.set_rng_state(state["torch_rng"])
            start = state["step"]
            if progress:
                progress(start / recipe.steps, f"{label}: resumed from {path} at step {start}")
    generator.train()
    discriminator.train()
    began, loss_sums = time.perf_counter(), [0.0, 0.0]
    for step in range(start, recipe.steps):
        decay = linear_decay(step, recipe.steps, recipe.lr_decay_start)
        for optimizer, lr in ((optimizer_g, recipe.lr_generator), (optimizer_d, recipe.lr_discriminator)):
            for group in optimizer.param_groups:
                group["lr"] = lr * decay
        real = data[torch.randint(0, len(data), (recipe.batch_size,), generator=rng)]
        fake = generator(torch.randn(recipe.batch_size, recipe.z_dim, generator=rng))
        if recipe.augment != "none":
            real, fake = (augment_for_discriminator(batch, recipe, rng) for batch in (real, fake))

        loss_d = discriminator_loss(discriminator, real, fake.detach(), recipe.real_label)
        check_finite(loss_d, f"{label} discriminator step {step}")
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()

        loss_g = generator_loss(discriminator, fake)
        check_finite(loss_g, f"{label} generator step {step}")
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        optimizer_g.step()
        # EMA with a warm-up so the early average is not dominated by the random initialisation.
        ema_update(ema, generator, min(recipe.ema_decay, (1 + step) / (10 + step)))

        loss_sums[0] += float(loss_d.detach())
        loss_sums[1] += float(loss_g.detach())
        done = step + 1
        if progress and (done % recipe.progress_every == 0 or done == recipe.steps):
            count = done % recipe.progress_every or recipe.progress_every
            rate = (time.perf_counter() - began) / max(done - start, 1)
            progress(done / recipe.steps, f"{label} step {done}/{recipe.steps} loss D {loss_sums[0] / count:.3f} "
                     f"G {loss_sums[1] / count:.3f} ({rate * 1000:.0f} ms/step, "
                     f"~{rate * (recipe.steps - done) / 60:.1f} min left)")
            loss_sums = [0.0, 0.0]
        if path is not None and done % recipe.checkpoint_every == 0 and done < recipe.steps:
            save_training_checkpoint(path, {
                "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                "ema": ema.state_dict(), "optimizer_g": optimizer_g.state_dict(),
                "optimizer_d": optimizer_d.state_dict(), "rng": rng.get_state(),
                "torch_rng": torch.get_rng_state(), "step": done, "identity": identity})
    calibrate_batch_norm(ema, recipe.z_dim, recipe.bn_calibration_batches, 256, rng)
    return ema.eval(), discriminator.eval()


@torch.no_grad()
def classify_samples(generator: Generator, classifier: torch.nn.Module, n: int, seed: int,
                     chunk: int = CLASSIFY_CHUNK) -> torch.Tensor | dict[str, torch.Tensor]:
    """The classifier's logits for ``n`` generated samples (latents of ``seed``), judged ``chunk`` images at a
    time in eval mode: one tensor, or a dict of tensors per head for a multi-head classifier."""
    images = generate(generator, latents(n, seed, generator.config.z_dim))
    classifier.eval()
    chunks = [classifier(images[i:i + chunk]) for i in range(0, len(images), chunk)]
    if isinstance(chunks[0], dict):
        return {head: torch.cat([c[head] for c in chunks]) for head in chunks[0]}
    return torch.cat(chunks)


def label_shares(predicted: torch.Tensor, labels) -> dict:
    """The share of ``predicted`` (class indices) that falls on each label, keyed by label (0 each when empty)."""
    counts = torch.bincount(predicted, minlength=len(labels))
    return {label: int(count) / max(len(predicted), 1) for label, count in zip(labels, counts)}


def classify_by_seed(generator: Generator, classifier: torch.nn.Module, n: int,
                     seeds) -> tuple[list[int], list]:
    """``n`` samples split evenly over the latent ``seeds`` and judged by ``classifier``: the seeds as ints and
    one :func:`classify_samples` result per seed."""
    seeds = [int(seed) for seed in seeds]
    if not seeds or n <= 0 or n % len(seeds):
        raise ValueError(f"n must be a positive multiple of the number of latent seeds ({len(seeds)}); got {n}")
    return seeds, [classify_samples(generator, classifier, n // len(seeds), seed) for seed in seeds]


def seed_spread(seeds: list[int], confident: list[torch.Tensor]) -> dict:
    """The pooled confident share of per-seed boolean masks ``confident``, each seed's share and the worst
    seed (lowest share; the first of equals)."""
    shares = [int(mask.sum()) / len(mask) for mask in confident]
    worst = min(range(len(seeds)), key=shares.__getitem__)
    total = sum(len(mask) for mask in confident)
    return {"n": total, "seeds": seeds, "per_seed": total // len(seeds),
            "confident_share": sum(int(mask.sum()) for mask in confident) / total,
            "seed_confident_shares": shares, "worst_seed": seeds[worst], "worst_seed_confident_share": shares[worst]}


def gan_quality(generator: Generator, classifier: torch.nn.Module, n: int = QUALITY_SAMPLES,
                seeds=QUALITY_SEEDS, confidence: float = CONFIDENCE, num_classes: int = NUM_CLASSES) -> dict:
    """How recognisable and how varied ``n`` samples (split evenly over the latent ``seeds``) are, judged by
    ``classifier`` (digits-cnn: [0, 1] pixels at 16x16): ``confident_share`` is the pooled share of samples
    whose top class has probability >= ``confidence`` (each seed's in ``seed_confident_shares``, the lowest as
    ``worst_seed`` / ``worst_seed_confident_share``); ``class_shares`` the pooled share of all samples the
    classifier assigns to each class (argmax, confident or not), so a mode-collapsed or class-forgetting
    generator shows in them."""
    seeds, logits = classify_by_seed(generator, classifier, n, seeds)
    judged = [chunk.softmax(1).max(1) for chunk in logits]
    top = torch.cat([chunk_top for chunk_top, _ in judged])
    class_shares = label_shares(torch.cat([predicted for _, predicted in judged]), range(num_classes))
    return {**seed_spread(seeds, [chunk_top >= confidence for chunk_top, _ in judged]), "confidence": confidence,
            "mean_confidence": float(top.mean()), "class_shares": class_shares,
            "min_class_share": min(class_shares.values()), "max_class_share": max(class_shares.values())}


def shapes_gan_quality(generator: Generator, classifier: ConceptClassifier, n: int = QUALITY_SAMPLES,
                       seeds=QUALITY_SEEDS, confidence: float = CONFIDENCE) -> dict:
    """What ``n`` samples (split evenly over the latent ``seeds``) of a shapes GAN show, judged by the
    shapes-t2i concept classifier (three heads on [0, 1] RGB pixels at 16x16).

    ``confident_share``: pooled share of samples whose shape head picks one of the five shapes (not "none")
    with probability >= ``confidence`` (per seed and worst seed as in :func:`gan_quality`). ``shape_shares``:
    share of all samples per predicted shape, "none" included (argmax, confident or not), so mode collapse or
    a forgotten shape shows; ``min_shape_share`` / ``max_shape_share`` range over the five shapes only.
    ``colour_shares`` are over the samples that show a shape (the colour head was trained only on those);
    ``background_shares`` over all samples."""
    seeds, logits = classify_by_seed(generator, classifier, n, seeds)
    confident, tops, predicted, colours, backgrounds = [], [], [], [], []
    for heads in logits:
        top, predicted_shape = heads["shape"].softmax(1).max(1)
        shows_shape = predicted_shape != shapes.NONE_SHAPE
        confident.append((top >= confidence) & shows_shape)
        tops.append(top)
        predicted.append(predicted_shape)
        colours.append(heads["colour"].argmax(1)[shows_shape])
        backgrounds.append(heads["background"].argmax(1))
    shape_shares = label_shares(torch.cat(predicted), SHAPE_LABELS)
    drawn_shares = [shape_shares[name] for name in shapes.SHAPES]
    return {**seed_spread(seeds, confident), "confidence": confidence,
            "mean_confidence": float(torch.cat(tops).mean()),
            "shape_shares": shape_shares, "none_share": shape_shares["none"],
            "min_shape_share": min(drawn_shares), "max_shape_share": max(drawn_shares),
            "colour_shares": label_shares(torch.cat(colours), shapes.COLOURS),
            "background_shares": label_shares(torch.cat(backgrounds), shapes.BACKGROUNDS)}


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def _sampled(quality: dict) -> str:
    """Where a card's quality numbers come from, e.g. "10,000 samples (1000 from each of latent seeds 0-9)"."""
    seeds = quality["seeds"]
    named = (f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1))
             else ", ".join(map(str, seeds)))
    return f"{quality['n']:,} samples ({quality['per_seed']} from each of latent seeds {named})"


def _worst_seed(quality: dict) -> str:
    return (f"the worst seed, {quality['worst_seed']}, {_percent(quality['worst_seed_confident_share'])}; "
            f"mean top probability {quality['mean_confidence']:.3f}")


@dataclasses.dataclass
class CardText:
    """The parts of a GAN's model card that depend on its data and its judge; :func:`gan_card` writes the
    architecture, recipe and sampling parts that all the project's GANs share."""

    data_tag: str   # the card's tag for the data set
    subject: str    # what the GAN draws ("An unconditional DCGAN-style GAN for ...")
    data: str       # the Data bullet, up to the augmentation sentence
    call: str       # the training entry as called
    quality: str    # the Quality bullet
    left_out: str   # what a Retrain reference leaves out ("class", "shape"), as recipe.json names it
    retrain: str = ""  # the Retrain-reference sentence; empty for the model itself


def _augmentation_sentence(recipe: GANRecipe) -> str:
    """The card's sentence on what the discriminator's inputs go through (DiffAugment), or "No augmentation."."""
    kinds = recipe.augment.split("+")
    changes = []
    if "brightness" in kinds:
        changes.append(f"brightened or darkened by a random offset of up to {recipe.brightness:g} in [-1, 1] units")
    if "translation" in kinds:
        changes.append(f"shifted by up to {recipe.translation} pixels (the uncovered border filled with -1)")
    if not changes:
        return "No augmentation."
    return (f"The discriminator sees every image, real and generated, {' and '.join(changes)} (differentiable "
            f"augmentation, DiffAugment, Zhao et al. 2020).")


CPU_TRAINING = "a 2-core CPU (one thread)"  # where the records without "trained_on" were trained


def trained_on(device: torch.device) -> str:
    """Where a training run computes, as its card says it: "one NVIDIA H200 GPU" or the CPU and its threads."""
    if device.type == "cuda":
        return f"one {torch.cuda.get_device_name(device)} GPU"
    threads = torch.get_num_threads()
    return f"a {os.cpu_count()}-core CPU ({'one thread' if threads == 1 else f'{threads} threads'})"


def gan_card(name: str, generator: Generator, discriminator: Discriminator, recipe: GANRecipe, seed: int,
             train_s: float, text: CardText, where: str = CPU_TRAINING) -> str:
    """The model card of a trained GAN folder: the shared architecture and recipe, plus ``text``; ``where``
    says what the training ran on (``recipe.json``'s "trained_on")."""
    params = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    return f"""---
license: mit
tags: [machine-unlearning, gan, dcgan, unconditional, {text.data_tag}, safetensors]
---
# {name}

An unconditional DCGAN-style GAN for {text.subject}: a generator
({params(generator):,} parameters; z of dimension {recipe.z_dim} ~ N(0, I) -> linear to 4x4 -> two stride-2
transposed convolutions -> 3x3 convolution -> tanh, batch norm + ReLU in between, channels
{list(recipe.generator_channels)}) and a discriminator ({params(discriminator):,} parameters; three stride-2 4x4
convolutions with leaky ReLU 0.2, channels {list(recipe.discriminator_channels)}, then a linear logit;
spectral norm {'on' if recipe.spectral_norm else 'off'}). The generator outputs [-1, 1];
`unlearn_core.models.gan.generate` maps it to [0, 1] pixels.{text.retrain}

- **Data:** {text.data} {_augmentation_sentence(recipe)}
- **Recipe:** `unlearn_core.gan_training.{text.call}` (seed {seed}): non-saturating GAN loss, one-sided label
  smoothing (real target {recipe.real_label}), Adam (G lr {recipe.lr_generator:g}, D lr
  {recipe.lr_discriminator:g}, betas ({recipe.beta1}, {recipe.beta2}); both constant for the first
  {recipe.lr_decay_start:.0%} of the steps, then falling linearly to 0), {recipe.steps} steps at batch
  {recipe.batch_size}, one D and one G update per step. The shipped generator is the EMA ({recipe.ema_decay}) of
  the trained one, its batch-norm statistics recomputed over {recipe.bn_calibration_batches} batches of 256
  latents; the shipped discriminator is the trained one. Training took {train_s / 60:.1f} min on
  {where}; a killed run resumes from `checkpoint.pt` in the output folder.
- **Sampling:** `generate(generator, latents(n, seed, {recipe.z_dim}))`, eval mode (batch norm from running
  statistics), so each image depends only on its own latent and a seed gives the same images.
- **Quality:** {text.quality}
- **Files:** `generator/` and `discriminator/` (`config.json` + `model.safetensors` each), `recipe.json` (the
  recipe, seed, left-out {text.left_out}, measured quality and training time).
"""


def _entry_call(entry: str, argument: str, value) -> str:
    """How a card names the call that trained it, e.g. ``train_digits_gan(out_dir, without_class=3)``."""
    return f"{entry}(out_dir" + (f", {argument}={value!r}" if value is not None else "") + ")"


def digits_card_text(n_train: int, classes: list[int], without_class: int | None, quality: dict) -> CardText:
    """The digits GAN's card parts (the digits-cnn judge, the digits split)."""
    shares = ", ".join(f"{c}: {_percent(s)}" for c, s in quality["class_shares"].items())
    retrain = (f" **Retrain reference:** trained without class {without_class} (exact unlearning of "
               f"`class:{without_class}`); the classifier assigns "
               f"**{_percent(quality['class_shares'][without_class])}** of its samples to class {without_class}."
               if without_class is not None else "")
    return CardText(
        data_tag="digits", subject="scikit-learn's handwritten digits at 16x16", retrain=retrain, left_out="class",
        call=_entry_call("train_digits_gan", "without_class", without_class),
        data=f"""`sklearn.datasets.load_digits`, the project's stratified 80/20 split (`random_state=0`), training
  part only (what `digits-cnn` trains on), classes {classes} ({n_train} images), upsampled bilinearly from
  8x8 to 16x16, pixels scaled to [-1, 1].""",
        quality=f"""on {_sampled(quality)} the shipped `digits-cnn` classifier gives
  **{_percent(quality['confident_share'])}** of them a class with probability >= {quality['confidence']:g}
  ({_worst_seed(quality)}). Share of samples per predicted class: {shares}.""")


def shapes_card_text(n_train: int, without_shape: str | None, quality: dict) -> CardText:
    """The shapes GAN's card parts (the shapes-t2i concept classifier as judge, the procedural shapes)."""
    listed = lambda shares: ", ".join(f"{k}: {_percent(v)}" for k, v in shares.items())  # noqa: E731
    kept = [name for name in shapes.SHAPES if name != without_shape]
    retrain = (f" **Retrain reference:** trained without the {without_shape} images (exact unlearning of "
               f"`concept:{without_shape}`); the concept classifier calls "
               f"**{_percent(quality['shape_shares'][without_shape])}** of its samples a {without_shape}."
               if without_shape is not None else "")
    training_set = (f"the {without_shape} images left out, so shapes {', '.join(kept)} ({n_train:,} images)"
                    if without_shape is not None else f"all {n_train:,} images")
    return CardText(
        data_tag="shapes", subject="procedural coloured shapes, 16x16 RGB", retrain=retrain, left_out="shape",
        call=_entry_call("train_shapes_gan", "without_shape", without_shape),
        data=f"""`unlearn_core.shapes.make_dataset()` (seed {shapes.DATA_SEED}): {shapes.DATASET_SIZE:,} procedural
  images, a balanced mix of {len(shapes.SHAPES)} shapes ({', '.join(shapes.SHAPES)}) x {len(shapes.COLOURS)}
  colours ({', '.join(shapes.COLOURS)}) x {len(shapes.BACKGROUNDS)} backgrounds ({', '.join(shapes.BACKGROUNDS)})
  with random size, position and colour jitter (what `shapes-t2i` trains on; captions unused); {training_set};
  pixels scaled to [-1, 1].""",
        quality=f"""on {_sampled(quality)} the shipped `shapes-t2i` concept
  classifier names one of the {len(shapes.SHAPES)} shapes with probability >= {quality['confidence']:g} for
  **{_percent(quality['confident_share'])}** of them ({_worst_seed(quality)}).
  Share of samples per predicted shape: {listed(quality['shape_shares'])}. Colours (of the samples showing a
  shape): {listed(quality['colour_shares'])}. Backgrounds: {listed(quality['background_shares'])}.""")


def _train_and_ship(out_dir: str | Path, images: torch.Tensor, recipe: GANRecipe, seed: int,
                    progress: ProgressFn | None, label: str, judge: str, measure: Callable[[Generator], dict],
                    card_text: Callable[[dict], CardText], left_out: dict) -> dict:
    """Train a GAN on ``images``, measure its generator with ``measure`` and write the shipped folder:
    weights, ``recipe.json`` (recipe, seed, ``left_out``, training size, quality, time, threads, machine) and
    the card. A killed run resumes from the checkpoint in ``out_dir``, which is removed once the folder is
    written."""
    out_dir = Path(out_dir)
    start = time.perf_counter()
    generator, discriminator = train_gan(images, recipe, seed, progress=progress, checkpoint_dir=out_dir,
                                         label=label)
    train_s = time.perf_counter() - start
    if progress:
        progress(1.0, f"measuring sample quality with {judge}")
    quality = measure(generator)
    where = trained_on(run_device())
    card = gan_card(out_dir.name, generator, discriminator, recipe, seed, train_s, card_text(quality), where)
    record = {"recipe": recipe.to_dict(), "seed": int(seed), **left_out, "n_train": len(images),
              "quality": quality, "train_s": train_s, "trained_on": where, "threads": torch.get_num_threads(),
              "machine": platform.machine()}
    save_gan(generator, discriminator, out_dir, record, card)
    (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return {"out_dir": str(out_dir), "quality": quality, "train_s": train_s}


def train_digits_gan(out_dir: str | Path, seed: int = 0, progress: ProgressFn | None = None,
                     without_class: int | None = None, recipe: GANRecipe | None = None,
                     classifier: torch.nn.Module | None = None) -> dict:
    """Train the digits GAN on digits-cnn's training part (without class ``without_class`` for a Retrain
    reference), measure it with ``classifier`` (default: the shipped digits-cnn) and write the folder with
    its model card. A killed run resumes from the checkpoint in ``out_dir``."""
    recipe = recipe or GANRecipe()
    split = load_digits_split(16)
    x, y = split.x_train, split.y_train
    if without_class is not None:
        if not 0 <= int(without_class) < NUM_CLASSES:
            raise ValueError(f"without_class must be in 0..{NUM_CLASSES - 1}; got {without_class}")
        keep = y != int(without_class)
        x, y = x[keep], y[keep]
    classifier = classifier or load_classifier(ASSETS / "digits-cnn")
    classes = sorted(int(c) for c in y.unique())
    return _train_and_ship(
        out_dir, x, recipe, seed, progress, label="digits GAN", judge="the digits classifier",
        measure=lambda generator: gan_quality(generator, classifier),
        card_text=lambda quality: digits_card_text(len(x), classes, without_class, quality),
        left_out={"without_class": without_class})


def train_shapes_gan(out_dir: str | Path, seed: int = 0, progress: ProgressFn | None = None,
                     without_shape: str | None = None, recipe: GANRecipe | None = None,
                     classifier: ConceptClassifier | None = None) -> dict:
    """Train the shapes GAN on the procedural shapes set (without the ``without_shape`` images for a Retrain
    reference), measure it with ``classifier`` (default: the shipped shapes-t2i concept classifier) and write
    the folder with its model card. A killed run resumes from the checkpoint in ``out_dir``."""
    if without_shape is not None and without_shape not in shapes.SHAPES:
        # checked before the data set is built or anything trains, so a typo fails at once
        raise UnlearningInputError(f"without_shape must be one of {', '.join(shapes.SHAPES)} (or None); "
                                   f"got {shown(without_shape)}")
    recipe = recipe or SHAPES_GAN_RECIPE
    data = shapes.make_dataset()
    images = data.images
    if without_shape is not None:
        images = images[data.shape != shapes.SHAPES.index(without_shape)]
    classifier = classifier or ConceptClassifier.from_pretrained(SHAPES_CLASSIFIER_DIR)
    return _train_and_ship(
        out_dir, images, recipe, seed, progress, label="shapes GAN", judge="the shapes concept classifier",
        measure=lambda generator: shapes_gan_quality(generator, classifier),
        card_text=lambda quality: shapes_card_text(len(images), without_shape, quality),
        left_out={"without_shape": without_shape})
