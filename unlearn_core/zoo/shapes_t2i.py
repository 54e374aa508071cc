"""shapes-t2i: the small text-to-image model this project ships, its concept classifier, task factory,
training entry, model card and the defaults of the shared methods for text-to-image diffusion
("text-diffusion")."""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import torch

from .. import shapes as S
from ..assets import ASSETS
from ..data import ForgetRequest
from ..errors import UnlearningInputError
from ..methods.registry import register_task_defaults
from ..models.shapes_t2i import ConceptClassifier, T2IRecipe, save_recipe, train_classifier, train_t2i
from ..models.t2i import TextToImage
from ..tasks.text_diffusion import EvalPrompts, ShapesEvaluator, TextDiffusionTask, resolve_concept
from .registry import CostProfile, ModelSpec, base_model, register_model

SHAPES_T2I_DIR = ASSETS / "shapes-t2i"
SHAPES_T2I_SEED = 0
DEFAULT_GUIDANCE = 3.0
DEFAULT_STEPS = 20
QUALITY_SEEDS = 5


def classifier_dir(folder: Path = SHAPES_T2I_DIR) -> Path:
    return Path(folder) / "classifier"


@functools.lru_cache(maxsize=2)
def load_classifier(folder: Path = SHAPES_T2I_DIR) -> ConceptClassifier:
    return ConceptClassifier.from_pretrained(classifier_dir(folder))


def measure_quality(model, classifier, seeds_per_prompt: int = QUALITY_SEEDS, guidance: float = DEFAULT_GUIDANCE,
                    steps: int = DEFAULT_STEPS) -> dict:
    """Share of samples for every (shape, colour) prompt in which the classifier finds the prompted shape,
    colour and both."""
    prompts, shape, colour = [], [], []
    for s, shape_name in enumerate(S.SHAPES):
        for c, colour_name in enumerate(S.COLOURS):
            for b, background in enumerate(S.BACKGROUNDS):
                for _ in range(seeds_per_prompt):
                    prompts.append(f"a {colour_name} {shape_name} on a {background} background")
                    shape.append(s)
                    colour.append(c)
    start = time.perf_counter()
    images = model.sample(prompts, [20_000 + i for i in range(len(prompts))], guidance, steps)
    sampling_s = time.perf_counter() - start
    predicted = classifier.predict(images)
    shape_ok = predicted["shape"] == torch.tensor(shape)
    colour_ok = predicted["colour"] == torch.tensor(colour)
    per_shape = {name: float(100 * shape_ok[torch.tensor(shape) == i].float().mean()) for i, name in enumerate(S.SHAPES)}
    return {"shape": float(100 * shape_ok.float().mean()), "colour": float(100 * colour_ok.float().mean()),
            "both": float(100 * (shape_ok & colour_ok).float().mean()), "per_shape": per_shape,
            "samples": len(prompts), "guidance": guidance, "steps": steps, "sampling_s": sampling_s}


