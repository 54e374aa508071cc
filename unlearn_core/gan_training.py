"""The project's shipped GANs: how recognisable and varied a generator's samples are, the model card, and the
entries that train (``gan_loop``) and write their shipped folders: ``digits-gan`` (or its Retrain reference
without one class) and ``shapes-gan`` (16x16 RGB procedural shapes, or its Retrain reference without one shape).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from . import shapes
from .assets import ASSETS
from .data import load_digits_split
from .diffusion.training import CHECKPOINT_NAME
from .errors import UnlearningInputError, shown
from .execution import run_device
from .gan_loop import GANRecipe, ProgressFn, train_gan
from .models.classifier import load_classifier
from .models.gan import Discriminator, Generator, generate, latents, save_gan
from .models.shapes_t2i import ConceptClassifier

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

# shapes-gan's recipe. Short trials (2-3k steps, one thread): without augmentation the generator drew only
# dark backgrounds (light 0.0% all along); DiffAugment's brightness shift gave both (~50/50). A wider
# discriminator (64, 128, 256) or no spectral norm were no better at 2k steps, the former at twice the cost.
SHAPES_GAN_RECIPE = GANRecipe(steps=10000, augment="brightness", generator_channels=(128, 64, 32))


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
