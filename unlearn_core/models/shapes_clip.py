"""``shapes-clip``: a small CLIP-like text-image model of the procedural shapes (:mod:`unlearn_core.shapes`).

CLIP (Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", 2021) scaled
down to 16x16 images and a 40-word vocabulary, so that text-guided GAN unlearning (a StyleGAN-NADA style
direction loss in CLIP space, Gal et al. 2021) can be run on a CPU:

- text encoder: a transformers ``CLIPTextModel`` (2 layers, width 64, 4 heads) over the project's
  :class:`~unlearn_core.models.t2i.WordTokenizer`, pooled at the end-of-text token as CLIP does;
- image encoder: a small CNN over [0, 1] pixels (N, 3, H, W), differentiable in the pixels;
- linear projections of both into a shared embedding, L2-normalised, and a learnable logit scale
  (initialised at 1/0.07 and clamped at 100, as CLIP).

Training (:func:`train_shapes_clip`) minimises the symmetric cross-entropy over the image-text similarity
matrix of a batch (CLIP's contrastive loss). Zero-shot quality (:func:`zero_shot_quality`) is measured on
freshly rendered images with prompt ensembles, as CLIP's zero-shot classifiers.

Saved folder: ``config.json`` + ``model.safetensors`` (the project's :class:`PretrainedModule` format),
``tokenizer/`` (``vocab.json``, as shapes-t2i saves it), ``recipe.json`` and a model card ``README.md``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import shapes as S
from ..diffusion.training import CHECKPOINT_NAME, train_with_ema
from ..errors import UnlearningInputError
from ..gan_loop import translate
from .pretrained import (CONFIG_NAME, WEIGHTS_NAME, PretrainedModule, RecipeDict, load_weights, read_json,
                         reading)
from .shapes_t2i import MAX_PROMPT_TOKENS, build_tokenizer, word_text_encoder
from .t2i import WordTokenizer

ProgressFn = Callable[[float, str], None]
TOKENIZER_DIR = "tokenizer"
RECIPE_NAME = "recipe.json"
QUALITY_SEED = 20_240_607  # held-out images: a different seed from the training set's DATA_SEED
QUALITY_SAMPLES = 2000
KINDS = ("shape", "colour", "background")

__all__ = ["CLIPRecipe", "ShapesCLIP", "ShapesCLIPConfig", "class_prompts", "clip_loss", "held_out_images",
           "load_shapes_clip", "train_clip", "train_shapes_clip", "zero_shot_quality"]


@dataclasses.dataclass
class ShapesCLIPConfig(RecipeDict):
    vocab_size: int = len(S.vocabulary()) + 3  # + <pad>, <bos>, <eos>
    max_prompt_tokens: int = MAX_PROMPT_TOKENS
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    image_channels: tuple = (32, 64, 128)  # one block each: two 3x3 convolutions, then 2x2 average pooling
    # Group norm after each convolution (0: none): per image, so features never depend on the batch; without
    # it the plain CNN learned shapes far slower (45% zero-shot shape accuracy after 500 steps, against 100%).
    norm_groups: int = 8
    embed_dim: int = 64
    logit_scale_init: float = math.log(1 / 0.07)
    logit_scale_max: float = 100.0


class ShapesCLIP(PretrainedModule):
    """Text encoder + image encoder + projections into one embedding space + a learnable temperature.

    ``encode_text`` and ``encode_image`` return L2-normalised (N, embed_dim) features; ``forward`` returns
    the image-to-text logits ``scale * image @ text.T``. The tokenizer is a plain attribute (saved beside
    the weights in ``tokenizer/``)."""

    config_class = ShapesCLIPConfig

    def __init__(self, config: ShapesCLIPConfig | None = None, tokenizer: WordTokenizer | None = None):
        super().__init__()
        self.config = config or ShapesCLIPConfig()
        self.tokenizer = tokenizer or build_tokenizer()
        if self.tokenizer.vocab_size != self.config.vocab_size:
            raise ValueError(f"the tokenizer has {self.tokenizer.vocab_size} tokens; the config expects "
                             f"{self.config.vocab_size}")
        c = self.config
        self.text_encoder = word_text_encoder(self.tokenizer, c.text_width, c.text_layers, c.text_heads, c.embed_dim,
                                              c.max_prompt_tokens)
        blocks: list[nn.Module] = []
        widths = [3, *c.image_channels]
        for a, b in zip(widths[:-1], widths[1:]):
            # Average pooling, not max: smoother gradients w.r.t. the pixels for a direction loss.
            for conv in (nn.Conv2d(a, b, 3, padding=1), nn.Conv2d(b, b, 3, padding=1)):
                norm = nn.GroupNorm(c.norm_groups, b) if c.norm_groups else nn.Identity()
                blocks += [conv, norm, nn.GELU()]
            blocks.append(nn.AvgPool2d(2))
        # Global average pooling: the shape sits anywhere in the image, so its position should not matter.
        self.image_encoder = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.image_projection = nn.Linear(widths[-1], c.embed_dim, bias=False)
        self.text_projection = nn.Linear(c.text_width, c.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(c.logit_scale_init)))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    # --- text -------------------------------------------------------------------------------------------
    def tokenize(self, prompts: Sequence[str] | str) -> torch.Tensor:
        """Token ids (N, max_prompt_tokens); an unknown word raises UnlearningInputError naming the word and
        the vocabulary (the WordTokenizer's check)."""
        return self.tokenizer.encode(prompts)

    def encode_text(self, prompts: Sequence[str] | str | torch.Tensor) -> torch.Tensor:
        """L2-normalised text features (N, embed_dim) of prompts (or token ids): the final-layer-normed
        hidden state at the end-of-text token, projected (CLIP's text pooling)."""
        ids = (prompts if torch.is_tensor(prompts) else self.tokenize(prompts)).to(self.device)
        hidden = self.text_encoder(input_ids=ids).last_hidden_state
        # Pool at the first <eos> ourselves: transformers' pooler treats eos_token_id == 2 (ours) as the legacy
        # OpenAI vocabulary and would take the highest token id instead. The causal mask lets <eos> see the prompt.
        eos = (ids == self.tokenizer.eos_id).int().argmax(1)
        pooled = hidden[torch.arange(len(ids), device=hidden.device), eos]
        return F.normalize(self.text_projection(pooled), dim=-1)

    # --- images -----------------------------------------------------------------------------------------
    def encode_image(self, images01: torch.Tensor) -> torch.Tensor:
        """L2-normalised image features (N, embed_dim) of [0, 1] pixels (N, 3, H, W); differentiable in the
        pixels and independent of the rest of the batch (group norm, not batch norm)."""
        if images01.ndim != 4 or images01.shape[1] != 3:
            raise UnlearningInputError(f"images must be (N, 3, H, W) RGB in [0, 1]; got shape {tuple(images01.shape)}")
        features = self.image_encoder(images01.to(self.device) * 2 - 1)  # centred as the network was trained
        return F.normalize(self.image_projection(features), dim=-1)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped at ``logit_scale_max`` (CLIP clips it at 100 to keep training stable)."""
        return self.logit_scale.exp().clamp(max=self.config.logit_scale_max)

    def forward(self, images01: torch.Tensor, prompts: Sequence[str] | torch.Tensor) -> torch.Tensor:
        """Image-to-text logits (N_images, N_prompts); their transpose is the text-to-image logits."""
        return self.scale() * self.encode_image(images01) @ self.encode_text(prompts).T

    # --- files ------------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, card: str | None = None, extra: dict | None = None) -> None:
        """``config.json`` + ``model.safetensors`` (text and image encoders together) and ``tokenizer/``."""
        super().save_pretrained(folder, card, extra)
        self.tokenizer.save_pretrained(Path(folder) / TOKENIZER_DIR)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ShapesCLIP":
        folder = Path(folder)
        raw = read_json(folder / CONFIG_NAME)
        with reading(folder / CONFIG_NAME):
            config = cls.config_class.from_dict(raw)
        with reading(folder / TOKENIZER_DIR):
            tokenizer = WordTokenizer.from_pretrained(folder / TOKENIZER_DIR)
        with reading(folder / CONFIG_NAME):
            model = cls(config, tokenizer)
        load_weights(model, folder / WEIGHTS_NAME)
        return model.eval()


def load_shapes_clip(folder: str | Path) -> ShapesCLIP:
    """The saved model of ``folder`` in eval mode; a clear UnlearningInputError when a file is missing."""
    folder = Path(folder)
    needed = [CONFIG_NAME, WEIGHTS_NAME, f"{TOKENIZER_DIR}/vocab.json", f"{TOKENIZER_DIR}/tokenizer_config.json"]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise UnlearningInputError(f"no shapes-clip model in {folder}: missing {', '.join(missing)} (expected "
                                   f"{', '.join(needed)}; train one with train_shapes_clip)")
    return ShapesCLIP.from_pretrained(folder)


# --- training ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class CLIPRecipe(RecipeDict):
    steps: int = 1500
    batch_size: int = 256
    lr: float = 2e-3
    warmup: int = 100
    min_lr_share: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.995           # the shipped weights are this EMA of the trained ones
    # Captions that describe another image of the batch as well as its own count as its positives too
    # (multi-positive InfoNCE, as supervised contrastive learning, Khosla et al. 2020): with 40 attribute
    # combinations a batch of 256 repeats each many times, and CLIP's target would treat equally fitting
    # captions as negatives. False: CLIP's one positive per row (the diagonal). Measured at 500 steps, both
    # reach 100% zero-shot accuracy on shape, colour and background; the shipped model uses True.
    shared_positives: bool = True
    flip: bool = True                  # random horizontal flips (every shape is left-right symmetric)
    # Generated images (the shapes GAN's) are rougher than the renders: ragged edges, speckle, off-grey
    # backgrounds. Trained on clean renders with light noise only, the image encoder agreed with the shapes
    # classifier on 56% of the GAN's samples; blur, stronger noise, one-pixel shifts and a brightness/contrast
    # jitter (the classifier's own augmentation, and more) make such samples embed like their shape.
    noise: float = 0.08                # pixel noise up to this standard deviation
    blur: float = 0.3                  # share of images blurred with a 3x3 binomial kernel
    shift: int = 1                     # random shifts up to this many pixels (edges repeated)
    contrast: float = 0.2              # contrast and brightness jitter up to this fraction
    embed_dim: int = 64
    image_channels: tuple = (32, 64, 128)
    norm_groups: int = 8
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    dataset_size: int = S.DATASET_SIZE
    data_seed: int = S.DATA_SEED
    checkpoint_every: int = 250


def build_shapes_clip(recipe: CLIPRecipe) -> ShapesCLIP:
    return ShapesCLIP(ShapesCLIPConfig(embed_dim=recipe.embed_dim, image_channels=tuple(recipe.image_channels),
                                       norm_groups=recipe.norm_groups,
                                       text_width=recipe.text_width, text_layers=recipe.text_layers,
                                       text_heads=recipe.text_heads))


def clip_loss(logits: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over image-to-text ``logits`` (B, B): the mean of the image->text and
    text->image InfoNCE losses. ``positives`` (B, B, bool; the diagonal set) spreads each row's target evenly
    over its positives; None is CLIP's identity target."""
    if positives is None:
        targets = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    weights = positives.float()
    image_to_text = -(weights / weights.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(weights.T / weights.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2


def caption_attributes(captions: Sequence[str]) -> torch.Tensor:
    """(N, 3) shape/colour/background index each caption names, -1 where it leaves the kind out."""
    rows = []
    for caption in captions:
        named = S.describe_prompt(caption)
        rows.append([named.get(kind, -1) for kind in KINDS])
    return torch.tensor(rows, dtype=torch.long)


def augment(images01: torch.Tensor, recipe: CLIPRecipe, generator: torch.Generator) -> torch.Tensor:
    """A random left-right flip, shift, blur, contrast/brightness jitter and Gaussian pixel noise of a random
    strength, each as the recipe sets it."""
    n = len(images01)
    if recipe.flip:
        flipped = torch.rand(n, generator=generator) < 0.5
        images01 = torch.where(flipped.view(n, 1, 1, 1), images01.flip(-1), images01)
    if recipe.shift > 0:
        images01 = translate(images01, recipe.shift, generator, fill=None)
    if recipe.blur > 0:
        blurred = torch.rand(n, generator=generator) < recipe.blur
        kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
        soft = F.conv2d(F.pad(images01, (1, 1, 1, 1), mode="replicate"), kernel.view(1, 1, 3, 3).repeat(3, 1, 1, 1),
                        groups=3)
        images01 = torch.where(blurred.view(n, 1, 1, 1), soft, images01)
    if recipe.contrast > 0:
        scale = 1 + recipe.contrast * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
        offset = recipe.contrast / 2 * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)
        mean = images01.mean(dim=(1, 2, 3), keepdim=True)
        images01 = ((images01 - mean) * scale + mean + offset).clamp(0, 1)
    if recipe.noise > 0:
        sigma = recipe.noise * torch.rand(n, 1, 1, 1, generator=generator)
        images01 = (images01 + sigma * torch.randn(images01.shape, generator=generator)).clamp(0, 1)
    return images01


def train_clip(seed: int, recipe: CLIPRecipe | None = None, checkpoint_dir: str | Path | None = None,
               progress: ProgressFn | None = None) -> tuple[ShapesCLIP, int]:
    """Train a ShapesCLIP on the captioned shapes set; return the EMA model (eval mode) and the step the run
    resumed from (0 when it started afresh). Uses the project's shared loop (warm-up + cosine AdamW, gradient
    clipping, EMA); a killed run resumes from ``checkpoint_dir/checkpoint.pt``, written every
    ``checkpoint_every`` steps, when the recipe and seed match."""
    recipe = recipe or CLIPRecipe()
    data = S.make_dataset(recipe.dataset_size, recipe.data_seed)
    torch.manual_seed(int(seed))
    model = build_shapes_clip(recipe)
    ids_all = model.tokenize(data.captions)
    named = caption_attributes(data.captions)
    drawn = torch.stack([data.shape, data.colour, data.background], 1)

    def batch_loss(generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(0, len(ids_all), (recipe.batch_size,), generator=generator)
        logits = model(augment(data.images[idx], recipe, generator), ids_all[idx])
        positives = None
        if recipe.shared_positives:
            # caption j fits image i when every attribute it names is the one drawn in image i
            said = named[idx].unsqueeze(0)  # (1, B, 3): caption j
            positives = ((said == -1) | (said == drawn[idx].unsqueeze(1))).all(-1)
        return clip_loss(logits, positives)

    ema, resumed = train_with_ema(model, recipe, seed, batch_loss, checkpoint_dir,
                                  identity={"recipe": recipe.to_dict(), "seed": int(seed)}, progress=progress,
                                  label="CLIP")
    return ema, (resumed["step"] if resumed is not None else 0)


# --- zero-shot quality ------------------------------------------------------------------------------------

def class_prompts(kind: str) -> list[list[str]]:
    """For each class of ``kind`` (shape, colour or background), the prompt ensemble of its zero-shot
    classifier: every training template that names the kind, filled in with every value of the other kinds
    (their embeddings are averaged, which marginalises the other attributes out, as CLIP's prompt ensembles)."""
    names = S.NAMES_BY_KIND[kind]
    out = []
    for name in names:
        prompts = set()
        for template in S.TEMPLATES + S.PARTIAL_TEMPLATES:
            if "{" + kind + "}" not in template:
                continue
            for shape in S.SHAPES:
                for colour in S.COLOURS:
                    for background in S.BACKGROUNDS:
                        values = {"shape": shape, "colour": colour, "background": background, kind: name}
                        prompts.add(template.format(**values))
        out.append(sorted(prompts))
    return out


@torch.no_grad()
def ensemble_text_features(model: ShapesCLIP, ensembles: list[list[str]]) -> torch.Tensor:
    """One normalised text feature per class: the renormalised mean of its prompts' features."""
    return F.normalize(torch.stack([model.encode_text(prompts).mean(0) for prompts in ensembles]), dim=-1)


def held_out_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` freshly rendered images (balanced shapes, random colours and backgrounds) and their labels
    (N, 3: shape, colour, background), from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(int(seed))
    shape = torch.arange(n) % len(S.SHAPES)
    colour = torch.randint(0, len(S.COLOURS), (n,), generator=generator)
    background = torch.randint(0, len(S.BACKGROUNDS), (n,), generator=generator)
    return S.render(shape, colour, background, generator), torch.stack([shape, colour, background], 1)


@torch.no_grad()
def zero_shot_quality(model: ShapesCLIP, n: int = QUALITY_SAMPLES, seed: int = QUALITY_SEED,
                      batch_size: int = 500) -> dict:
    """Zero-shot accuracies (percent) on ``n`` freshly rendered images: shape, colour and background with
    prompt ensembles (:func:`class_prompts`), per shape, all three at once (the best of the 40 full captions
    "a {colour} {shape} on a {background} background"), and shape from the single prompt "a {shape}" and from
    the bare word."""
    model.eval()
    images, labels = held_out_images(n, seed)
    features = torch.cat([model.encode_image(images[i:i + batch_size]) for i in range(0, n, batch_size)])
    predicted = {kind: (features @ ensemble_text_features(model, class_prompts(kind)).T).argmax(1) for kind in KINDS}
    percent = lambda hits: float(100 * hits.float().mean())  # noqa: E731
    quality = {kind: percent(predicted[kind] == labels[:, i]) for i, kind in enumerate(KINDS)}
    shape_hits = predicted["shape"] == labels[:, 0]
    quality["per_shape"] = {name: percent(shape_hits[labels[:, 0] == i]) for i, name in enumerate(S.SHAPES)}
    combos = [(s, c, b) for s in range(len(S.SHAPES)) for c in range(len(S.COLOURS)) for b in range(len(S.BACKGROUNDS))]
    captions = [f"a {S.COLOURS[c]} {S.SHAPES[s]} on a {S.BACKGROUNDS[b]} background" for s, c, b in combos]
    best = torch.tensor(combos)[(features @ model.encode_text(captions).T).argmax(1)]
    quality["all_three"] = percent((best == labels).all(1))
    single = (features @ model.encode_text([f"a {name}" for name in S.SHAPES]).T).argmax(1)
    quality["shape_single_prompt"] = percent(single == labels[:, 0])
    # The bare word, as a direction loss's prompt ("triangle") would be given; no caption is a bare word.
    bare = (features @ model.encode_text(list(S.SHAPES)).T).argmax(1)
    quality["shape_bare_word"] = percent(bare == labels[:, 0])
    quality.update(n=int(n), seed=int(seed))
    return quality


# --- the shipped folder -----------------------------------------------------------------------------------

def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _card(model: ShapesCLIP, recipe: CLIPRecipe, seed: int, quality: dict, train_s: float,
          resumed_at: int = 0) -> str:
    c = model.config
    resumed = f" (the run resumed at step {resumed_at}; the time covers the resumed part only)" if resumed_at else ""
    per_shape = ", ".join(f"{name} {acc:.1f}%" for name, acc in quality["per_shape"].items())
    positives = ("captions that fit another image of the batch equally well (every shape/colour/background they "
                 "name is drawn in it) count as that image's positives too, each row's target spread evenly over "
                 "its positives" if recipe.shared_positives else "one positive per row (the diagonal)")
    return f"""---
license: mit
tags: [machine-unlearning, clip, contrastive, text-image, shapes, safetensors]
---
# shapes-clip

A small CLIP-like text-image model (Radford et al., 2021) of the project's procedural 16x16 shapes, trained
from scratch so that text-guided GAN unlearning (a StyleGAN-NADA style CLIP-space direction loss) can run on
a CPU. {parameter_count(model):,} parameters in all:

- **Text encoder:** the project's word-level tokenizer ({model.tokenizer.vocab_size} tokens, prompts of at most
  {c.max_prompt_tokens - 2} words; an unknown word is refused with the vocabulary in the message) and a
  transformers `CLIPTextModel` ({c.text_layers} layers, width {c.text_width}, {c.text_heads} heads,
  {parameter_count(model.text_encoder):,} parameters), pooled at the end-of-text token, then a linear
  projection to {c.embed_dim} ({parameter_count(model.text_projection):,} parameters).
- **Image encoder:** a CNN over [0, 1] pixels (N, 3, 16, 16), centred to [-1, 1] inside: three blocks of two
  3x3 convolutions, each + group norm ({c.norm_groups} groups) + GELU, and 2x2 average pooling, channels
  {list(c.image_channels)}, global average pooling ({parameter_count(model.image_encoder):,} parameters), then a
  linear projection to {c.embed_dim} ({parameter_count(model.image_projection):,} parameters). No batch norm:
  an image's features do not depend on its batch, and they are differentiable in the pixels.
- **Similarity:** cosine of the L2-normalised features times a learnable scale (initialised at 1/0.07, clamped
  at {c.logit_scale_max:g}; trained to {float(model.scale()):.1f}).

- **Data** (`unlearn_core/shapes.py`, regenerated from seed {recipe.data_seed}, {recipe.dataset_size:,} images
  and captions; the set shapes-t2i trains on): circle, square, triangle, cross, diamond x red, green, blue,
  yellow x dark, light background, random size and position, small colour jitter; captions from templates
  such as "a red triangle on a dark background", "a triangle, red", some naming only the shape or the colour,
  15% of the words said with a synonym ("three sided shape", "crimson").
- **Recipe:** `unlearn_core.models.shapes_clip.train_shapes_clip(out_dir)` (seed {seed}): CLIP's symmetric
  cross-entropy (image->text and text->image InfoNCE) over batches of {recipe.batch_size}; {positives}.
  AdamW lr {recipe.lr:g} (weight decay {recipe.weight_decay:g}), {recipe.warmup} warm-up steps and cosine decay
  to {recipe.min_lr_share:g} x lr, {recipe.steps} steps, gradient clip {recipe.grad_clip:g}; the shipped weights
  are the EMA ({recipe.ema_decay:g}) of the trained ones. Augmentation: random left-right flips
  ({'on' if recipe.flip else 'off'}), shifts up to {recipe.shift} pixel(s), a 3x3 blur on {recipe.blur:.0%} of the
  images, contrast and brightness jitter up to {recipe.contrast:g}, and Gaussian pixel noise of standard deviation
  up to {recipe.noise:g}, so that the GAN's rougher samples embed like their shape.
  Training took {train_s / 60:.1f} min on a 2-core CPU (one thread){resumed}; a killed run resumes from
  `checkpoint.pt` in the output folder.
- **Zero-shot quality** on {quality['n']:,} freshly rendered held-out images (render seed {quality['seed']}, not
  the training seed), each class's text feature the mean over a prompt ensemble (every training template that
  names the kind, filled in with every value of the other kinds): shape **{quality['shape']:.1f}%**
  ({per_shape}), colour **{quality['colour']:.1f}%**, background **{quality['background']:.1f}%**; all three
  right by the best of the 40 captions "a {{colour}} {{shape}} on a {{background}} background":
  {quality['all_three']:.1f}%; shape from the single prompt "a {{shape}}": {quality['shape_single_prompt']:.1f}%,
  from the bare word ("triangle", never a caption by itself): {quality['shape_bare_word']:.1f}%.
- **Use:** `load_shapes_clip(folder)`; `encode_text(prompts)` and `encode_image(images01)` give normalised
  {c.embed_dim}-d features; `model(images01, prompts)` the logits.
- **Files:** `config.json` + `model.safetensors` (both encoders and projections), `tokenizer/` (`vocab.json`,
  `tokenizer_config.json`), `recipe.json` (recipe, seed, measured quality, training time).
"""


def train_shapes_clip(out_dir: str | Path, seed: int = 0, progress: ProgressFn | None = None,
                      recipe: CLIPRecipe | None = None) -> dict:
    """Train shapes-clip, measure its zero-shot quality and write the folder (weights, tokenizer, recipe.json,
    model card). A killed run resumes from the checkpoint in ``out_dir``."""
    recipe = recipe or CLIPRecipe()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, resumed_at = train_clip(seed, recipe, checkpoint_dir=out_dir, progress=progress)
    train_s = time.perf_counter() - start
    if progress:
        progress(1.0, "measuring zero-shot quality on held-out images")
    quality = zero_shot_quality(model)
    model.save_pretrained(out_dir, _card(model, recipe, seed, quality, train_s, resumed_at))
    record = {"recipe": recipe.to_dict(), "seed": int(seed), "quality": quality, "train_s": train_s,
              "resumed_at_step": resumed_at, "threads": torch.get_num_threads(), "machine": platform.machine()}
    (out_dir / RECIPE_NAME).write_text(json.dumps(record, indent=2, default=float) + "\n")
    (out_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return {"out_dir": str(out_dir), "quality": quality, "train_s": train_s}
