"""Bounded caches of results that depend only on a model's weights and a key (Retrain models, the original
model's metrics, layer analyses, samples), and the one place that drops them when a model name is given new
weights. It sits below everything that caches, so the zoo can invalidate without reaching up to them."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

_CACHES: list["ModelCache"] = []


class ModelCache(OrderedDict):
    """A least-recently-used cache whose keys are tuples starting with the model name."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        _CACHES.append(self)

    def remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = compute()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value

    def forget_model(self, model_name: str) -> None:
        for key in [k for k in self if k and k[0] == model_name]:
            del self[key]


def forget_model(model_name: str) -> None:
    """Drop every cached result of ``model_name`` (its weights were configured anew)."""
    for cache in _CACHES:
        cache.forget_model(model_name)