def _card(model, recipe, seed: int, quality: dict, classifier_acc: dict, train_s: float, classifier_s: float) -> str:
    unet_params = sum(p.numel() for p in model.unet.parameters())
    text_params = sum(p.numel() for p in model.text_encoder.parameters())
    per_shape = ", ".join(f"{k} {v:.0f}%" for k, v in quality["per_shape"].items())
    return f"""---
license: mit
library_name: diffusers
tags: [machine-unlearning, concept-erasure, text-to-image, diffusion, classifier-free-guidance, safetensors]
---
# shapes-t2i

A tiny text-to-image diffusion model with Stable Diffusion's shape, trained from scratch by this project so
that concept erasure (ESD, SalUn, SFR-on, SLUG) can be run and inspected on a CPU: a word-level tokenizer
({model.tokenizer.vocab_size} tokens, prompts of at most {model.tokenizer.max_length - 2} words), a transformers
`CLIPTextModel` ({recipe.text_layers} layers, width {recipe.text_width}, {recipe.text_heads} heads,
{text_params:,} parameters) and a diffusers `UNet2DConditionModel` on 16x16 RGB pixels (no vae;
channels {list(recipe.channels)}, self- and cross-attention at 8x8, cross-attention dim {recipe.text_width},
{unet_params:,} parameters).

- **Data** (`unlearn_core/shapes.py`, regenerated from seed {recipe.data_seed}, {recipe.dataset_size:,} images):
  shapes {', '.join(S.SHAPES)} x colours {', '.join(S.COLOURS)} x {', '.join(S.BACKGROUNDS)} backgrounds,
  random size and position, small colour jitter, drawn with 4x supersampling. Captions from templates such as
  "a red triangle on a dark background", "a triangle, red", "red triangle"; 12% name only the shape or only the
  colour; 15% of shape and colour words are said with a synonym ("three sided shape", "pyramid", "crimson").
  Paraphrase prompts for the erasure-under-rewording metric use held-out templates
  ("a picture of a three sided shape that is red") that never appear in a training caption.
- **Recipe:** `python -m unlearn_core train shapes-t2i` (seed {seed}): text encoder and UNet trained jointly,
  AdamW lr {recipe.lr} (weight decay {recipe.weight_decay}), {recipe.warmup} warm-up steps and cosine decay to
  {recipe.min_lr_share:g} x lr, {recipe.steps} steps at batch {recipe.batch_size}, gradient clip
  {recipe.grad_clip}, EMA {recipe.ema_decay} (shipped), {recipe.prompt_dropout:.0%} of captions replaced by the
  empty prompt for classifier-free guidance; cosine noise schedule (1000 steps, epsilon prediction).
  Training took {train_s / 60:.1f} min on a 2-core CPU (one thread); a killed run resumes from
  `checkpoint.pt`.
- **Sampling:** deterministic DDIM (eta 0, trailing timesteps, x0 clipped) with classifier-free guidance
  {quality['guidance']:g} against the empty prompt and {quality['steps']} steps; each image's noise comes from
  its own seed.
- **Concept classifier** (`classifier/`, {classifier_s / 60:.1f} min to train): a small CNN with heads for the
  shape (5 shapes + "none"), colour and background, trained on freshly rendered images with light blur and
  noise. On 4,000 held-out rendered images: shape {classifier_acc['shape']:.1f}%, colour
  {classifier_acc['colour']:.1f}%, background {classifier_acc['background']:.1f}%.
- **Quality:** over {quality['samples']} samples (every shape x colour x background prompt, {QUALITY_SEEDS} seeds
  each) the classifier finds the prompted shape in **{quality['shape']:.1f}%**, the prompted colour in
  **{quality['colour']:.1f}%** and both in **{quality['both']:.1f}%** ({per_shape}).
- **Files:** `unet/`, `text_encoder/` (safetensors + config), `tokenizer/` (`vocab.json`), `scheduler/`,
  `model_index.json`, `classifier/`, `recipe.json` (recipe, measured quality).
"""


