"""The unconditional digits GAN: a DCGAN-sized generator and discriminator for 16x16 digits (Radford et al.,
"Unsupervised Representation Learning with Deep Convolutional GANs", 2016), scaled down.

Pixel convention: ``Generator.forward`` returns the model space [-1, 1] (tanh output, what the discriminator
sees); :func:`generate` returns [0, 1] pixels, the scaling of ``load_digits_split`` that digits-cnn expects.

Saved folder: ``generator/`` and ``discriminator/`` (each ``config.json`` + ``model.safetensors``, the
project's :class:`PretrainedModule` format), ``recipe.json`` (training recipe, seed, measured quality) and a
model card ``README.md``. Both networks are shipped: Adapt-then-Unlearn fine-tunes against the discriminator.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from torch import nn

from ..errors import UnlearningInputError
from .pretrained import WEIGHTS_NAME, PretrainedModule, RecipeDict, read_json

GENERATOR_DIR = "generator"
DISCRIMINATOR_DIR = "discriminator"
RECIPE_NAME = "recipe.json"

__all__ = ["Discriminator", "DiscriminatorConfig", "Generator", "GeneratorConfig", "generate", "latents",
           "load_gan", "read_gan_record", "save_gan", "to_model_space", "to_pixels"]


@dataclasses.dataclass
class GeneratorConfig(RecipeDict):
    z_dim: int = 64
    image_size: int = 16
    out_channels: int = 1
    channels: tuple = (128, 64, 32)  # at 4x4, 8x8 and 16x16


class Generator(PretrainedModule):
    """z -> linear to 4x4 -> two stride-2 transposed convolutions to 16x16 -> 3x3 conv -> tanh, with
    batch norm and ReLU after every hidden layer (the DCGAN generator)."""

    config_class = GeneratorConfig

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config or GeneratorConfig()
        c4, c8, c16 = self.config.channels
        self.base_side = self.config.image_size // 4
        self.project = nn.Linear(self.config.z_dim, c4 * self.base_side ** 2, bias=False)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c4), nn.ReLU(),
            nn.ConvTranspose2d(c4, c8, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c8), nn.ReLU(),
            nn.ConvTranspose2d(c8, c16, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c16), nn.ReLU(),
            nn.Conv2d(c16, self.config.out_channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], shape (N, out_channels, image_size, image_size)."""
        x = self.project(z).view(len(z), self.config.channels[0], self.base_side, self.base_side)
        return self.body(x)


@dataclasses.dataclass
class DiscriminatorConfig(RecipeDict):
    image_size: int = 16
    in_channels: int = 1
    channels: tuple = (32, 64, 128)  # after each stride-2 convolution: 8x8, 4x4, 2x2
    leaky_slope: float = 0.2
    spectral_norm: bool = True


class Discriminator(PretrainedModule):
    """Three stride-2 4x4 convolutions with leaky ReLU, then a linear logit (real > 0). Spectral norm
    (Miyato et al., 2018) on every layer keeps it Lipschitz instead of batch norm, so its output for an image
    does not depend on the rest of the batch."""

    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        self.config = config or DiscriminatorConfig()
        norm = nn.utils.parametrizations.spectral_norm if self.config.spectral_norm else (lambda layer: layer)
        widths = [self.config.in_channels, *self.config.channels]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [norm(nn.Conv2d(a, b, 4, stride=2, padding=1)), nn.LeakyReLU(self.config.leaky_slope)]
        self.body = nn.Sequential(*layers)
        side = self.config.image_size // 2 ** len(self.config.channels)
        self.head = norm(nn.Linear(widths[-1] * side * side, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One logit per image in model space [-1, 1]; shape (N,)."""
        return self.head(self.body(images).flatten(1)).squeeze(1)


def to_model_space(images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> the GAN's [-1, 1]."""
    return images01 * 2 - 1


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """The GAN's [-1, 1] -> [0, 1] pixels, clamped."""
    return ((images + 1) / 2).clamp(0, 1)


def latents(n: int, seed: int, z_dim: int) -> torch.Tensor:
    """``n`` standard normal latent vectors of ``z_dim`` from their own generator seeded with ``seed``: the
    same seed gives the same vectors, so before/after comparisons of an unlearned generator use the same z."""
    return torch.randn(int(n), int(z_dim), generator=torch.Generator().manual_seed(int(seed)))


@torch.no_grad()
def generate(generator: Generator, z: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """[0, 1] images for latents ``z``, in eval mode (batch norm from its running statistics, so each image
    depends only on its own z and the result is deterministic); the generator's mode is restored after."""
    was_training = generator.training
    generator.eval()
    try:
        return torch.cat([to_pixels(generator(z[start:start + batch_size]))
                          for start in range(0, len(z), batch_size)])
    finally:
        generator.train(was_training)


def save_gan(generator: Generator, discriminator: Discriminator, folder: str | Path, record: dict,
             card: str | None = None) -> Path:
    """Write ``generator/``, ``discriminator/``, ``recipe.json`` (``record``: recipe, seed, quality) and the
    model card."""
    folder = Path(folder)
    generator.save_pretrained(folder / GENERATOR_DIR)
    discriminator.save_pretrained(folder / DISCRIMINATOR_DIR)
    (folder / RECIPE_NAME).write_text(json.dumps(record, indent=2, default=float) + "\n")
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def load_gan(folder: str | Path) -> tuple[Generator, Discriminator]:
    """The saved generator and discriminator of ``folder``, in eval mode."""
    folder = Path(folder)
    if not (folder / GENERATOR_DIR / WEIGHTS_NAME).exists():
        raise UnlearningInputError(f"no GAN in {folder}; expected {GENERATOR_DIR}/{WEIGHTS_NAME}")
    return Generator.from_pretrained(folder / GENERATOR_DIR), Discriminator.from_pretrained(folder / DISCRIMINATOR_DIR)


def read_gan_record(folder: str | Path) -> dict:
    """The ``recipe.json`` of a saved GAN: recipe, seed, left-out class, measured quality, training time."""
    return read_json(Path(folder) / RECIPE_NAME)
