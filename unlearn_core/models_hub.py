"""Large models the user brings (no weights ship with the lab): CLIP and Stable Diffusion.

``configure(name, HubOptions(...))`` registers ``clip`` or ``stable-diffusion`` in the zoo for one weights
path; the CLI does so from ``--model-path`` and friends, and at import time the environment variables
``UNLEARN_CLIP_PATH`` (+ ``UNLEARN_CLIP_DATA``, ``UNLEARN_CLIP_NAMES``, ``UNLEARN_CLIP_TOWER``) and
``UNLEARN_SD_PATH`` (+ ``UNLEARN_SD_DATA``, ``UNLEARN_SD_PROMPTS``, ``UNLEARN_SD_CLIP_PATH``) register them
for the app, with ``UNLEARN_DEVICE`` / ``UNLEARN_DTYPE``. A registered model is listed only while its
weights (and, for CLIP, its data) can be found; weights are loaded on first use, once.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

from .data import ForgetRequest
from .errors import UnlearningInputError
from .zoo import MODELS, ModelSpec, register_model

HUB_FAMILIES = {"clip": "zero-shot", "stable-diffusion": "text-diffusion"}


@dataclasses.dataclass(frozen=True)
class HubOptions:
    """Where a user's model and data live, and how to run it."""

    path: str
    device: str | None = None            # cpu, cuda, cuda:N; None = cuda when available
    dtype: str | None = None             # float32, float16, bfloat16; None = float16 on cuda, float32 on cpu
    data: str | None = None              # CLIP: DATA/<name>/*.png; SD: DATA/forget/*, DATA/retain/* (+ prompts)
    forget_dir: str | None = None        # images of the forget target (overrides DATA)
    retain_dir: str | None = None        # CLIP: ROOT/<name>/*; SD: images (+ prompts.txt) to keep
    names: str | None = None             # CLIP: names file, one per line (default: DATA's folder names)
    prompts: str | None = None           # SD: evaluation prompts file (one per line)
    clip_path: str | None = None         # SD: a CLIP model for the CLIP-score
    tower: str = "both"                  # CLIP: vision, text or both
    template: str = "a photo of {}."     # CLIP: zero-shot prompt template
    max_images: int = 50                 # per name (CLIP) or per set (SD)
    unet_part: str = "full"              # SD: the UNet weights methods train (full or cross-attention)
    anchor: str | None = None            # SD: what SalUn's relabelled target draws instead of the concept
    guidance: float = 7.5                # SD: classifier-free guidance of every sample
    steps: int = 25                      # SD: DDIM steps of every sample
    generate: int = 4                    # SD: images the model draws per prompt when a set has no images
    eval_seeds: int = 2                  # SD: seeds per evaluation prompt (before/after images, metrics)


def _no_training(**_) -> dict:
    raise UnlearningInputError("hub models are pretrained elsewhere; there is nothing to train here")


# --- CLIP ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _clip_bundle(options: HubOptions):
    from .models.hub import load_clip

    return load_clip(options.path, options.device, options.dtype)


def _clip_sets(options: HubOptions, names: list[str], forget_name: str):
    """(forget images, retain images, retain image names) from DATA/<name>/ or the --forget-dir/--retain-dir."""
    from .user_data import image_files, load_images, name_folders, normalise_name

    limit = options.max_images
    folders = name_folders(options.data) if options.data else {}
    retain_folders = name_folders(options.retain_dir) if options.retain_dir else folders
    key = normalise_name(forget_name)
    if options.forget_dir:
        forget_files = image_files(options.forget_dir, limit)
    elif key in folders:
        forget_files = image_files(folders[key], limit)
    else:
        raise UnlearningInputError(
            f"no images of '{forget_name}': give --forget-dir or put them in DATA/{forget_name.replace(' ', '_')}/")
    known = {normalise_name(n): n for n in names}
    retain_images, retain_names = [], []
    for folder_key, folder in retain_folders.items():
        if folder_key == key or folder_key not in known:
            continue
        files = image_files(folder, limit)
        retain_images += load_images(files)
        retain_names += [known[folder_key]] * len(files)
    return load_images(forget_files), retain_images, retain_names


def _clip_names(options: HubOptions) -> list[str]:
    from .user_data import display_names, name_folders

    folders = name_folders(options.data) if options.data else {}
    if options.retain_dir and not options.names:
        folders = {**folders, **name_folders(options.retain_dir)}
    return display_names(options.names, folders)


