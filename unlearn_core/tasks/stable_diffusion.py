"""Stable Diffusion as a user-given model: its data (folders, or drawn by the model itself as SLUG does), its
evaluation (CLIP when a CLIP model is given; a guidance-direction score and the image change always) and its task
adapter; the model's registration is :mod:`unlearn_core.zoo.stable_diffusion`.

The task is the shared text-to-image adapter (:class:`~unlearn_core.tasks.text_diffusion.TextDiffusionTask`)
with three Stable Diffusion specifics: methods train the UNet (all of it, or its cross-attention with
``--unet-part cross-attention``) while SLUG edits one text-encoder layer as in its paper; trained parts are
upcast to float32 and are the only ones with gradients; and without a CLIP model the scores come from the
model itself (see :class:`StableDiffusionTask`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import UnlearningInputError, shown
from ..models.hub import only_these_train
from ..models.sd import upcast_part
from ..user_data import image_files, load_images, read_lines
from .text_diffusion import TextDiffusionTask

# Prompts a model is judged on when the user gives none (everyday scenes far from most erased concepts).
DEFAULT_RETAIN_PROMPTS = (
    "a photo of a dog on the grass", "a bowl of fruit on a wooden table", "a mountain lake at sunrise",
    "a red car parked on a city street", "a portrait of an old man with a beard", "a cup of coffee on a desk",
    "a sailing boat on the sea", "a house with a garden",
)
CONCEPT_TEMPLATES = ("{}", "a photo of {}", "a painting of {}", "a picture of {} in a garden")
UNET_PARTS = ("full", "cross-attention")


def concept_prompts(concept: str) -> list[str]:
    return [t.format(concept) for t in CONCEPT_TEMPLATES]


# --- data ---------------------------------------------------------------------------------------------

def pixel_size(model) -> int:
    """Image side the pipeline draws: latent side x the vae's downsampling factor."""
    side = model.latent_shape[-1]
    if model.vae is None:
        return side
    return side * 2 ** (len(model.vae.config.block_out_channels) - 1)


