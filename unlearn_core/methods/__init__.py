"""Every unlearning method, registered by name. ``get_method(name)(config).unlearn(model, task)``."""
from . import baselines, boundary, distillation, influence, salun, sfron, slug  # noqa: F401  (registration)
from . import esd  # noqa: F401  (registration; diffusion only)
from . import adapt_unlearn, text_unlearn  # noqa: F401  (registration; GANs only)
from ..hparams import form_value  # the app reads its knob fields with it
from .base import UnlearnResult, UnlearningMethod
from .registry import METHODS, get_method, is_tuned, tuning_mark

__all__ = ["METHODS", "UnlearnResult", "UnlearningMethod", "form_value", "get_method", "is_tuned", "tuning_mark"]
