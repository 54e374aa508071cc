"""Files a run produces: unlearned weights (safetensors, report in the metadata) and image grids."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn


def save_weights(model: nn.Module, path: Path, report: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"report": json.dumps(report, default=float)} if report else None
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path), metadata)
    return path


def save_grid(outcome, path: Path) -> Path:
    """Before/after grid for generative models (the task adapter renders it)."""
    from .errors import UnlearningInputError

    render = getattr(outcome.task, "before_after_grid", None)
    if render is None:
        raise UnlearningInputError(f"--grid needs a generative model; '{outcome.report['model']}' is a classifier")
    return render(outcome, Path(path))
