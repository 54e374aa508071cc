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
