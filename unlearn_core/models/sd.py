"""Stable Diffusion (a diffusers ``StableDiffusionPipeline`` folder) loaded into the lab's ``TextToImage``.

The pipeline's parts map one to one: ``unet/`` (UNet2DConditionModel), ``text_encoder/`` (CLIPTextModel),
``tokenizer/`` (CLIPTokenizer, adapted to the wrapper's ``encode`` interface by :class:`ClipPromptTokenizer`),
``vae/`` (AutoencoderKL, latents scaled by its ``scaling_factor``) and ``scheduler/`` (its noise schedule;
the wrapper samples with its own deterministic DDIM). The safety checker and feature extractor are not used.

Precision and device: the parts are loaded as "portable" subclasses whose entry points move their inputs to
the part's own device and dtype and hand float32 results back on the caller's device. So the UNet can sit
on the GPU in float16 while the wrapper's glue runs anywhere; a part a method trains is upcast to float32 as
a whole (:func:`upcast_part`), which the same entry points then follow.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Sequence

import torch
from safetensors import SafetensorError
from torch import nn

from ..errors import UnlearningInputError, shown
from ..execution import first_tensor, inputs_to, outputs_to, resolve_device
from .hub import SD_FILES, check_prompt_lengths, local_source, resolve_dtype, token_limit
from .t2i import TOKENIZER_LOADERS, PromptTokenizer, TextToImage


def _portable(method):
    """Run ``method`` on the part's device/dtype; return float32 results on the caller's device."""

    def wrapped(self, *args, **kwargs):
        param = next(self.parameters())
        first = first_tensor(args, kwargs)
        caller = first.device if first is not None else param.device
        args = tuple(inputs_to(a, param.device, param.dtype) for a in args)
        kwargs = {k: inputs_to(v, param.device, param.dtype) for k, v in kwargs.items()}
        return outputs_to(method(self, *args, **kwargs), caller, torch.float32)

    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


def portable_classes():
    """Subclasses of the diffusers/transformers parts with portable entry points (built lazily: importing
    diffusers is slow)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    class PortableUNet2DConditionModel(UNet2DConditionModel):
        forward = _portable(UNet2DConditionModel.forward)

    class PortableCLIPTextModel(CLIPTextModel):
        forward = _portable(CLIPTextModel.forward)

    class PortableAutoencoderKL(AutoencoderKL):
        encode = _portable(AutoencoderKL.encode)
        decode = _portable(AutoencoderKL.decode)

    return PortableUNet2DConditionModel, PortableCLIPTextModel, PortableAutoencoderKL


_PORTABLE = None


def _classes():
    global _PORTABLE
    if _PORTABLE is None:
        _PORTABLE = portable_classes()
    return _PORTABLE


def upcast_part(part: nn.Module) -> nn.Module:
    """Float32 for a whole part a method trains (Adam's states and small updates need it)."""
    if next(part.parameters()).dtype != torch.float32:
        part.float()
    return part


class ClipPromptTokenizer(PromptTokenizer):
    """``CLIPTokenizer`` behind the wrapper's tokenizer interface: ids padded to ``max_length`` (77 for SD)
    as the pipeline pads them; an over-long prompt is an input error rather than silently cut."""

    def __init__(self, tokenizer, max_length: int | None = None):
        self.tokenizer = tokenizer
        self.max_length = int(max_length or token_limit(tokenizer))

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, prompts: Sequence[str] | str, allow_empty: bool = False) -> torch.Tensor:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise UnlearningInputError(f"prompts must be text; got {shown(prompt)}")
            if not prompt.strip() and not allow_empty:
                raise UnlearningInputError("empty prompt: write at least one word, e.g. 'a photo of a cat'")
        check_prompt_lengths(self.tokenizer, prompts, self.max_length)
        return self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=False,
                              return_tensors="pt")["input_ids"]

    def decode(self, ids: torch.Tensor) -> list[str]:
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def save_pretrained(self, folder: str | Path) -> None:
        self.tokenizer.save_pretrained(str(folder))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ClipPromptTokenizer":
        from transformers import CLIPTokenizer

        return cls(CLIPTokenizer.from_pretrained(str(folder), local_files_only=True))


TOKENIZER_LOADERS.setdefault("CLIPTokenizer", ClipPromptTokenizer.from_pretrained)
TOKENIZER_LOADERS.setdefault("CLIPTokenizerFast", ClipPromptTokenizer.from_pretrained)


