"""How an unconditional GAN (``models/gan.py``) is trained: its recipe, the differentiable augmentation of what
the discriminator sees, the losses, and the training loop (EMA generator, checkpoints a killed run resumes from,
batch-norm calibration). ``gan_training`` uses it to train, measure and ship the project's GANs.

Loss: the non-saturating GAN loss of Goodfellow et al. (2014), with one-sided label smoothing of the real
targets (Salimans et al., "Improved Techniques for Training GANs", 2016); Adam with DCGAN's betas.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .diffusion.training import CHECKPOINT_NAME, ema_update, load_training_checkpoint, save_training_checkpoint
from .errors import check_finite
from .execution import place, run_device
from .models.gan import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, to_model_space
from .models.pretrained import RecipeDict

ProgressFn = Callable[[float, str], None]


@dataclasses.dataclass
class GANRecipe(RecipeDict):
    """How a shipped GAN is trained (these defaults: digits-gan; ``gan_training.SHAPES_GAN_RECIPE``: shapes-gan); its
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
