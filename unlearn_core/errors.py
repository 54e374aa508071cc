"""Errors the core raises on purpose. Anything else reaching a user is a bug."""


class UnlearningInputError(ValueError):
    """Bad user input (model, forget request, method, hyperparameter). The message names the valid values."""


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite; the run stops instead of reporting meaningless metrics."""


def check_finite(loss, where: str):
    """Raise DivergenceError when a scalar loss tensor is NaN or infinite."""
    import torch

    if not torch.isfinite(loss).all():
        raise DivergenceError(
            f"{where}: the loss became {float(loss.detach().reshape(-1)[0])}; "
            "the run was stopped. Lower the learning rate or the forget-loss weight and try again."
        )