def load_stable_diffusion(path: str | Path, device: str | torch.device | None = None,
                          dtype: str | torch.dtype | None = None) -> TextToImage:
    """A ``StableDiffusionPipeline`` folder (or cached hub id) as a ``TextToImage``. The UNet (most of the
    weights) is loaded in ``dtype`` (float16 on a GPU by default); the text encoder and the vae stay float32."""
    from diffusers import DDPMScheduler

    folder = Path(local_source(path, SD_FILES))
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    prediction = scheduler_config.get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise UnlearningInputError(
            f"{path!r} predicts {shown(prediction)}; only epsilon-prediction checkpoints (SD 1.x, SD 2.x-base) "
            "are supported by the lab's sampler and losses")
    unet_cls, text_cls, vae_cls = _classes()

    def part_files(part: str) -> str:
        found = sorted(str(f) for pattern in ("*.safetensors", "*.bin") for f in (folder / part).glob(pattern))
        return ", ".join(found) or str(folder / part)

    def load_part(part: str, load):
        """One part of the pipeline; a missing or damaged file is an input error naming the part's files."""
        try:
            return load(folder / part)
        except pickle.UnpicklingError:  # torch.load(weights_only=True) met a pickle holding more than tensors
            raise UnlearningInputError(
                f"could not load Stable Diffusion's {part} from {part_files(part)}: the pickle holds objects other "
                "than weights, which are never unpickled (they could run code); save the part as safetensors") from None
        except (OSError, ValueError, KeyError, SafetensorError) as error:
            raise UnlearningInputError(f"could not load Stable Diffusion's {part} from {part_files(part)} (a damaged "
                                       f"or incomplete file?): {error}") from None

    def complete(part: str, loaded):
        """The model of ``from_pretrained(..., output_loading_info=True)``, refused when the file lacked some of
        its weights: those would be random, and a run on them means nothing."""
        model, info = loaded
        missing = sorted(key for key in info.get("missing_keys", ()) if not key.endswith("position_ids"))
        if missing:
            raise UnlearningInputError(
                f"could not load Stable Diffusion's {part} from {part_files(part)}: the file lacks {len(missing)} of "
                f"its weights (e.g. {', '.join(missing[:3])}), which would be random; is it this part's file?")
        return model

    unet = complete("unet", load_part("unet", lambda where: unet_cls.from_pretrained(
        str(where), torch_dtype=dtype, output_loading_info=True)))
    text_encoder = complete("text_encoder", load_part("text_encoder", lambda where: text_cls.from_pretrained(
        str(where), dtype=torch.float32, local_files_only=True, output_loading_info=True)))
    vae = complete("vae", load_part("vae", lambda where: vae_cls.from_pretrained(
        str(where), torch_dtype=torch.float32, output_loading_info=True)))
    scheduler = load_part("scheduler", lambda where: DDPMScheduler.from_pretrained(str(where)))
    tokenizer = load_part("tokenizer", ClipPromptTokenizer.from_pretrained)
    card = (folder / "README.md").read_text() if (folder / "README.md").exists() else None
    model = TextToImage(text_encoder, unet, scheduler, tokenizer, vae, card)
    model.to(device).eval().requires_grad_(False)
    model.source = str(folder)
    return model


def save_stable_diffusion(model: TextToImage, source: str | Path, out: str | Path) -> Path:
    """Write an unlearned model as a pipeline folder diffusers loads: the source folder's layout and
    ``model_index.json``, with the (possibly changed) UNet and text encoder written anew in float16/32 as
    loaded and the other parts copied."""
    import shutil

    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise UnlearningInputError("refusing to overwrite the original pipeline folder; choose another --save-to")
    shutil.copytree(source, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("unet", "text_encoder"))
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    # save as the plain library classes so StableDiffusionPipeline.from_pretrained reads them
    UNet2DConditionModel.save_pretrained(model.unet, str(out / "unet"), safe_serialization=True)
    CLIPTextModel.save_pretrained(model.text_encoder, str(out / "text_encoder"), safe_serialization=True)
    for sub, cls in (("unet", "UNet2DConditionModel"), ("text_encoder", "CLIPTextModel")):
        config = out / sub / "config.json"
        data = json.loads(config.read_text())
        if "_class_name" in data:
            data["_class_name"] = cls
        if "architectures" in data:
            data["architectures"] = [cls]
        config.write_text(json.dumps(data, indent=2) + "\n")
    return out
