"""Sampling and image grids for the class-conditional diffusion models."""
from .sampling import (DEFAULT_GUIDANCE, DEFAULT_STEPS, GUIDANCE_RANGE, STEPS_RANGE, ddim_sample, ddim_timesteps,
                       noise_for_seeds, validate_sampling)

__all__ = ["DEFAULT_GUIDANCE", "DEFAULT_STEPS", "GUIDANCE_RANGE", "STEPS_RANGE", "ddim_sample", "ddim_timesteps",
           "noise_for_seeds", "validate_sampling"]
