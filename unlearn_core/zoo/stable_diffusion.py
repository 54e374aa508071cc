"""Stable Diffusion as a user-given model: its registration (``configure("stable-diffusion", HubOptions(...))``
in :mod:`.hub`), its loading and its task factory (forget/retain sets from folders, or drawn by the model
itself as SLUG does; the adapter is :class:`~unlearn_core.tasks.stable_diffusion.StableDiffusionTask`)."""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..data import ForgetRequest
from ..diffusion.clip_score import ClipScorer
from ..errors import UnlearningInputError
from ..models.hub import SD_FILES, load_clip, loadable
from ..models.sd import load_stable_diffusion
from ..tasks.stable_diffusion import (DEFAULT_RETAIN_PROMPTS, ClipConceptEvaluator, StableDiffusionTask,
                                      concept_prompts, drawn_set, folder_set, pixel_size)
from ..tasks.text_diffusion import EvalPrompts
from ..user_data import read_lines
from .hub_options import HubOptions
from .registry import ModelSpec, base_model


@functools.lru_cache(maxsize=2)
def _pipeline(path: str, device: str | None, dtype: str | None):
    return load_stable_diffusion(path, device, dtype)


@functools.lru_cache(maxsize=2)
def _scorer(path: str, device: str | None, dtype: str | None) -> ClipScorer:
    return ClipScorer(load_clip(path, device, dtype))


def _sets(options: HubOptions, model, concept: str, retain_prompts: list[str]):
    """Forget and retain images in [0, 1] with captions: from --forget-dir/--retain-dir (or DATA/forget,
    DATA/retain) when they hold images, else drawn by the model from the concept / retain prompts."""
    size = pixel_size(model)
    limit = options.max_images
    data = Path(options.data) if options.data else None
    forget_dir = options.forget_dir or (data / "forget" if data and (data / "forget").is_dir() else None)
    retain_dir = options.retain_dir or (data / "retain" if data and (data / "retain").is_dir() else None)
    forget_x, forget_captions = folder_set(forget_dir, size, concept, limit) if forget_dir else (None, [])
    retain_x, retain_captions = (folder_set(retain_dir, size, retain_prompts[0], limit) if retain_dir
                                 else (None, []))
    if forget_x is None or len(forget_x) == 0:
        prompts = forget_captions or concept_prompts(concept)
        forget_x, forget_captions = drawn_set(model, prompts, options.generate, 70_000, options.guidance,
                                              options.steps)
    if retain_x is None or len(retain_x) == 0:
        prompts = retain_captions or retain_prompts
        retain_x, retain_captions = drawn_set(model, prompts, options.generate, 80_000, options.guidance,
                                              options.steps)
    return forget_x, forget_captions, retain_x, retain_captions


def make_sd_task(name: str, options: HubOptions, request: ForgetRequest, seed: int) -> StableDiffusionTask:
    if request.kind != "concept":
        raise UnlearningInputError(f"Stable Diffusion forgets a concept named in prompts: use concept:WORDS, e.g. "
                                   f"concept:\"mickey mouse\"; got '{request}'")
    concept = " ".join(str(request.value).split())
    model = base_model(name)
    model.tokenizer.encode([concept])  # an over-long concept fails here, with the tokenizer's message
    retain_prompts = read_lines(options.prompts, "prompts") if options.prompts else list(DEFAULT_RETAIN_PROMPTS)
    retain_prompts = [p for p in retain_prompts if concept.lower() not in p.lower()]
    if not retain_prompts:
        raise UnlearningInputError("every retain prompt names the concept; give prompts without it (--prompts)")
    forget_x, forget_captions, retain_x, retain_captions = _sets(options, model, concept, retain_prompts)
    generator = torch.Generator().manual_seed(seed)
    if options.anchor:
        remapped = [[c.replace(concept, options.anchor) if concept in c else options.anchor] for c in forget_captions]
    else:  # SalUn's random other label: a random retain caption per forget caption
        pick = torch.randint(0, len(retain_captions), (len(forget_captions), 4), generator=generator)
        remapped = [[retain_captions[int(i)] for i in row] for row in pick]
    scorer = _scorer(options.clip_path, options.device, options.dtype) if options.clip_path else None
    evaluator = ClipConceptEvaluator(scorer, concept, retain_prompts) if scorer is not None else None
    eval_retain = retain_prompts[:8]
    prompts = EvalPrompts(forget=concept_prompts(concept), retain=eval_retain, paraphrase=[],
                          seeds_forget=options.eval_seeds, seeds_retain=options.eval_seeds,
                          score_seeds_forget=max(1, options.eval_seeds // 2), score_seeds_retain=1)
    with torch.no_grad():
        x_forget, x_retain = model.to_latents(forget_x).cpu(), model.to_latents(retain_x).cpu()
    return StableDiffusionTask(name, concept, model.tokenizer, x_forget, forget_captions, x_retain, retain_captions,
                               remapped, evaluator, prompts, seed, options.guidance, options.steps,
                               real_retain01=retain_x if scorer is not None else None, original=model,
                               unet_part=options.unet_part, scorer=scorer)


def sd_spec(name: str, options: HubOptions) -> ModelSpec:
    def no_training(**_):
        raise UnlearningInputError("Stable Diffusion is pretrained elsewhere; there is nothing to train here")

    return ModelSpec(
        name=name, family="text-diffusion",
        description=f"Stable Diffusion from {options.path} (UNet: {options.unet_part}; "
                    f"{'CLIP evaluation' if options.clip_path else 'no CLIP model: self-scored'})",
        forget_kinds=("concept",), num_classes=None,
        load=lambda: _pipeline(options.path, options.device, options.dtype),
        make_task=lambda request, seed: make_sd_task(name, options, request, seed), train=no_training,
        available=lambda: loadable(options.path, SD_FILES), default_forget="concept:mickey mouse")
