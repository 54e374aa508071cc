"""Errors the core raises on purpose. Anything else reaching a user is a bug."""


class UnlearningInputError(ValueError):
    """Bad user input (model, forget request, method, hyperparameter). The message names the valid values."""


class AssetError(UnlearningInputError):
    """A model's files cannot be used: unreadable or garbled weights or config, a config of the wrong types,
    weights of the wrong shapes, or weights that cannot be the trained model (NaN, inf, all zero). The message
    names the model or the file."""


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite; the run stops instead of reporting meaningless metrics."""


class ComputationStopped(Exception):
    """A computation stopped by one of the app's limits (a run's work allowance, the operator's wall-clock cap),
    not by its user. A request made of several runs (seeds, a Compare's methods, a sweep's shares) keeps and shows
    the runs it finished, marked partial; ``reason`` says in a few words why it stopped."""

    reason: str = "stopped by a limit of this app"


def check_finite(loss, where: str):
    """Raise DivergenceError when a scalar loss tensor is NaN or infinite."""
    import torch

    if not torch.isfinite(loss).all():
        raise DivergenceError(
            f"{where}: the loss became {float(loss.detach().reshape(-1)[0])}; "
            "the run was stopped. Lower the learning rate or the forget-loss weight and try again."
        )


ECHO_LIMIT = 80  # characters of user input a message quotes back


def shown(value, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` for a message that quotes user input, cut to ``limit`` characters with an ellipsis, so a
    1 MB input is neither echoed back nor logged in full (and an integer too long for ``repr`` is described)."""
    if isinstance(value, int) and value.bit_length() > 4 * limit:  # repr would be long, or refused (int limit)
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # repr of the kept part only: never the whole of a huge string
        return repr(value)[:limit - 1] + "…"
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
