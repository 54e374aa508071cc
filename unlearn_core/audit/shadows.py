"""Shadow models for the membership audit (:mod:`.membership`): copies of a shipped classifier's training,
each on a random half of a data pool, trained once per classifier and kept on disk.

The pool is the classifier's own training samples followed by held-out samples it never saw
(:meth:`ShippedClassifier.held_out`). Shadow ``k`` trains with the classifier's recipe and architecture on the
pool samples where ``keep[k]`` is true; the keep matrix is LiRA's (Carlini et al. 2022): a seeded uniform
``(K, N)`` matrix whose ranks along ``K`` below ``K/2`` are kept, so every pool sample is in exactly half the
shadows, and each shadow sees about half the pool.

Where they live: a shipped folder (``assets/<model>-shadows/``, used when its count and pool match the
request) or the cache, ``$UNLEARNING_LAB_CACHE/shadows/<model>/k<K>/`` (default root
``~/.cache/unlearning-lab``). A build is resumable: shadows already in the folder are loaded, missing ones
trained, and the record (``shadows.json``) is rewritten after each one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from ..assets import ASSETS
from ..models.classifier import build_classifier
from ..models.pretrained import load_weights
from ..training import train_classifier
from ..zoo.shipped_classifier import ShippedClassifier, get_classifier

ProgressFn = Callable[[float, str], None]

CACHE_ENV = "UNLEARNING_LAB_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/unlearning-lab")
RECORD_NAME = "shadows.json"
KEEP_NAME = "keep.npy"
# Fixed, not the run's seed: the shadows are shared by every audit of a classifier.
KEEP_SEED = 0
# Shadow k trains with seed SHADOW_SEED_BASE + k, so no shadow repeats the shipped model's own seed (0).
SHADOW_SEED_BASE = 1000


@dataclasses.dataclass
class ShadowSet:
    """K trained shadows of one classifier, the pool they were drawn from and who saw what."""

    model_name: str
    models: list[nn.Module]   # read-only: copy before changing one
    keep: torch.Tensor        # (K, N) bool: keep[k, i] is true when shadow k trained on pool sample i
    x_pool: torch.Tensor
    y_pool: torch.Tensor
    members: int              # pool[:members] is the classifier's training set, pool[members:] held out
    source: str               # "shipped", "cache" (all loaded) or "trained" (some trained by this call)
    build_s: float | None     # total training time of the K shadows, as recorded when each was trained
    folder: Path
    seeds: list[int]

    @property
    def count(self) -> int:
        return len(self.models)


def shadow_pool(classifier: ShippedClassifier) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The classifier's training samples, then the held-out ones; and how many of the first kind there are."""
    split = classifier.split()
    x_held, y_held = classifier.held_out()
    return torch.cat([split.x_train, x_held]), torch.cat([split.y_train, y_held]), len(split.x_train)


def keep_matrix(count: int, size: int, seed: int = KEEP_SEED) -> np.ndarray:
    """LiRA's inclusion matrix: (count, size) bool, each column true in exactly ``count // 2`` rows."""
    uniform = np.random.default_rng(seed).uniform(size=(count, size))
    ranks = uniform.argsort(axis=0).argsort(axis=0)
    return ranks < count // 2


def pool_fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """A short hash of the pool's pixels and labels: shadows of another pool are not reused."""
    digest = hashlib.sha256(x.contiguous().numpy().tobytes())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$UNLEARNING_LAB_CACHE``, else ``~/.cache/unlearning-lab``."""
    root = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or DEFAULT_CACHE_ROOT
    return Path(root).expanduser()


def cache_folder(model_name: str, count: int, cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "shadows" / model_name / f"k{int(count)}"


def shipped_folder(model_name: str) -> Path:
    return ASSETS / f"{model_name}-shadows"


def _identity(classifier: ShippedClassifier, count: int, x_pool: torch.Tensor, y_pool: torch.Tensor,
              members: int) -> dict:
    """What a folder's shadows depend on; a folder whose record differs in any of these is rebuilt."""
    return {"model": classifier.name, "count": int(count), "pool_size": len(y_pool), "pool_members": members,
            "pool_fingerprint": pool_fingerprint(x_pool, y_pool), "keep_seed": KEEP_SEED,
            "shadow_seeds": [SHADOW_SEED_BASE + k for k in range(count)],
            "recipe": dataclasses.asdict(classifier.recipe), "config": classifier.config.to_dict()}


