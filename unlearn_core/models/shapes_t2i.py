"""``shapes-t2i``: the project's small text-to-image model and its concept classifier.

- Text encoder: a transformers ``CLIPTextModel`` (2 layers, width 64, 4 heads) over the shapes vocabulary.
- UNet: a diffusers ``UNet2DConditionModel`` on 16x16 RGB pixels: 16x16 -> 8x8 with self- and
  cross-attention at 8x8 (one down and one up block; no mid block, to train on one CPU thread),
  cross-attention dim 64.
- Trained jointly from scratch on :mod:`unlearn_core.shapes` captions with 10% of the captions dropped to the
  empty prompt (classifier-free guidance), AdamW + cosine schedule, EMA; resumable checkpoints.
- The concept classifier (:class:`ConceptClassifier`): a small CNN with shape (5 + "none"), colour and
  background heads, trained on freshly rendered images; it judges what generated images show.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import shapes as S
from ..diffusion.training import train_with_ema
from ..errors import check_finite
from .pretrained import PretrainedModule, RecipeDict
from .t2i import TextToImage, WordTokenizer

ProgressFn = Callable[[float, str], None]
RECIPE_NAME = "recipe.json"
MAX_PROMPT_TOKENS = 16


@dataclasses.dataclass
class T2IRecipe(RecipeDict):
    steps: int = 4000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 200
    min_lr_share: float = 0.05
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    prompt_dropout: float = 0.1          # share of captions replaced by the empty prompt (CFG)
    grad_clip: float = 1.0
    channels: tuple = (32, 64)
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    dataset_size: int = S.DATASET_SIZE
    data_seed: int = S.DATA_SEED
    checkpoint_every: int = 250


def build_tokenizer() -> WordTokenizer:
    return WordTokenizer(S.vocabulary(), MAX_PROMPT_TOKENS)


def build_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                         clip_sample=True)


def word_text_encoder(tokenizer: WordTokenizer, width: int, layers: int, heads: int, projection_dim: int,
                      max_tokens: int = MAX_PROMPT_TOKENS):
    """A small transformers ``CLIPTextModel`` over the word tokenizer's ids (shapes-t2i's and shapes-clip's)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=max_tokens, pad_token_id=tokenizer.pad_id,
        bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id, projection_dim=projection_dim))


def build_model(recipe: T2IRecipe | None = None) -> TextToImage:
    from diffusers import UNet2DConditionModel

    recipe = recipe or T2IRecipe()
    tokenizer = build_tokenizer()
    text_encoder = word_text_encoder(tokenizer, recipe.text_width, recipe.text_layers, recipe.text_heads,
                                     recipe.text_width)
    unet = UNet2DConditionModel(
        sample_size=S.IMAGE_SIZE, in_channels=3, out_channels=3, block_out_channels=tuple(recipe.channels),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=1, cross_attention_dim=recipe.text_width, attention_head_dim=8, norm_num_groups=8,
        mid_block_type=None)
    return TextToImage(text_encoder, unet, build_scheduler(), tokenizer)


def train_t2i(seed: int, recipe: T2IRecipe | None = None, checkpoint_dir: str | Path | None = None,
              progress: ProgressFn | None = None, data: S.ShapesData | None = None) -> TextToImage:
    """Train text encoder and UNet jointly and return the EMA model. A killed run resumes from
    ``checkpoint_dir/checkpoint.pt`` (written every ``checkpoint_every`` steps)."""
    recipe = recipe or T2IRecipe()
    data = data or S.make_dataset(recipe.dataset_size, recipe.data_seed)
    torch.manual_seed(int(seed))
    model = build_model(recipe)
    x0_all = model.to_latents(data.images)
    ids_all = model.tokenize(data.captions)
    null = model.null_ids(1)[0]

    def batch_loss(generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, len(x0_all), (recipe.batch_size,), generator=generator)
        ids = ids_all[idx].clone()
        ids[torch.rand(len(idx), generator=generator) < recipe.prompt_dropout] = null
        return model.noise_loss(x0_all[idx], ids, generator=generator)

    def without_steps(raw: dict) -> dict:
        return {k: v for k, v in raw.items() if k != "steps"}

    def can_resume(state: dict) -> bool:
        # A run may be resumed with a different step budget (the cosine schedule then follows the new one).
        saved = state["identity"]
        return (without_steps(saved["recipe"]) == without_steps(recipe.to_dict()) and saved["seed"] == int(seed)
                and state["step"] <= recipe.steps)

    ema, resumed = train_with_ema(model, recipe, seed, batch_loss, checkpoint_dir,
                                  identity={"recipe": recipe.to_dict(), "seed": int(seed)}, can_resume=can_resume,
                                  progress=progress, label="T2I")
    if resumed is not None and resumed["identity"]["recipe"]["steps"] != recipe.steps:
        ema.resumed_with_new_budget = {"step": resumed["step"], "steps_before": resumed["identity"]["recipe"]["steps"]}
    else:
        ema.resumed_with_new_budget = None
    return ema


def save_recipe(folder: Path, recipe: T2IRecipe, extra: dict) -> None:
    (Path(folder) / RECIPE_NAME).write_text(json.dumps({"recipe": recipe.to_dict(), **extra}, indent=2,
                                                        default=float) + "\n")