def _clip_spec(name: str, options: HubOptions) -> ModelSpec:
    from .models.hub import CLIP_FILES, loadable

    def make_task(request: ForgetRequest, seed: int):
        from .tasks.zero_shot import ZeroShotTask

        names = _clip_names(options)
        if options.forget_dir and not options.names and request.kind == "concept":
            from .user_data import normalise_name

            # images of the forget name come from their own folder: the name joins the label set
            if normalise_name(request.value) not in [normalise_name(n) for n in names]:
                names = names + [" ".join(str(request.value).split())]
        forget_name = ZeroShotTask.match_name(request, names)  # a bad name fails before any loading
        bundle = _clip_bundle(options)
        forget, retain, retain_names = _clip_sets(options, names, forget_name)
        return ZeroShotTask(bundle, names, request, seed, forget, retain, retain_names, options.tower,
                            options.template)

    def available() -> bool:
        return loadable(options.path, CLIP_FILES) and bool(options.data or options.retain_dir)

    try:
        first = _clip_names(options)[0] if options.data or options.names else "NAME"
    except UnlearningInputError:
        first = "NAME"
    return ModelSpec(
        name=name, family="zero-shot",
        description=f"CLIP zero-shot classifier from {options.path} (forget a name; tower: {options.tower})",
        forget_kinds=("concept",), num_classes=None, load=lambda: _clip_bundle(options).model,
        make_task=make_task, train=_no_training, available=available, default_forget=f"concept:{first}")


# --- registration -------------------------------------------------------------------------------------

def configure(name: str, options: HubOptions, check: bool = True) -> ModelSpec:
    """Register (or re-register) hub model ``name`` ("clip" or "stable-diffusion") for ``options``. With
    ``check`` a path that cannot be found, or a missing data folder, is an input error now (the CLI); without,
    the model is registered and simply not listed while it is unavailable (the environment, for the app)."""
    from . import inspection, runner, zoo
    from .models.hub import CLIP_FILES, SD_FILES, local_source

    if name not in HUB_FAMILIES:
        raise UnlearningInputError(f"--model-path applies to the hub models {', '.join(HUB_FAMILIES)}; got {name!r}")
    if check:
        local_source(options.path, CLIP_FILES if name == "clip" else SD_FILES)
        if options.clip_path:
            local_source(options.clip_path, CLIP_FILES)
        if name == "clip" and not (options.data or options.retain_dir):
            raise UnlearningInputError("CLIP needs images: --data DATA (DATA/<name>/*.png per name) or "
                                       "--forget-dir with --retain-dir ROOT/<name>/*.png")
    if name == "clip":
        spec = _clip_spec(name, options)
    else:
        from .models_sd import sd_spec

        spec = sd_spec(name, options)
    previous = MODELS.get(name)
    register_model(spec)
    if previous is not None:
        zoo.base_model.cache_clear()  # a different path under the same name: forget the cached weights
        runner.forget_cached(name)
        inspection.forget_cached(name)
    return spec


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
        from .models.sd import save_stable_diffusion

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


register_from_environment()


def _register_method_defaults() -> None:
    """Starting points for CLIP (not tuned on a real checkpoint here): Adam at the small learning rates CLIP
    is fine-tuned with, half forget and half retain samples per batch, and SLUG's single gradient over a
    few batches as in its paper."""
    from .methods.registry import register_task_defaults

    kind = "zero-shot"
    adam = dict(optimizer="adam", lr=1e-5, weight_decay=0.0, batch_size=32)
    register_task_defaults("slug", kind, batch_size=32, retain_samples=256, search_steps=8, max_front_layers=3)
    register_task_defaults("salun", kind, epochs=2.0, forget_share=0.5, forget_weight=1.0, **adam)
    register_task_defaults("salun_soft", kind, epochs=2.0, forget_share=0.5, forget_weight=1.0, **adam)
    register_task_defaults("rl", kind, epochs=2.0, forget_share=0.5, forget_weight=1.0, **adam)
    register_task_defaults("ga", kind, epochs=2.0, retain_weight=1.0, clip=1.0, **adam)
    register_task_defaults("ft", kind, epochs=2.0, **adam)
    register_task_defaults("l1_sparse", kind, epochs=2.0, alpha=1e-7, **adam)
    register_task_defaults("sfr_on", kind, iterations=100, forget_every=1, alpha0=1.0, lr=1e-5, clip=1.0,
                           batch_size=32, weight_decay=0.0, optimizer="adam", fisher_samples=256)


_register_method_defaults()