def _shadow_file(folder: Path, k: int) -> Path:
    return folder / f"shadow-{k:03d}.safetensors"


def _read_record(folder: Path) -> dict | None:
    path = folder / RECORD_NAME
    return json.loads(path.read_text()) if path.exists() else None


def _write_record(folder: Path, record: dict) -> None:
    # Written to a temporary name first: an interrupted build never leaves a half-written record.
    temporary = folder / (RECORD_NAME + ".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(folder / RECORD_NAME)


def _matches(record: dict | None, identity: dict) -> bool:
    return record is not None and all(record.get(key) == value for key, value in identity.items())


def _load_shadow(classifier: ShippedClassifier, path: Path) -> nn.Module:
    model = build_classifier(classifier.config)
    load_weights(model, path)  # a damaged shadow is an AssetError naming its file
    return model.eval().requires_grad_(False)


def build_shadows(model_name: str, count: int = 16, progress: ProgressFn | None = None,
                  cache_dir: str | Path | None = None, out_dir: str | Path | None = None) -> ShadowSet:
    """Train (or finish training) ``count`` shadows of the shipped classifier ``model_name`` in ``out_dir``
    (e.g. ``assets/<model>-shadows`` to ship them), else in the cache folder; shadows already there for the
    same pool, recipe and count are loaded, not retrained. ``progress(fraction, message)`` is called once per
    shadow at least. Also writes the keep matrix (``keep.npy``) and a model card (``README.md``)."""
    classifier = get_classifier(model_name)
    count = int(count)
    if count < 2 or count % 2:
        raise ValueError(f"shadow count must be an even number >= 2; got {count}")
    folder = Path(out_dir) if out_dir is not None else cache_folder(model_name, count, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    x_pool, y_pool, members = shadow_pool(classifier)
    identity = _identity(classifier, count, x_pool, y_pool, members)
    record = _read_record(folder)
    if not _matches(record, identity):  # another pool, recipe or count: nothing in the folder is usable
        record = {**identity, "train_s": {}}
        for k in range(count):
            _shadow_file(folder, k).unlink(missing_ok=True)
    keep = keep_matrix(count, len(y_pool))
    np.save(folder / KEEP_NAME, keep)
    models, trained = [], 0
    for k in range(count):
        path = _shadow_file(folder, k)
        if path.exists() and str(k) in record["train_s"]:
            models.append(_load_shadow(classifier, path))
            message = f"loaded shadow {k + 1}/{count}"
        else:
            half = torch.from_numpy(keep[k])
            start = time.perf_counter()
            model = train_classifier(x_pool[half], y_pool[half], SHADOW_SEED_BASE + k, classifier.recipe,
                                     classifier.config)
            record["train_s"][str(k)] = time.perf_counter() - start
            save_file({name: value.detach().contiguous() for name, value in model.state_dict().items()}, str(path))
            _write_record(folder, record)
            models.append(model.eval().requires_grad_(False))
            trained += 1
            message = f"trained shadow {k + 1}/{count} ({record['train_s'][str(k)]:.1f} s)"
        if progress:
            progress((k + 1) / count, message)
    build_s = float(sum(record["train_s"].values()))
    _write_record(folder, record)
    (folder / "README.md").write_text(_card(classifier, record, keep, build_s))
    return ShadowSet(model_name, models, torch.from_numpy(keep), x_pool, y_pool, members,
                     "trained" if trained else "cache", build_s, folder, identity["shadow_seeds"])


def shadows_to_train(model_name: str, count: int = 16, cache_dir: str | Path | None = None) -> int:
    """How many of the ``count`` shadows :func:`load_shadows` would train (neither shipped nor cached): what
    the audit's budget prices, read from the records without loading any weights."""
    classifier = get_classifier(model_name)
    x_pool, y_pool, members = shadow_pool(classifier)
    identity = _identity(classifier, int(count), x_pool, y_pool, members)
    shipped = shipped_folder(model_name)
    if _matches(_read_record(shipped), identity) and all(_shadow_file(shipped, k).exists() for k in range(count)):
        return 0
    folder = cache_folder(model_name, int(count), cache_dir)
    record = _read_record(folder)
    if not _matches(record, identity):
        return int(count)
    return sum(1 for k in range(count) if not (_shadow_file(folder, k).exists() and str(k) in record["train_s"]))


def load_shadows(model_name: str, count: int = 16, progress: ProgressFn | None = None,
                 cache_dir: str | Path | None = None) -> ShadowSet:
    """The ``count`` shadows of ``model_name``: the shipped ones when their count and pool match, else those
    in the cache (trained there first where missing)."""
    classifier = get_classifier(model_name)
    shipped = shipped_folder(model_name)
    x_pool, y_pool, members = shadow_pool(classifier)
    record = _read_record(shipped)
    if _matches(record, _identity(classifier, count, x_pool, y_pool, members)) and all(
            _shadow_file(shipped, k).exists() for k in range(count)):
        models = []
        for k in range(count):
            models.append(_load_shadow(classifier, _shadow_file(shipped, k)))
            if progress:
                progress((k + 1) / count, f"loaded shipped shadow {k + 1}/{count}")
        keep = torch.from_numpy(keep_matrix(count, len(y_pool)))
        return ShadowSet(model_name, models, keep, x_pool, y_pool, members, "shipped",
                         float(sum(record["train_s"].values())), shipped, record["shadow_seeds"])
    return build_shadows(model_name, count, progress, cache_dir=cache_dir)


def _card(classifier: ShippedClassifier, record: dict, keep: np.ndarray, build_s: float) -> str:
    count, size, members = record["count"], record["pool_size"], record["pool_members"]
    held = ("the unused rest of the training part" if classifier.train_share < 1.0 else "the test part")
    recipe = classifier.recipe
    per_shadow = keep.sum(axis=1)
    return f"""---
license: mit
tags: [machine-unlearning, membership-inference, shadow-models, digits, safetensors]
---
# {classifier.name} shadow models ({count})

Shadow models for the U-LiRA membership audit (`unlearn_core.audit.membership.ulira`; Hayes et al. 2024,
"Inexact unlearning needs more careful evaluations"), built with
`unlearn_core.audit.shadows.build_shadows("{classifier.name}", count={count}, out_dir=...)`.

- **Pool:** {size} images: the {members} images {classifier.name} trained on, then {size - members} it never saw
  ({held}); scikit-learn's digits, the project's seeded 80/20 split (pool fingerprint
  `{record["pool_fingerprint"]}`).
- **Halves:** `keep.npy`, a ({count}, {size}) bool matrix: shadow k trained on the pool images where
  `keep[k]` is true. LiRA's construction: ranks of a uniform matrix (numpy `default_rng({record["keep_seed"]})`)
  along the shadow axis below {count // 2}, so every image is in exactly {count // 2} shadows; a shadow sees
  {per_shadow.min()}..{per_shadow.max()} images.
- **Recipe:** {classifier.name}'s own (`{classifier.config.to_dict()}`): AdamW, one-cycle learning rate
  (max {recipe.lr}), weight decay {recipe.weight_decay}, {recipe.epochs} epochs, batch {recipe.batch_size};
  shadow k uses seed {SHADOW_SEED_BASE} + k.
- **Build time:** {build_s:.0f} s for all {count} on the 2-core CPU (per shadow in `shadows.json`).
- **Files:** `shadow-000.safetensors` ... (weights of the architecture above), `keep.npy`, `shadows.json`
  (what the shadows depend on: a loader reuses them only when all of it matches).
"""