# --- the concept classifier -----------------------------------------------------------------------------

@dataclasses.dataclass
class ConceptClassifierConfig(RecipeDict):
    image_size: int = S.IMAGE_SIZE
    channels: tuple = (32, 64)
    hidden: int = 128
    num_shapes: int = len(S.SHAPES) + 1     # + "none" (no shape drawn)
    num_colours: int = len(S.COLOURS)
    num_backgrounds: int = len(S.BACKGROUNDS)


class ConceptClassifier(PretrainedModule):
    """conv-conv-pool, conv-conv-pool, fc, then three heads: shape (+ none), colour, background."""

    config_class = ConceptClassifierConfig

    def __init__(self, config: ConceptClassifierConfig | None = None):
        super().__init__()
        self.config = config or ConceptClassifierConfig()
        c1, c2 = self.config.channels
        self.body = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (self.config.image_size // 4) ** 2, self.config.hidden), nn.ReLU())
        self.shape_head = nn.Linear(self.config.hidden, self.config.num_shapes)
        self.colour_head = nn.Linear(self.config.hidden, self.config.num_colours)
        self.background_head = nn.Linear(self.config.hidden, self.config.num_backgrounds)

    def features(self, images01: torch.Tensor) -> torch.Tensor:
        return self.body(images01)

    def forward(self, images01: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(images01)
        return {"shape": self.shape_head(h), "colour": self.colour_head(h), "background": self.background_head(h)}

    @torch.no_grad()
    def predict(self, images01: torch.Tensor, batch_size: int = 512) -> dict[str, torch.Tensor]:
        out: dict[str, list] = {"shape": [], "colour": [], "background": []}
        for start in range(0, len(images01), batch_size):
            logits = self(images01[start:start + batch_size])
            for k in out:
                out[k].append(logits[k].argmax(1))
        return {k: torch.cat(v) if v else torch.empty(0, dtype=torch.long) for k, v in out.items()}

    def save_pretrained(self, folder: str | Path, card: str | None = None, extra: dict | None = None) -> None:
        """The label names go into the config beside the architecture, so a reader can decode the heads."""
        names = {"shapes": list(S.SHAPES) + ["none"], "colours": list(S.COLOURS), "backgrounds": list(S.BACKGROUNDS)}
        super().save_pretrained(folder, card, {**names, **(extra or {})})

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ConceptClassifier":
        return super().from_pretrained(folder).requires_grad_(False)  # a judge, never trained by a run


def _classifier_batch(n: int, generator: torch.Generator, none_share: float = 0.08):
    """Freshly rendered labelled images, with light noise/blur so the classifier copes with imperfect samples;
    a share shows no shape (background only, sometimes with a faint blob) under the "none" label."""
    shape = torch.randint(0, len(S.SHAPES), (n,), generator=generator)
    colour = torch.randint(0, len(S.COLOURS), (n,), generator=generator)
    background = torch.randint(0, len(S.BACKGROUNDS), (n,), generator=generator)
    none = torch.rand(n, generator=generator) < none_share
    shape[none] = S.NONE_SHAPE
    images = S.render(shape, colour, background, generator)
    blur = torch.rand(n, generator=generator) < 0.3
    if blur.any():
        kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
        blurred = F.conv2d(F.pad(images[blur], (1, 1, 1, 1), mode="replicate"),
                           kernel.view(1, 1, 3, 3).repeat(3, 1, 1, 1), groups=3)
        images[blur] = blurred
    sigma = 0.06 * torch.rand(n, 1, 1, 1, generator=generator)
    images = (images + sigma * torch.randn(images.shape, generator=generator)).clamp(0, 1)
    return images, shape, colour, background


def train_classifier(seed: int, steps: int = 1500, batch_size: int = 128, progress: ProgressFn | None = None):
    """Train the concept classifier on rendered images (an endless seeded stream) and report its accuracy
    on a fresh held-out set of clean images."""
    generator = torch.Generator().manual_seed(int(seed) + 1)
    torch.manual_seed(int(seed) + 1)
    model = ConceptClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        images, shape, colour, background = _classifier_batch(batch_size, generator)
        out = model(images)
        has_colour = shape != S.NONE_SHAPE
        loss = (F.cross_entropy(out["shape"], shape) + F.cross_entropy(out["background"], background)
                + F.cross_entropy(out["colour"][has_colour], colour[has_colour]))
        check_finite(loss, "concept classifier training")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if progress and (step + 1) % 250 == 0:
            progress((step + 1) / steps, f"concept classifier step {step + 1}/{steps} loss {float(loss):.4f}")
    model.eval().requires_grad_(False)
    test = torch.Generator().manual_seed(int(seed) + 12345)
    shape = torch.arange(4000) % len(S.SHAPES)
    colour = torch.randint(0, len(S.COLOURS), (4000,), generator=test)
    background = torch.randint(0, len(S.BACKGROUNDS), (4000,), generator=test)
    predicted = model.predict(S.render(shape, colour, background, test))
    accuracy = {"shape": float(100 * (predicted["shape"] == shape).float().mean()),
                "colour": float(100 * (predicted["colour"] == colour).float().mean()),
                "background": float(100 * (predicted["background"] == background).float().mean())}
    return model, accuracy
