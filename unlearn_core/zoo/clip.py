"""CLIP as a user-given model: a zero-shot classifier over the names of the user's image folders, its
registration (``configure("clip", HubOptions(...))`` in :mod:`.hub`), task factory and the zero-shot family's
method defaults."""
from __future__ import annotations

import functools

from ..data import ForgetRequest
from ..errors import UnlearningInputError
from ..methods.registry import register_task_defaults
from ..models.hub import CLIP_FILES, ClipBundle, load_clip, loadable
from ..tasks.zero_shot import ZeroShotTask
from ..user_data import display_names, image_files, load_images, name_folders, normalise_name
from .hub_options import HubOptions
from .registry import ModelSpec


def no_training(**_) -> dict:
    raise UnlearningInputError("hub models are pretrained elsewhere; there is nothing to train here")


@functools.lru_cache(maxsize=2)
def _clip_bundle(options: HubOptions) -> ClipBundle:
    return load_clip(options.path, options.device, options.dtype)


def _clip_sets(options: HubOptions, names: list[str], forget_name: str):
    """(forget images, retain images, retain image names) from DATA/<name>/ or the --forget-dir/--retain-dir."""
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
    folders = name_folders(options.data) if options.data else {}
    if options.retain_dir and not options.names:
        folders = {**folders, **name_folders(options.retain_dir)}
    return display_names(options.names, folders)


def clip_spec(name: str, options: HubOptions) -> ModelSpec:
    """The zoo entry of a user's CLIP at ``options.path`` (a zero-shot classifier over the data's names)."""

    def make_task(request: ForgetRequest, seed: int) -> ZeroShotTask:
        names = _clip_names(options)
        if options.forget_dir and not options.names and request.kind == "concept":
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
        make_task=make_task, train=no_training, available=available, default_forget=f"concept:{first}")


def _register_method_defaults() -> None:
    """Starting points for CLIP (not tuned on a real checkpoint here): Adam at the small learning rates CLIP
    is fine-tuned with, half forget and half retain samples per batch, and SLUG's single gradient over a
    few batches as in its paper."""
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
