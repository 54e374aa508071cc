"""Seeded, deterministic DDIM sampling (eta = 0) with classifier-free guidance.

Each image's starting noise comes from its own seed (``torch.Generator().manual_seed(seed)``), so an image
depends only on (weights, seed, class, guidance, steps): the same seed drawn before and after unlearning
starts from the same noise, and no other image in the batch changes it.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..errors import UnlearningInputError, shown

DEFAULT_GUIDANCE = 2.0
DEFAULT_STEPS = 25
GUIDANCE_RANGE = (0.0, 20.0)
STEPS_RANGE = (1, 1000)


def validate_sampling(guidance: float, steps: int, num_train_timesteps: int = 1000) -> tuple[float, int]:
    """Check a guidance scale and DDIM step count; return them as (float, int)."""
    low, high = GUIDANCE_RANGE
    try:
        guidance_value = float(guidance)
    except (TypeError, ValueError):
        raise UnlearningInputError(
            f"guidance scale must be a number in [{low:g}, {high:g}]; got {shown(guidance)}") from None
    if not math.isfinite(guidance_value) or not low <= guidance_value <= high:
        raise UnlearningInputError(
            f"guidance scale must be a number in [{low:g}, {high:g}] (0 = unconditional, 1 = plain conditional, "
            f"default {DEFAULT_GUIDANCE:g}); got {shown(guidance)}")
    max_steps = min(STEPS_RANGE[1], int(num_train_timesteps))
    if isinstance(steps, bool) or not isinstance(steps, (int, float, str)):
        raise UnlearningInputError(f"DDIM steps must be an integer in [1, {max_steps}]; got {shown(steps)}")
    try:
        steps_float = float(steps)
    except ValueError:
        raise UnlearningInputError(f"DDIM steps must be an integer in [1, {max_steps}]; got {shown(steps)}") from None
    if not math.isfinite(steps_float) or not steps_float.is_integer() or not 1 <= steps_float <= max_steps:
        raise UnlearningInputError(
            f"DDIM steps must be an integer in [1, {max_steps}] (default {DEFAULT_STEPS}); got {shown(steps)}")
    return guidance_value, int(steps_float)


def ddim_timesteps(num_train_timesteps: int, steps: int) -> list[int]:
    """'trailing' spacing (starts at t = T - 1, which matters for few steps): e.g. 1000, 4 -> 999, 749, 499, 249."""
    stride = num_train_timesteps / steps
    return [int(round(num_train_timesteps - i * stride)) - 1 for i in range(steps)]


def noise_for_seeds(seeds: Sequence[int], shape: tuple[int, ...]) -> torch.Tensor:
    """One starting noise per seed, independent of how many images are drawn together."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


# Images per model call in the samplers: a guided step runs the model on twice as many. On a small CPU larger
# batches gain little (the convolutions are already compute-bound) and cost memory; see `bench-speed`.
SAMPLE_BATCH = 256


def outside_inference(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor computed under ``torch.inference_mode()`` as an ordinary one (a copy made outside the mode), so
    callers may use it in autograd (the concept-inversion audit trains on samples) or modify it in place."""
    return tensor.clone()


def ddim_sample(model: nn.Module, alphas_cumprod: torch.Tensor, classes: Sequence[int] | torch.Tensor,
                seeds: Sequence[int], null_class: int, guidance: float = DEFAULT_GUIDANCE,
                steps: int = DEFAULT_STEPS, image_shape: tuple[int, ...] | None = None,
                batch_size: int = SAMPLE_BATCH) -> torch.Tensor:
    """DDIM (eta = 0) with classifier-free guidance eps = eps(x, null) + w (eps(x, c) - eps(x, null)).
    Returns samples in the model's [-1, 1] space, one per (class, seed) pair. Runs under
    ``torch.inference_mode()``; the result is an ordinary tensor."""
    guidance, steps = validate_sampling(guidance, steps, len(alphas_cumprod))
    classes = torch.as_tensor(list(classes) if not torch.is_tensor(classes) else classes, dtype=torch.long)
    if len(classes) != len(seeds):
        raise ValueError("one seed per class label is needed")
    config = getattr(model, "config", None)
    if image_shape is None:
        image_shape = (config.in_channels, config.sample_size, config.sample_size)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            samples = _ddim_batches(model, alphas_cumprod, classes, list(seeds), null_class, guidance, steps,
                                    image_shape, batch_size)
    finally:
        model.train(was_training)
    return outside_inference(samples)


def _ddim_batches(model, alphas_cumprod, classes, seeds, null_class, guidance, steps, image_shape, batch_size):
    a_bar = alphas_cumprod.double()
    times = ddim_timesteps(len(a_bar), steps)
    out = []
    for start in range(0, len(seeds), batch_size):
        c = classes[start:start + batch_size]
        x = noise_for_seeds(seeds[start:start + batch_size], image_shape).double()
        n = len(c)
        null = torch.full_like(c, null_class)
        for i, t in enumerate(times):
            a_t = a_bar[t]
            a_prev = a_bar[times[i + 1]] if i + 1 < len(times) else torch.tensor(1.0, dtype=torch.float64)
            t_batch = torch.full((2 * n,), t, dtype=torch.long)
            if guidance == 1.0:
                eps = model(x.float(), t_batch[:n], class_labels=c).sample.double()
            elif guidance == 0.0:
                eps = model(x.float(), t_batch[:n], class_labels=null).sample.double()
            else:
                both = model(torch.cat([x, x]).float(), t_batch, class_labels=torch.cat([c, null])).sample.double()
                eps_c, eps_null = both[:n], both[n:]
                eps = eps_null + guidance * (eps_c - eps_null)
            x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()  # consistent with the clipped x0
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        out.append(x.float())
    return torch.cat(out) if out else torch.empty((0, *image_shape))
