"""Loading large pretrained models the user brings: CLIP (transformers) and Stable Diffusion (diffusers).

A model is named by a local folder in the library's own format (``save_pretrained``) or by a hub id that is
already in the local Hugging Face cache: nothing is downloaded at run time, so a missing id is a clear input
error that says how to fetch it. On a GPU the frozen parts run in half precision; the parameters a method
trains are kept in float32 (see :func:`train_in_float32`) and forwards run under autocast.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from ..errors import UnlearningInputError, shown
from ..execution import resolve_device

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def token_limit(tokenizer) -> int:
    """The most tokens a prompt may have, start and end tokens included (77 for CLIP and Stable Diffusion)."""
    limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
    return limit if limit < 10_000 else 77  # tokenizers without a limit report a huge number


def check_prompt_lengths(tokenizer, prompts, limit: int | None = None) -> None:
    """An over-long prompt is an input error naming it, its token count and the limit (the tokenizer alone
    would cut it silently, or fail to build a tensor of ragged rows)."""
    limit = token_limit(tokenizer) if limit is None else limit
    for prompt in prompts:
        count = len(tokenizer(prompt, verbose=False)["input_ids"])  # verbose: no warning before the error
        if count > limit:
            raise UnlearningInputError(f"prompt {shown(prompt)} is {count} tokens long (start and end tokens "
                                       f"included); this model's tokenizer takes at most {limit}: shorten it")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None``/"auto": float16 on a GPU (half the memory), float32 on the CPU (half precision is slow there)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise UnlearningInputError(f"dtype must be auto, {', '.join(DTYPES)}; got {shown(dtype)}")
    return DTYPES[dtype]


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision for half-precision models (frozen weights half, trained weights float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def features(output) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output holds the projected features; 4.x a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


def _is_local(path: str) -> bool:
    return Path(path).expanduser().exists()


def local_source(path: str | Path, needed: tuple[str, ...] = ()) -> str:
    """The folder to load from: ``path`` itself when it exists, else the cached snapshot of hub id ``path``.

    ``needed`` lists files (relative paths) the folder must hold. Raises UnlearningInputError with the fix.
    """
    text = str(path).strip()
    if not text:
        raise UnlearningInputError("--model-path must name a folder or a hub id")
    if _is_local(text):
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise UnlearningInputError(f"model path {text!r} is a file; give the folder written by save_pretrained")
    else:
        if text.startswith((".", "/", "~")) or text.count("/") != 1:
            raise UnlearningInputError(f"model path {text!r} does not exist (a hub id looks like 'owner/name')")
        try:
            from huggingface_hub import snapshot_download
            from huggingface_hub.errors import LocalEntryNotFoundError
        except ImportError:  # pragma: no cover - huggingface_hub ships with transformers and diffusers
            raise UnlearningInputError(f"model path {text!r} does not exist here") from None
        try:
            # the cache folder is read at call time so HF_HUB_CACHE / HF_HOME set after import are honoured
            cache = os.environ.get("HF_HUB_CACHE") or (
                str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None)
            folder = Path(snapshot_download(text, local_files_only=True, cache_dir=cache))
        except (LocalEntryNotFoundError, OSError, ValueError):
            raise UnlearningInputError(
                f"hub model {text!r} is not in the local Hugging Face cache and nothing is downloaded at run "
                f"time; fetch it once with `huggingface-cli download {text}` (or `git lfs clone`) and pass the "
                "id again or the folder") from None
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        raise UnlearningInputError(f"{text!r} is missing {', '.join(missing)}; expected a save_pretrained folder")
    return str(folder)


def loadable(path: str | None, needed: tuple[str, ...]) -> bool:
    """Whether ``path`` resolves to a local folder with ``needed`` files (a cheap check for the app's list)."""
    if not path:
        return False
    try:
        local_source(path, needed)
    except UnlearningInputError:
        return False
    return True


def train_in_float32(params: dict[str, nn.Parameter]) -> dict[str, nn.Parameter]:
    """Upcast the parameters a method trains to float32 in place (optimizer states and tiny updates are not
    representable in float16); the rest of the model stays in half precision under autocast."""
    for p in params.values():
        if p.dtype in (torch.float16, torch.bfloat16):
            p.data = p.data.float()
    return params


def only_these_train(model: nn.Module, params: dict[str, nn.Parameter]) -> dict[str, nn.Parameter]:
    """``requires_grad`` on exactly ``params``: backward then allocates gradients for nothing else."""
    model.requires_grad_(False)
    for p in params.values():
        p.requires_grad_(True)
    return params


# --- CLIP ---------------------------------------------------------------------------------------------

CLIP_FILES = ("config.json",)
SD_FILES = ("model_index.json", "unet/config.json", "text_encoder/config.json", "tokenizer", "vae/config.json",
            "scheduler/scheduler_config.json")


@dataclasses.dataclass
class ClipBundle:
    """A loaded CLIP: the model plus the tokenizer and image processor that go with it."""

    model: nn.Module
    tokenizer: Any
    image_processor: Any
    device: torch.device
    dtype: torch.dtype
    source: str


def load_clip(path: str | Path, device: str | torch.device | None = None,
              dtype: str | torch.dtype | None = None) -> ClipBundle:
    """A transformers ``CLIPModel`` with its ``CLIPTokenizer`` and ``CLIPImageProcessor`` from a folder or a
    cached hub id; evaluation mode, no gradients."""
    import transformers
    from transformers import CLIPModel, CLIPTokenizer

    folder = local_source(path, CLIP_FILES)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    try:
        model = CLIPModel.from_pretrained(folder, dtype=dtype, local_files_only=True)
        tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        processor_cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
        image_processor = processor_cls.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, SafetensorError) as error:  # a missing or damaged file
        raise UnlearningInputError(f"could not load a CLIP model from {path!r} (a damaged or incomplete file?): "
                                   f"{error}") from None
    model.to(device).eval().requires_grad_(False)
    return ClipBundle(model, tokenizer, image_processor, device, dtype, folder)