def folder_set(folder: str | Path, size: int, default_prompt: str, limit: int) -> tuple[torch.Tensor, list[str]]:
    """Images (N, 3, size, size) in [0, 1] from a folder (centre-cropped, resized) with their prompts:
    ``prompts.txt`` beside them holds one prompt per image (file-name order) or one line for all; without
    it every image gets ``default_prompt``. A folder with only ``prompts.txt`` gives prompts and no images."""
    folder = Path(folder)
    files = image_files(folder, limit)
    prompt_file = folder / "prompts.txt"
    prompts = read_lines(prompt_file, "prompts") if prompt_file.exists() else []
    if not files:
        return torch.empty(0, 3, size, size), prompts
    if 1 < len(prompts) < len(files):
        raise UnlearningInputError(f"{prompt_file} has {len(prompts)} prompts for {len(files)} images; give one "
                                   "line per image (in file-name order) or a single line for all")
    prompts = prompts[:len(files)] if len(prompts) > 1 else [prompts[0] if prompts else default_prompt] * len(files)
    tensors = []
    for image in load_images(files):
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
        tensors.append(torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(tensors), prompts


def drawn_set(model, prompts: Sequence[str], per_prompt: int, seed_offset: int, guidance: float,
              steps: int) -> tuple[torch.Tensor, list[str]]:
    """SLUG's recipe when no images are given: the model draws its own images for the prompts."""
    all_prompts = [p for p in prompts for _ in range(per_prompt)]
    seeds = [seed_offset + i for i in range(len(all_prompts))]
    return model.sample(all_prompts, seeds, guidance, steps).cpu(), all_prompts


# --- evaluation ---------------------------------------------------------------------------------------

class ClipConceptEvaluator:
    """A CLIP model as the text-to-image adapter's ConceptEvaluator (all inputs are [0, 1] images).

    ``shows``: CLIP matches the image to the concept rather than to any anchor (the retain prompts);
    ``matches``: CLIP matches the image to its own prompt among the retain prompts and the concept;
    ``features``: CLIP image embeddings (for a CLIP-feature Frechet distance, an FID stand-in).
    """

    def __init__(self, scorer, concept: str, anchors: Sequence[str]):
        self.scorer, self.concept, self.anchors = scorer, concept, list(anchors)

    def shows(self, images01: torch.Tensor, concept: str) -> torch.Tensor:
        labels = [concept] + [a for a in self.anchors if a != concept]
        return self.scorer.match(images01, labels) == 0

    def matches(self, images01: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        labels = list(dict.fromkeys(list(prompts) + self.anchors + [self.concept]))
        truth = torch.tensor([labels.index(p) for p in prompts])
        return self.scorer.match(images01, labels) == truth

    def features(self, images01: torch.Tensor) -> np.ndarray:
        return self.scorer.image_embeddings(images01).double().numpy()


class StableDiffusionTask(TextDiffusionTask):
    """The text-to-image adapter for a loaded Stable Diffusion.

    Scores. With a CLIP model the adapter's own metrics (``erasure``, ``preservation``, CLIP-feature ``fid``)
    are reported, plus the CLIP-score of the concept and retain samples with their prompts. Always reported,
    and the forget/retain scores when there is no CLIP model:

    - ``forget_alignment`` / ``retain_alignment``: how much of the original model's guidance direction
      d_0 = eps_0(x_t, c) - eps_0(x_t, "") the model still follows, 100 sum <d, d_0> / sum <d_0, d_0> over
      fixed noisy latents, timesteps and the concept (or retain) prompts; 100 for the original, 0 when the
      prompt no longer steers towards what the original drew, negative when it steers away (ESD);
    - ``forget_change`` / ``retain_change``: mean absolute pixel change (x100) from the original's images for
      the same prompts and seeds.
    """

    score_timesteps = (200, 500, 800)
    score_latents = 4

    def __init__(self, *args, original=None, unet_part: str = "full", scorer=None, **kwargs):
        super().__init__(*args, original=original, **kwargs)
        if unet_part not in UNET_PARTS:
            raise UnlearningInputError(f"--unet-part must be one of {', '.join(UNET_PARTS)}; got {shown(unet_part)}")
        self.unet_part, self.scorer = unet_part, scorer
        generator = torch.Generator().manual_seed(self.seed)
        x0 = self.x_forget[:self.score_latents]
        times = torch.tensor(self.score_timesteps)
        self._t = times.repeat(len(x0))
        x0 = x0.repeat_interleave(len(times), 0)
        a = original.alphas_cumprod[self._t].view(-1, *([1] * (x0.ndim - 1)))
        self._x_t = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=generator)
        self._reference = {w: self._direction(original, w) for w in ("forget", "retain")}
        self._original_images = self._eval_images(original)

    # --- scores ---------------------------------------------------------------------------------------
    def _prompts(self, which: str) -> list[str]:
        return self.prompts.forget if which == "forget" else self.prompts.retain

    @torch.no_grad()
    def _direction(self, model, which: str) -> torch.Tensor:
        n = len(self._x_t)
        rows = [model.predict_noise(self._x_t, self._t, model.tokenize([p] * n)) -
                model.predict_noise(self._x_t, self._t, model.null_ids(n)) for p in self._prompts(which)]
        return torch.stack(rows).float().cpu()

    def alignment(self, model, which: str) -> float:
        d, d0 = self._direction(model, which), self._reference[which]
        return float(100.0 * (d * d0).sum() / (d0 * d0).sum().clamp_min(1e-12))

    def forget_score(self, model) -> float:
        return super().forget_score(model) if self.scorer is not None else self.alignment(model, "forget")

    def retain_score(self, model) -> float:
        return super().retain_score(model) if self.scorer is not None else self.alignment(model, "retain")

    def forget_target(self, model) -> float:
        if self.scorer is not None or self.target_forget_score is not None:
            return super().forget_target(model)
        return 0.0  # the concept prompt no longer steers towards what the original drew

    @torch.no_grad()
    def _eval_images(self, model) -> dict[str, torch.Tensor]:
        out = {}
        for which, per_prompt, offset in (("forget", self.prompts.seeds_forget, 0),
                                          ("retain", self.prompts.seeds_retain, 20_000)):
            texts, seeds = self._expand(self._prompts(which), per_prompt, offset)
            out[which] = self.sample(model, texts, seeds).cpu()
        return out

    def evaluation_key(self) -> tuple:
        """The alignment scores use noisy latents drawn by the run's seed: the seed is part of the key."""
        return (*super().evaluation_key(), self.unet_part, self.scorer is not None, self.seed)

    @torch.no_grad()
    def evaluate(self, model) -> dict[str, float]:
        metrics = super().evaluate(model) if self.scorer is not None else {}
        metrics["forget_alignment"] = self.alignment(model, "forget")
        metrics["retain_alignment"] = self.alignment(model, "retain")
        images = self._eval_images(model)
        for which in ("forget", "retain"):
            metrics[f"{which}_change"] = float(100.0 * (images[which] - self._original_images[which]).abs().mean())
            if self.scorer is not None:
                texts, _ = self._expand(self._prompts(which), len(images[which]) // len(self._prompts(which)), 0)
                metrics[f"{which}_clip_score"] = self.scorer.clip_score(images[which], texts)
        return metrics

    # --- parameters -----------------------------------------------------------------------------------
    def parameters_for_unlearning(self, model) -> dict:
        """The UNet's weights (or its cross-attention ones): the text encoder stays as it is, as in ESD and
        SalUn on Stable Diffusion. The UNet is upcast to float32, and only these weights get gradients."""
        upcast_part(model.unet)
        params = {n: p for n, p in model.named_parameters() if n.startswith("unet.")}
        if self.unet_part == "cross-attention":
            params = {n: p for n, p in params.items() if ".attn2." in n}
        return only_these_train(model, params)

    def layer_weights(self, model) -> dict:
        """SLUG on Stable Diffusion edits the text encoder (its paper): the attention and MLP matrices of every
        text-encoder layer are the candidates."""
        return {n: p for n, p in model.named_parameters()
                if n.startswith("text_encoder.") and p.ndim >= 2 and ".layers." in n}
