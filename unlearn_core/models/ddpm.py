"""The class-conditional digits DDPM: a small diffusers ``UNet2DModel`` with a class embedding whose last
index is the null class of classifier-free guidance, its noise schedule, and the training recipe.

Saved in diffusers' folder format: ``unet/`` (``config.json`` + ``diffusion_pytorch_model.safetensors``),
``scheduler/`` (a ``DDPMScheduler`` config) and a model card ``README.md``. ``recipe.json`` records the
training recipe so Retrain can reuse it exactly.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..diffusion.training import squared_error, train_with_ema
from ..errors import UnlearningInputError
from .pretrained import RecipeDict, check_weights, read_json, reading

ProgressFn = Callable[[float, str], None]
NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES  # class-embedding index of the unconditional ("null") prompt
IMAGE_SIZE = 8            # the digits' native resolution; samples are upsampled to 16x16 for the classifier
RECIPE_NAME = "recipe.json"


def build_unet(image_size: int = IMAGE_SIZE, channels: tuple[int, int] = (32, 64)):
    """About 0.7M parameters: 8x8 -> 4x4 (attention) -> mid block with attention at 4x4, and back."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=image_size, in_channels=1, out_channels=1, block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1, num_class_embeds=NUM_CLASSES + 1, norm_num_groups=8, attention_head_dim=8)


def build_scheduler(num_train_timesteps: int = 1000):
    """Cosine ("squaredcos_cap_v2") schedule: the linear one leaves too much signal at t=T for 8x8 images."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type="epsilon", clip_sample=True)


def load_unet(folder: str | Path) -> nn.Module:
    from diffusers import UNet2DModel

    folder = Path(folder)
    if not (folder / "unet").is_dir():
        raise UnlearningInputError(f"no diffusion model in {folder}; expected a unet/ folder")
    with reading(folder / "unet"):
        model = UNet2DModel.from_pretrained(str(folder / "unet"), use_safetensors=True)
    check_weights(model.state_dict(), folder / "unet")
    return model.eval()


def load_scheduler(folder: str | Path):
    from diffusers import DDPMScheduler

    with reading(Path(folder) / "scheduler"):
        return DDPMScheduler.from_pretrained(str(Path(folder) / "scheduler"))


def to_model_space(images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels -> the model's [-1, 1]."""
    return images01 * 2 - 1


def to_pixels(samples: torch.Tensor) -> torch.Tensor:
    """The model's [-1, 1] -> [0, 1] pixels, clamped."""
    return ((samples + 1) / 2).clamp(0, 1)


def noise_loss(model: nn.Module, alphas_cumprod: torch.Tensor, x0: torch.Tensor, labels: torch.Tensor,
               reduction: str = "mean", generator: torch.Generator | None = None) -> torch.Tensor:
    """The DDPM objective ||eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t, c)||^2 at a uniform t.
    ``reduction="none"`` gives one loss per sample (mean over its pixels)."""
    n = x0.shape[0]
    t = torch.randint(0, len(alphas_cumprod), (n,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    a = alphas_cumprod[t].view(n, 1, 1, 1).to(x0.dtype)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    pred = model(x_t, t, class_labels=labels).sample
    return squared_error(pred, noise, reduction)


@dataclasses.dataclass
class DDPMRecipe(RecipeDict):
    """How the shipped digits DDPM is trained; its Retrain references use the same recipe on D_r."""

    steps: int = 8000
    batch_size: int = 64
    lr: float = 1.5e-3
    warmup: int = 300
    min_lr_share: float = 0.05       # cosine decay to this share of lr
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    label_dropout: float = 0.1       # share of labels replaced by the null class (CFG training)
    grad_clip: float = 1.0
    channels: tuple = (32, 64)
    image_size: int = IMAGE_SIZE
    checkpoint_every: int = 250



def train_ddpm(x01: torch.Tensor, y: torch.Tensor, seed: int, recipe: DDPMRecipe | None = None,
               checkpoint_dir: str | Path | None = None, progress: ProgressFn | None = None) -> nn.Module:
    """Train the class-conditional UNet on images ``x01`` in [0, 1] with labels ``y`` and return the EMA
    model. With ``checkpoint_dir`` a checkpoint is written every ``checkpoint_every`` steps and a killed run
    resumes from it (same seed and recipe give the same result as an uninterrupted run)."""
    recipe = recipe or DDPMRecipe()
    torch.manual_seed(int(seed))
    model = build_unet(recipe.image_size, recipe.channels)
    alphas_cumprod = build_scheduler().alphas_cumprod.float()
    data = to_model_space(x01)

    def batch_loss(generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, len(data), (recipe.batch_size,), generator=generator)
        labels = y[idx].clone()
        labels[torch.rand(len(idx), generator=generator) < recipe.label_dropout] = NULL_CLASS
        return noise_loss(model, alphas_cumprod, data[idx], labels, generator=generator)

    ema, _ = train_with_ema(model, recipe, seed, batch_loss, checkpoint_dir, progress=progress, label="DDPM",
                            identity={"recipe": recipe.to_dict(), "seed": int(seed), "n": len(x01)})
    return ema


def save_ddpm(model: nn.Module, folder: str | Path, recipe: DDPMRecipe, card: str | None = None,
              extra: dict | None = None) -> Path:
    """Write the diffusers folder: unet/ (safetensors), scheduler/, recipe.json and the model card."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder / "unet"), safe_serialization=True)
    build_scheduler().save_pretrained(str(folder / "scheduler"))
    (folder / RECIPE_NAME).write_text(json.dumps({"recipe": recipe.to_dict(), **(extra or {})}, indent=2) + "\n")
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def read_recipe(folder: str | Path) -> tuple[DDPMRecipe, dict]:
    raw = read_json(Path(folder) / RECIPE_NAME)
    with reading(Path(folder) / RECIPE_NAME):
        return DDPMRecipe.from_dict(raw["recipe"]), raw
