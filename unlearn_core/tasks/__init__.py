"""Task adapters: one per model family. Each supplies forget/retain data, losses and evaluation, so that
every unlearning method is written once against this interface rather than once per model."""
from .base import Batch, TaskAdapter

__all__ = ["Batch", "TaskAdapter"]
