"""Unlearning Lab's compute core: data, shipped models, task adapters, unlearning methods and metrics.

Everything the app shows comes from here; ``python -m unlearn_core`` runs it headless.
"""
from .errors import DivergenceError, UnlearningInputError

__all__ = ["DivergenceError", "UnlearningInputError"]