def train_shapes_t2i(out_dir: Path | None = None, seed: int = SHAPES_T2I_SEED, progress=None,
                     forget: str | None = None, recipe=None) -> dict:
    """Train the concept classifier, then the text-to-image model, measure it, and write the folder."""
    if forget is not None:
        raise UnlearningInputError("shapes-t2i ships no Retrain references; train it without --forget")
    recipe = recipe or T2IRecipe()
    out_dir = Path(out_dir) if out_dir is not None else SHAPES_T2I_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if (classifier_dir(out_dir) / "model.safetensors").exists():
        classifier = ConceptClassifier.from_pretrained(classifier_dir(out_dir))
        raw = json.loads((classifier_dir(out_dir) / "config.json").read_text())
        classifier_acc, classifier_s = raw["accuracy"], raw["train_s"]
    else:
        classifier, classifier_acc = train_classifier(seed, progress=progress)
        classifier_s = time.perf_counter() - start
        classifier.save_pretrained(classifier_dir(out_dir), extra={"accuracy": classifier_acc, "train_s": classifier_s})
    if progress:
        progress(0.0, f"concept classifier: {classifier_acc}")
    start = time.perf_counter()
    model = train_t2i(seed, recipe, checkpoint_dir=out_dir, progress=progress)
    train_s = time.perf_counter() - start
    if progress:
        progress(1.0, "measuring sample quality with the concept classifier")
    quality = measure_quality(model, classifier)
    resumed = getattr(model, "resumed_with_new_budget", None)
    card = _card(model, recipe, seed, quality, classifier_acc, train_s, classifier_s)
    if resumed:
        changes = "; ".join(f"at step {r['step']} the budget changed from {r['steps_before']} steps" for r in resumed)
        card += (f"\nNote: the shipped run's step budget was changed while it ran ({changes}; a resumed run follows "
                 f"the new cosine schedule from its step on), to fit the CPU time available. The training time covers "
                 f"the last resumed part only.\n")
    model.save_pretrained(out_dir, card)
    save_recipe(out_dir, recipe, {"seed": seed, "quality": quality, "classifier_accuracy": classifier_acc,
                                  "train_s": train_s, "guidance": DEFAULT_GUIDANCE, "steps": DEFAULT_STEPS,
                                  "resumed_with_new_budget": resumed})
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)
    return {"out_dir": str(out_dir), "quality": quality, "classifier_accuracy": classifier_acc, "train_s": train_s}


def _load_shapes_t2i() -> TextToImage:
    return TextToImage.from_pretrained(SHAPES_T2I_DIR)


def shapes_task(request: ForgetRequest, seed: int, model_name: str = "shapes-t2i", forget_limit: int = 512,
                retain_limit: int = 2048, folder: Path | None = None) -> TextDiffusionTask:
    """The adapter for shapes-t2i. Forget items: images of the concept whose caption names it with the user's
    words; retain items: images without the concept whose caption names none of its words (random subsets of
    ``forget_limit`` and ``retain_limit`` items, fixed by the data seed, so saliency and Fisher passes stay
    short). The remapped captions swap the concept's words for each other concept of the same kind."""
    if request.kind != "concept":
        raise UnlearningInputError(f"{model_name} forgets a concept named in prompts: use concept:WORDS, e.g. "
                                   f"concept:triangle; got '{request}'")
    model = base_model(model_name)
    folder = SHAPES_T2I_DIR if folder is None else Path(folder)
    tokenizer = model.tokenizer
    concept = resolve_concept(str(request.value), tokenizer)
    c = S.concept_table()[concept]
    names = S.NAMES_BY_KIND[c.kind]
    data = S.make_dataset()
    label = {"shape": data.shape, "colour": data.colour, "background": data.background}[c.kind]
    phrases = sorted((k for k, v in S.concept_table().items() if v.kind == c.kind and v.index == c.index),
                     key=len, reverse=True)
    padded = [f" {' '.join(tokenizer.split(t))} " for t in data.captions]
    names_it = torch.tensor([any(f" {p} " in t for p in phrases) for t in padded])
    says_words = torch.tensor([f" {concept} " in t for t in padded])
    depicts = label == c.index
    # Forget: the concept's images captioned with the user's own words (as ESD/SalUn erase "nudity" by that
    # word); its synonyms are left to the paraphrase metric. Retain: neither the concept nor any of its words.
    forget = depicts & says_words
    retain = ~depicts & ~names_it
    subset = torch.Generator().manual_seed(S.DATA_SEED)
    retain_idx = torch.nonzero(retain).flatten()
    retain_idx = retain_idx[torch.randperm(len(retain_idx), generator=subset)][:retain_limit].sort().values
    forget_idx = torch.nonzero(forget).flatten()
    forget_idx = forget_idx[torch.randperm(len(forget_idx), generator=subset)][:forget_limit].sort().values
    others = [n for i, n in enumerate(names) if i != c.index]
    remapped = []
    for i in forget_idx.tolist():
        remapped.append([padded[i].replace(f" {concept} ", f" {o} ", 1).strip() for o in others])
    images = data.images
    prompts = EvalPrompts(forget=S.eval_prompts(c.kind, c.index, True), retain=S.eval_prompts(c.kind, c.index, False),
                          paraphrase=S.paraphrase_prompts(c.kind, c.index) if c.kind != "background" else [])
    real = images[retain_idx[:1000]]
    return TextDiffusionTask(
        model_name, concept, tokenizer, model.to_latents(images[forget_idx]), [data.captions[i] for i in forget_idx],
        model.to_latents(images[retain_idx]), [data.captions[i] for i in retain_idx], remapped,
        ShapesEvaluator(load_classifier(folder)), prompts, seed, DEFAULT_GUIDANCE, DEFAULT_STEPS,
        real_retain01=real, original=model)


