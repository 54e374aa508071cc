"""Method registry: name -> class, filled by the ``@register`` decorator; the defaults per model family
(registered by the zoo) and the tuned defaults per model and forget kind (written by ``python -m
unlearn_core tune`` to ``methods/tuned/<model>.json``)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

from ..errors import UnlearningInputError, shown

TUNED_DIR = Path(__file__).resolve().parent / "tuned"

METHODS: dict[str, type] = {}


def register(cls):
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type:
    key = str(name).strip().lower().replace("-", "_")
    if key not in METHODS:
        raise UnlearningInputError(f"unknown method {shown(name)}; valid: {', '.join(METHODS)}")
    return METHODS[key]


# Defaults differ by model family (a diffusion model wants Adam at 1e-4, a classifier SGD at 1e-2):
# (method name, task kind) -> field overrides applied before the user's own.
TASK_DEFAULTS: dict[tuple[str, str], dict] = {}


def register_task_defaults(method: str, kind: str, **values) -> None:
    TASK_DEFAULTS[(method, kind)] = values


def task_defaults(method: str, kind: str) -> dict:
    return dict(TASK_DEFAULTS.get((method, kind), {}))


@functools.lru_cache(maxsize=None)
def _tuned_file(path: Path, stamp: float) -> dict:
    """The parsed file, cached by its path and modification time (a re-tuned file is read again)."""
    return json.loads(path.read_text()) if stamp else {}


def tuned_defaults(method: str, model: str | None, forget_kind: str | None) -> dict:
    """The knobs ``tune`` chose for ``method`` on ``model`` and this kind of forget target ({} if none)."""
    if not model or not forget_kind:
        return {}
    path = TUNED_DIR / f"{model}.json"
    stamp = path.stat().st_mtime if path.exists() else 0.0
    chosen = _tuned_file(path, stamp).get("defaults", {}).get(forget_kind, {}).get(method, {})
    return dict(chosen)


def method_defaults(method: str, kind: str, model: str | None = None, forget_kind: str | None = None) -> dict:
    """Defaults before the user's overrides: the family's, then the model's tuned ones for the forget kind."""
    return {**task_defaults(method, kind), **tuned_defaults(method, model, forget_kind)}


# Defaults set in code (a zoo's task defaults or a method's dataclass), not by ``tune``, that were chosen by hand
# on declared targets: (model, forget kind) -> method -> (what was chosen and where, the forget targets used).
# A benchmark row on one of those targets is not held out; a method with neither this nor a tuned file entry
# runs on an untuned starting point.
HAND_TUNED: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...]]]] = {
    ("digits-gan", "class"): {
        "atu": ("batch, lr, stage-2 steps and EMA chosen on class:7 and class:5, seed 100 "
                "(benchmarks/tuning/digits-gan-atu.md)", ("class:7", "class:5")),
        "atu_salun": ("Adapt-then-Unlearn's stage-2 knobs, chosen on class:7 and class:5, seed 100 (its mask ratio "
                      "was not searched)", ("class:7", "class:5")),
    },
    ("shapes-gan", "concept"): {
        "text_unlearn": ("chosen on concept:diamond and concept:cross, seed 0 (benchmarks/tuning/shapes-gan-text.md)",
                         ("concept:diamond", "concept:cross")),
    },
    ("digits-ddpm", "class"): {
        name: ("the class-diffusion defaults, chosen by hand on class:3, seeds 0-2 (unlearn_core/zoo/digits_ddpm.py)",
               ("class:3",)) for name in ("salun", "sfr_on", "rl", "esd")
    },
    ("shapes-t2i", "concept"): {
        name: ("the text-diffusion defaults, chosen by hand on concept:triangle (unlearn_core/zoo/shapes_t2i.py)",
               ("concept:triangle",)) for name in ("salun", "sfr_on", "esd", "slug", "rl")
    },
}

# Knobs fixed by hand on a target that a benchmark reports, beside knobs that ``tune`` chose elsewhere:
# (model, forget kind) -> method -> (which knobs, the forget targets they were chosen on).
PARTLY_HAND_TUNED: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...]]]] = {
    ("digits-cnn", "class"): {"sfr_on": ("alpha0, iterations (T) and clip chosen by hand on digits-cnn class:3, "
                                         "seeds 0-2 (unlearn_core/methods/sfron.py)", ("class:3",))},
    ("digits-cnn", "random"): {"sfr_on": ("alpha0 chosen by hand against digits-cnn class:3 and random:10 "
                                          "(unlearn_core/methods/sfron.py)", ("random:10",))},
}


def _forget_kind(forget: str) -> str:
    return str(forget).split(":", 1)[0]


def tuning_of(method: str, model: str, forget_kind: str) -> dict | None:
    """Where ``method``'s defaults on ``model`` for this kind of forget target were chosen: ``{"by": "tune" or
    "hand", "forgets": [...], "seeds": [...], "note": text}``, or None when they are an untuned starting point."""
    path = TUNED_DIR / f"{model}.json"
    stamp = path.stat().st_mtime if path.exists() else 0.0
    tuned = _tuned_file(path, stamp)
    if method in tuned.get("defaults", {}).get(forget_kind, {}):
        targets = tuned.get("tuning_targets", {})
        return {"by": "tune", "forgets": list(targets.get("forgets", [])), "seeds": list(targets.get("seeds", [])),
                "note": tuned.get("written_by", "tune")}
    hand = HAND_TUNED.get((model, forget_kind), {}).get(method)
    if hand is not None:
        return {"by": "hand", "forgets": list(hand[1]), "seeds": [], "note": hand[0]}
    return None


def is_tuned(method: str, model: str, forget_kind: str) -> bool:
    """Whether ``method`` runs on ``model`` (this kind of forget target: "class", "random", "concept") with
    defaults chosen on declared tuning targets (by ``tune``, methods/tuned/MODEL.json, or by hand, HAND_TUNED);
    False: an untuned starting point (the Compare tab labels such baselines "untuned")."""
    return tuning_of(get_method(method).name, model, forget_kind) is not None


def tuning_mark(method: str, model: str | None, forget: str | None, seeds=None) -> str:
    """The note a benchmark row's method label carries: "" when tuned on other targets than ``forget``;
    " (untuned)"; " (tuned on this target)" when ``forget`` is among its tuning targets (not held out; for a
    random share, only when one of ``seeds`` drew a tuning forget set: the seed draws the set);
    " (partly tuned on this target)" when some knobs were fixed by hand on it. "" without a model or forget."""
    if not model or not forget:
        return ""
    kind = _forget_kind(forget)
    tuning = tuning_of(method, model, kind)
    if tuning is None:
        return " (untuned)"
    same_sets = kind != "random" or not tuning["seeds"] or seeds is None or set(seeds) & set(tuning["seeds"])
    if forget in tuning["forgets"] and same_sets:
        return " (tuned on this target)"
    partly = PARTLY_HAND_TUNED.get((model, kind), {}).get(method)
    if partly is not None and forget in partly[1]:
        return " (partly tuned on this target)"
    return ""
