"""Large models the user brings (no weights ship with the lab): CLIP and Stable Diffusion.

``configure(name, HubOptions(...))`` registers ``clip`` or ``stable-diffusion`` in the zoo for one weights
path; the CLI does so from ``--model-path`` and friends, and at import time the environment variables
``UNLEARN_CLIP_PATH`` (+ ``UNLEARN_CLIP_DATA``, ``UNLEARN_CLIP_NAMES``, ``UNLEARN_CLIP_TOWER``) and
``UNLEARN_SD_PATH`` (+ ``UNLEARN_SD_DATA``, ``UNLEARN_SD_PROMPTS``, ``UNLEARN_SD_CLIP_PATH``) register them
for the app, with ``UNLEARN_DEVICE`` / ``UNLEARN_DTYPE``. A registered model is listed only while its
weights (and, for CLIP, its data) can be found; weights are loaded on first use, once.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UnlearningInputError, shown
from ..models.hub import CLIP_FILES, SD_FILES, local_source
from ..models.sd import save_stable_diffusion
from .clip import clip_spec
from .hub_options import HubOptions
from .registry import MODELS, ModelSpec, register_model
from .stable_diffusion import sd_spec

HUB_FAMILIES = {"clip": "zero-shot", "stable-diffusion": "text-diffusion"}


def configure(name: str, options: HubOptions, check: bool = True) -> ModelSpec:
    """Register (or re-register) hub model ``name`` ("clip" or "stable-diffusion") for ``options``. With
    ``check`` a path that cannot be found, or a missing data folder, is an input error now (the CLI); without,
    the model is registered and simply not listed while it is unavailable (the environment, for the app)."""
    if name not in HUB_FAMILIES:
        raise UnlearningInputError(f"--model-path applies to the hub models {', '.join(HUB_FAMILIES)}; "
                                   f"got {shown(name)}")
    if check:
        local_source(options.path, CLIP_FILES if name == "clip" else SD_FILES)
        if options.clip_path:
            local_source(options.clip_path, CLIP_FILES)
        if name == "clip" and not (options.data or options.retain_dir):
            raise UnlearningInputError("CLIP needs images: --data DATA (DATA/<name>/*.png per name) or "
                                       "--forget-dir with --retain-dir ROOT/<name>/*.png")
    spec = clip_spec(name, options) if name == "clip" else sd_spec(name, options)
    return register_model(spec)  # a different path under the same name drops what the old weights gave


def save_pretrained(outcome, folder: str | Path) -> Path:
    """Write an unlearned hub model in its library's own folder format (what ``--model-path`` reads back, and
    what transformers' ``CLIPModel`` / diffusers' ``StableDiffusionPipeline`` load)."""
    folder = Path(folder)
    kind = getattr(outcome.task, "kind", "")
    if kind == "zero-shot":
        bundle = outcome.task.bundle
        if folder.resolve() == Path(bundle.source).resolve():
            raise UnlearningInputError("refusing to overwrite the original model folder; choose another folder")
        outcome.model.save_pretrained(str(folder))
        bundle.tokenizer.save_pretrained(str(folder))
        bundle.image_processor.save_pretrained(str(folder))
        return folder
    if kind == "text-diffusion" and hasattr(outcome.model, "source"):
        return save_stable_diffusion(outcome.model, outcome.model.source, folder)
    raise UnlearningInputError(f"--save-pretrained applies to the hub models ({', '.join(HUB_FAMILIES)}); "
                               "use --weights for the shipped ones")


def options_from_environment(prefix: str) -> HubOptions | None:
    env = os.environ
    path = env.get(f"UNLEARN_{prefix}_PATH")
    if not path:
        return None
    get = lambda key: env.get(f"UNLEARN_{prefix}_{key}") or None  # noqa: E731
    return HubOptions(path=path, device=env.get("UNLEARN_DEVICE") or None, dtype=env.get("UNLEARN_DTYPE") or None,
                      data=get("DATA"), forget_dir=get("FORGET_DIR"), retain_dir=get("RETAIN_DIR"),
                      names=get("NAMES"), prompts=get("PROMPTS"), clip_path=get("CLIP_PATH"),
                      tower=get("TOWER") or "both", unet_part=get("UNET_PART") or "full", anchor=get("ANCHOR"))


def register_from_environment() -> None:
    for prefix, name in (("CLIP", "clip"), ("SD", "stable-diffusion")):
        options = options_from_environment(prefix)
        if options is not None and name not in MODELS:
            try:
                configure(name, options, check=False)
            except UnlearningInputError:
                pass  # misconfigured: the model simply does not appear


def hub_path(text: str | os.PathLike) -> str:
    """A --model-path value as given (a folder is made absolute so later working-directory changes are safe)."""
    path = Path(str(text)).expanduser()
    return str(path.resolve()) if path.exists() else str(text)
