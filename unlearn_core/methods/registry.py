"""Method registry: name -> class, filled by the ``@register`` decorator."""
from __future__ import annotations

from ..errors import UnlearningInputError

METHODS: dict[str, type] = {}


def register(cls):
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> type:
    key = str(name).strip().lower().replace("-", "_")
    if key not in METHODS:
        raise UnlearningInputError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[key]


# Defaults differ by model family (a diffusion model wants Adam at 1e-4, a classifier SGD at 1e-2):
# (method name, task kind) -> field overrides applied before the user's own.
TASK_DEFAULTS: dict[tuple[str, str], dict] = {}


def register_task_defaults(method: str, kind: str, **values) -> None:
    TASK_DEFAULTS[(method, kind)] = values


def task_defaults(method: str, kind: str) -> dict:
    return dict(TASK_DEFAULTS.get((method, kind), {}))
