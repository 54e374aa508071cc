"""A model-agnostic text-to-image wrapper with Stable Diffusion's shape: tokenizer -> text encoder -> a
cross-attention ``UNet2DConditionModel`` denoising pixels (no vae) or latents (with an ``AutoencoderKL``).

``TextToImage`` is an ``nn.Module`` whose parameters are the text encoder's and the UNet's (and the vae's
when present); the scheduler and the tokenizer are plain attributes. Images are in [0, 1] at the wrapper's
edges; the UNet works in "model space" (``to_latents`` / ``decode``).

Tokenizers share one interface (:class:`PromptTokenizer`): ``encode(prompts) -> input_ids`` that raises
``UnlearningInputError`` on empty prompts, unknown words and over-long prompts. :class:`WordTokenizer` is a
whitespace word-level tokenizer over a fixed vocabulary (the project's own small models); other tokenizers
(e.g. an adapter around ``CLIPTokenizer``) register a loader in ``TOKENIZER_LOADERS``.

Saved in diffusers' folder layout: ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/`` (and
``vae/``), ``model_index.json`` and a model card ``README.md``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..diffusion.training import squared_error
from ..errors import UnlearningInputError, shown
from .pretrained import check_weights, reading

TOKENIZER_CONFIG = "tokenizer_config.json"
VOCAB_NAME = "vocab.json"
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
# Prompts per sampler batch (a guided step runs the UNet on twice as many); bounded for large hub models.
T2I_SAMPLE_BATCH = 128


class PromptTokenizer:
    """The interface every tokenizer of a :class:`TextToImage` offers."""

    max_length: int

    def encode(self, prompts: Sequence[str] | str, allow_empty: bool = False) -> torch.Tensor:
        """Token ids (N, max_length). Raises UnlearningInputError on an empty prompt (unless ``allow_empty``,
        used for the null prompt of classifier-free guidance), unknown words or a prompt that is too long."""
        raise NotImplementedError

    def save_pretrained(self, folder: str | Path) -> None:
        raise NotImplementedError


def _as_list(prompts: Sequence[str] | str) -> list[str]:
    if isinstance(prompts, str):
        return [prompts]
    prompts = list(prompts)
    for p in prompts:
        if not isinstance(p, str):
            raise UnlearningInputError(f"prompts must be text; got {shown(p)}")
    return prompts


class WordTokenizer(PromptTokenizer):
    """Lower-cased words (letters only; punctuation and hyphens separate words) over a fixed vocabulary,
    wrapped as ``<bos> w1 .. wk <eos>`` and padded with ``<pad>`` to ``max_length``."""

    def __init__(self, words: Sequence[str], max_length: int = 16):
        words = [w for w in words if w not in SPECIAL_TOKENS]
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self.words = list(words)
        self.max_length = int(max_length)
        self.ids = {tok: i for i, tok in enumerate(list(SPECIAL_TOKENS) + self.words)}
        self.pad_id, self.bos_id, self.eos_id = (self.ids[t] for t in SPECIAL_TOKENS)

    @property
    def vocab_size(self) -> int:
        return len(self.ids)

    @staticmethod
    def split(prompt: str) -> list[str]:
        return re.findall(r"[a-z]+", prompt.lower())

    def vocabulary_hint(self) -> str:
        return f"the vocabulary has {len(self.words)} words: {', '.join(self.words)}"

    def encode(self, prompts: Sequence[str] | str, allow_empty: bool = False) -> torch.Tensor:
        prompts = _as_list(prompts)
        limit = self.max_length - 2
        out = torch.full((len(prompts), self.max_length), self.pad_id, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            words = self.split(prompt)
            if not words and not allow_empty:
                raise UnlearningInputError(
                    f"empty prompt {shown(prompt)}: write at least one word, e.g. 'a red triangle'; "
                    f"{self.vocabulary_hint()}")
            unknown = sorted({w for w in words if w not in self.ids})
            if unknown:
                raise UnlearningInputError(
                    f"unknown word{'s' if len(unknown) > 1 else ''} {', '.join(repr(w) for w in unknown)} in prompt "
                    f"{shown(prompt)}; {self.vocabulary_hint()}")
            if len(words) > limit:
                raise UnlearningInputError(
                    f"prompt {shown(prompt)} has {len(words)} words; the maximum is {limit} words "
                    f"({self.max_length} tokens with the start and end tokens)")
            ids = [self.bos_id] + [self.ids[w] for w in words] + [self.eos_id]
            out[row, :len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        inverse = {i: t for t, i in self.ids.items()}
        return [" ".join(inverse[int(i)] for i in row if int(i) not in (self.pad_id, self.bos_id, self.eos_id))
                for row in ids]

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_NAME).write_text(json.dumps(self.ids, indent=1) + "\n")
        (folder / TOKENIZER_CONFIG).write_text(json.dumps(
            {"tokenizer_class": "WordTokenizer", "model_max_length": self.max_length,
             "pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>"}, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "WordTokenizer":
        folder = Path(folder)
        config = json.loads((folder / TOKENIZER_CONFIG).read_text())
        ids = json.loads((folder / VOCAB_NAME).read_text())
        words = [t for t, _ in sorted(ids.items(), key=lambda kv: kv[1]) if t not in SPECIAL_TOKENS]
        tokenizer = cls(words, config["model_max_length"])
        if tokenizer.ids != ids:
            raise ValueError(f"{folder}: vocabulary ids are not in the expected order")
        return tokenizer


# tokenizer_class in tokenizer/tokenizer_config.json -> loader(folder). Other tokenizers register here.
TOKENIZER_LOADERS: dict[str, Callable[[Path], PromptTokenizer]] = {"WordTokenizer": WordTokenizer.from_pretrained}


def load_tokenizer(folder: str | Path) -> PromptTokenizer:
    folder = Path(folder)
    config = json.loads((folder / TOKENIZER_CONFIG).read_text())
    name = config.get("tokenizer_class", "")
    if name not in TOKENIZER_LOADERS:
        raise UnlearningInputError(f"{folder}: tokenizer class {shown(name)} is not supported; known: "
                                   f"{', '.join(TOKENIZER_LOADERS)}")
    return TOKENIZER_LOADERS[name](folder)


def ddim_step(x: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor, a_prev: torch.Tensor,
              clip: float | None) -> torch.Tensor:
    """One deterministic DDIM (eta = 0) update; with ``clip`` the x0 estimate is clipped to [-clip, clip]
    and eps recomputed from it (as the class-conditional sampler does in pixel space)."""
    x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps


class TextToImage(nn.Module):
    """tokenizer + text encoder + cross-attention UNet (+ optional vae) + noise scheduler."""

    def __init__(self, text_encoder: nn.Module, unet: nn.Module, scheduler, tokenizer: PromptTokenizer,
                 vae: nn.Module | None = None, card: str | None = None):
        super().__init__()
        self.text_encoder = text_encoder
        self.unet = unet
        self.vae = vae
        self.scheduler = scheduler
        self.tokenizer = tokenizer
        self.card = card

    # --- text -------------------------------------------------------------------------------------------
    def tokenize(self, prompts: Sequence[str] | str, allow_empty: bool = False) -> torch.Tensor:
        return self.tokenizer.encode(prompts, allow_empty=allow_empty)

    def null_ids(self, n: int = 1) -> torch.Tensor:
        """Token ids of the empty prompt (the unconditional branch of classifier-free guidance)."""
        return self.tokenizer.encode([""] * n, allow_empty=True)

    def encode_prompts(self, prompts: Sequence[str] | str | torch.Tensor) -> torch.Tensor:
        """Text-encoder hidden states (N, L, D) for prompts or token ids."""
        ids = prompts if torch.is_tensor(prompts) else self.tokenize(prompts)
        return self.text_encoder(input_ids=ids.to(self.device)).last_hidden_state

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    # --- denoising ----------------------------------------------------------------------------------------
    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, t, c); ``cond`` is token ids (N, L) of dtype long or encoder states (N, L, D)."""
        states = self.encode_prompts(cond) if cond.dtype == torch.long else cond
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        return self.unet(x_t, t, encoder_hidden_states=states).sample

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.predict_noise(x_t, t, cond)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.scheduler.alphas_cumprod.float()

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        config = self.unet.config
        size = config.sample_size
        size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        return (config.in_channels, *size)

    def to_latents(self, images01: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the UNet's space: [-1, 1] pixels, or scaled vae latents."""
        x = images01 * 2 - 1
        if self.vae is None:
            return x
        return self.vae.encode(x).latent_dist.mean * self.vae.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The UNet's space -> [0, 1] images."""
        x = latents if self.vae is None else self.vae.decode(latents / self.vae.config.scaling_factor).sample
        return ((x + 1) / 2).clamp(0, 1)

    def noisy(self, x0: torch.Tensor, generator: torch.Generator | None = None,
              t: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_t, t, eps) at uniform random timesteps (or the given ``t``)."""
        a_bar = self.alphas_cumprod
        n = x0.shape[0]
        if t is None:
            t = torch.randint(0, len(a_bar), (n,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = a_bar[t].view(n, *([1] * (x0.ndim - 1))).to(x0.dtype)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise, t, noise

    def noise_loss(self, x0: torch.Tensor, cond: torch.Tensor, reduction: str = "mean",
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """The DDPM objective ||eps - eps_theta(x_t, t, c)||^2 at a uniform t (per-sample means with "none")."""
        x_t, t, noise = self.noisy(x0, generator)
        return squared_error(self.predict_noise(x_t, t, cond), noise, reduction)

    # --- sampling -----------------------------------------------------------------------------------------
    def sample_latents(self, prompts: Sequence[str] | torch.Tensor, seeds: Sequence[int], guidance: float,
                       steps: int, batch_size: int | None = None) -> torch.Tensor:
        """Deterministic DDIM (eta 0, trailing timesteps) with classifier-free guidance against the empty
        prompt: eps = eps(x, "") + w (eps(x, c) - eps(x, "")). Each image's starting noise comes from its own
        seed, so an image depends only on (weights, prompt, seed, guidance, steps). Runs under
        ``torch.inference_mode()``; the result is an ordinary tensor."""
        from ..diffusion.sampling import outside_inference

        return outside_inference(self._sampled(prompts, seeds, guidance, steps, batch_size, decode=False))

    def sample(self, prompts: Sequence[str] | torch.Tensor, seeds: Sequence[int], guidance: float, steps: int,
               batch_size: int | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] for prompts (or token ids) and one seed each; see sample_latents."""
        from ..diffusion.sampling import outside_inference

        return outside_inference(self._sampled(prompts, seeds, guidance, steps, batch_size, decode=True))

    def _sampled(self, prompts, seeds, guidance, steps, batch_size, decode: bool) -> torch.Tensor:
        from ..diffusion.sampling import ddim_timesteps, noise_for_seeds, validate_sampling

        batch_size = T2I_SAMPLE_BATCH if batch_size is None else int(batch_size)
        a_bar = self.alphas_cumprod.double()
        guidance, steps = validate_sampling(guidance, steps, len(a_bar))
        ids = prompts if torch.is_tensor(prompts) else self.tokenize(prompts)
        seeds = [int(s) for s in seeds]
        if len(ids) != len(seeds):
            raise UnlearningInputError(f"one seed per prompt is needed; got {len(ids)} prompts and {len(seeds)} seeds")
        was_training = self.training
        self.eval()
        times = ddim_timesteps(len(a_bar), steps)
        clip = 1.0 if self.vae is None else None
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, len(seeds), batch_size):
                    chunk = ids[start:start + batch_size]
                    n = len(chunk)
                    x = noise_for_seeds(seeds[start:start + batch_size], self.latent_shape).double()
                    states = self.encode_prompts(torch.cat([chunk, self.null_ids(n)]) if guidance not in (0.0, 1.0)
                                                 else (chunk if guidance == 1.0 else self.null_ids(n)))
                    for i, t in enumerate(times):
                        a_t = a_bar[t]
                        a_prev = a_bar[times[i + 1]] if i + 1 < len(times) else torch.tensor(1.0, dtype=torch.float64)
                        if guidance in (0.0, 1.0):
                            eps = self.unet(x.float(), torch.full((n,), int(t)),
                                            encoder_hidden_states=states).sample.double()
                        else:
                            both = self.unet(torch.cat([x, x]).float(), torch.full((2 * n,), int(t)),
                                             encoder_hidden_states=states).sample.double()
                            eps = both[n:] + guidance * (both[:n] - both[n:])
                        x = ddim_step(x, eps, a_t, a_prev, clip)
                    x = x.float()
                    out.append(self.decode(x) if decode else x)
                if out:
                    return torch.cat(out)
                return self.decode(torch.empty((0, *self.latent_shape))) if decode else \
                    torch.empty((0, *self.latent_shape))
        finally:
            self.train(was_training)

    # --- parameters -----------------------------------------------------------------------------------------
    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        """The text encoder's and the UNet's parameters (never the vae's), by qualified name."""
        return {n: p for n, p in self.named_parameters() if not n.startswith("vae.")}

    # --- files ------------------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, card: str | None = None, extra: dict | None = None) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(str(folder / "unet"), safe_serialization=True)
        self.text_encoder.save_pretrained(str(folder / "text_encoder"), safe_serialization=True)
        self.tokenizer.save_pretrained(folder / "tokenizer")
        self.scheduler.save_pretrained(str(folder / "scheduler"))
        if self.vae is not None:
            self.vae.save_pretrained(str(folder / "vae"), safe_serialization=True)
        index = {"_class_name": "TextToImage", "unet": ["diffusers", type(self.unet).__name__],
                 "text_encoder": ["transformers", type(self.text_encoder).__name__],
                 "tokenizer": ["unlearn_core", type(self.tokenizer).__name__],
                 "scheduler": ["diffusers", type(self.scheduler).__name__],
                 "vae": ["diffusers", type(self.vae).__name__] if self.vae is not None else [None, None],
                 **(extra or {})}
        (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        card = card if card is not None else self.card
        if card is not None:
            (folder / "README.md").write_text(card)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "TextToImage":
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel

        folder = Path(folder)
        for part in ("unet", "text_encoder", "tokenizer", "scheduler"):
            if not (folder / part).is_dir():
                raise UnlearningInputError(f"no text-to-image model in {folder}: the {part}/ folder is missing")
        with reading(folder / "unet"):
            unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"), use_safetensors=True)
        with reading(folder / "text_encoder"):
            text_encoder = CLIPTextModel.from_pretrained(str(folder / "text_encoder"), use_safetensors=True)
        with reading(folder / "scheduler"):
            scheduler = DDPMScheduler.from_pretrained(str(folder / "scheduler"))
        with reading(folder / "vae"):
            vae = (AutoencoderKL.from_pretrained(str(folder / "vae"), use_safetensors=True)
                   if (folder / "vae").is_dir() else None)
        for part, module in (("unet", unet), ("text_encoder", text_encoder), ("vae", vae)):
            if module is not None:
                check_weights(module.state_dict(), folder / part)
        card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
        with reading(folder / "tokenizer"):
            tokenizer = load_tokenizer(folder / "tokenizer")
        return cls(text_encoder.eval(), unet.eval(), scheduler, tokenizer, vae, card).eval()
