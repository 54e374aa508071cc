"""The models the lab knows, one module each (like diffusers' one folder per pipeline):

- :mod:`.digits_cnn`: the digits classifier that generalises, and its Retrain references;
- :mod:`.digits_mlp`: the digits classifier that memorises, and its Retrain references;
- :mod:`.digits_ddpm`: the class-conditional digits DDPM and its Retrain reference;
- :mod:`.shapes_t2i`: the small text-to-image model and its concept classifier;
- :mod:`.digits_gan`: the unconditional digits GAN and its Retrain reference;
- :mod:`.shapes_gan`: the unconditional shapes GAN, its Retrain reference and its text-image model;
- :mod:`.clip` and :mod:`.stable_diffusion`: models a user brings, registered by :mod:`.hub` from
  ``--model-path`` (CLI) or the environment (app).

Each module registers its :class:`~.registry.ModelSpec` (loading, task factory, Retrain references, training
entry, model card) and its family's method defaults when imported; importing this package imports them all.
"""
from __future__ import annotations

from . import digits_cnn, digits_mlp, digits_ddpm, shapes_t2i, digits_gan, shapes_gan  # noqa: F401  (register the shipped models, in order)
from .hub import register_from_environment
from .registry import MODELS, ModelSpec, available_models, base_model, fresh_copy, get_model_spec, register_model

register_from_environment()

__all__ = ["MODELS", "ModelSpec", "available_models", "base_model", "fresh_copy", "get_model_spec",
           "register_model", "register_from_environment"]
