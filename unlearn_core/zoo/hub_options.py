"""Where a user's model (CLIP or Stable Diffusion) and its data live, and how to run it: the options that
``--model-path`` and friends (CLI) or ``UNLEARN_*`` variables (app) give :func:`.hub.configure`."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class HubOptions:
    """Where a user's model and data live, and how to run it."""

    path: str
    device: str | None = None            # cpu, cuda, cuda:N; None = cuda when available
    dtype: str | None = None             # float32, float16, bfloat16; None = float16 on cuda, float32 on cpu
    data: str | None = None              # CLIP: DATA/<name>/*.png; SD: DATA/forget/*, DATA/retain/* (+ prompts)
    forget_dir: str | None = None        # images of the forget target (overrides DATA)
    retain_dir: str | None = None        # CLIP: ROOT/<name>/*; SD: images (+ prompts.txt) to keep
    names: str | None = None             # CLIP: names file, one per line (default: DATA's folder names)
    prompts: str | None = None           # SD: evaluation prompts file (one per line)
    clip_path: str | None = None         # SD: a CLIP model for the CLIP-score
    tower: str = "both"                  # CLIP: vision, text or both
    template: str = "a photo of {}."     # CLIP: zero-shot prompt template
    max_images: int = 50                 # per name (CLIP) or per set (SD)
    unet_part: str = "full"              # SD: the UNet weights methods train (full or cross-attention)
    anchor: str | None = None            # SD: what SalUn's relabelled target draws instead of the concept
    guidance: float = 7.5                # SD: classifier-free guidance of every sample
    steps: int = 25                      # SD: DDIM steps of every sample
    generate: int = 4                    # SD: images the model draws per prompt when a set has no images
    eval_seeds: int = 2                  # SD: seeds per evaluation prompt (before/after images, metrics)