register_model(ModelSpec(
    name="shapes-t2i", family="text-diffusion",
    description="Tiny text-to-image model (16x16 coloured shapes, CLIP-style text encoder + cross-attention UNet)",
    forget_kinds=("concept",), num_classes=None,
    load=_load_shapes_t2i, make_task=shapes_task, train=train_shapes_t2i,
    available=lambda: (SHAPES_T2I_DIR / "unet" / "diffusion_pytorch_model.safetensors").exists(),
    default_forget="concept:triangle", bench_methods=("salun", "esd", "sfr_on", "slug"),
    # the run budget's prices, measured on one thread from benchmarks/shapes-t2i.json and timed evaluations
    cost=CostProfile(pass_s=1.04e-2, score_s=5.7, evaluation_s=14.0),
))


def _register_method_defaults() -> None:
    """Defaults of the shared methods for text-to-image diffusion, measured on shapes-t2i erasing
    concept:triangle (benchmarks/shapes-t2i.md). Adam at diffusion learning rates; RL/SalUn batches are half
    forget, half retain items (lr 1e-3 erases too but halves preservation; 3e-4 keeps 90%, 2e-4 all of it).
    ESD-x (cross-attention only) with eta 3: at the paper's eta 1-2 and 80 steps half of the triangle prompts
    still draw triangles; more steps at eta 2 cost preservation instead."""
    kind = "text-diffusion"
    mixed = dict(optimizer="adam", lr=2e-4, weight_decay=0.0, batch_size=32, forget_share=0.5, epochs=1.0,
                 forget_weight=1.0)
    register_task_defaults("salun", kind, ratio=0.5, **mixed)
    register_task_defaults("salun_soft", kind, **mixed)
    register_task_defaults("rl", kind, **mixed)
    register_task_defaults("ga", kind, optimizer="adam", lr=1e-4, weight_decay=0.0, batch_size=32, epochs=0.5,
                           retain_weight=1.0, clip=1.0)
    register_task_defaults("ft", kind, optimizer="adam", lr=1e-4, weight_decay=0.0, batch_size=32, epochs=0.3)
    register_task_defaults("l1_sparse", kind, optimizer="adam", lr=1e-4, weight_decay=0.0, batch_size=32,
                           epochs=0.3, alpha=1e-6)
    register_task_defaults("sfr_on", kind, iterations=60, forget_every=1, alpha0=10.0, lr=1e-4, clip=1.0,
                           batch_size=32, weight_decay=0.0, fisher_samples=256, optimizer="adam")
    register_task_defaults("esd", kind, iterations=80, lr=2e-4, eta=3.0, batch_size=32, parameters="esd-x")
    # SLUG edits the text encoder, as the paper does for Stable Diffusion: one ascent step on a UNet layer of
    # the all-layer front erases the triangle only by breaking every prompt (preservation 6%).
    register_task_defaults("slug", kind, retain_samples=256, batch_size=64, search_in="text_encoder")


_register_method_defaults()
