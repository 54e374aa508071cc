"""Input attributions (captum) on a few forget samples, before and after unlearning, as plain arrays.

For a classifier, the attribution of the sample's true label shows where the model finds evidence for the
class it should forget. After a good unlearning that evidence fades or scatters, the way it does for a model
that never saw the class.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import UnlearningInputError, shown

ATTRIBUTION_METHODS = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency (|input gradient|)",
}
DEFAULT_SAMPLES = 4
IG_STEPS = 32


def attribution_method_key(name: str) -> str:
    """Accept a key or its label ("Integrated Gradients"); raise a clear error otherwise."""
    text = str(name).strip()
    for key, label in ATTRIBUTION_METHODS.items():
        if text.lower() in (key, label.lower(), key.replace("_", " ")):
            return key
    raise UnlearningInputError(
        f"attribution method must be one of {', '.join(ATTRIBUTION_METHODS.values())}; got {shown(name)}")


def pick_forget_samples(task: Any, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` forget samples chosen by the run's seed (the same ones before and after)."""
    x, y = getattr(task, "x_forget", None), getattr(task, "y_forget", None)
    if x is None or y is None or len(x) == 0:
        raise UnlearningInputError("attributions need a classifier task with forget samples")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))[:count]
    return x[order], y[order]


def _attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor, method: str) -> np.ndarray:
    from captum.attr import IntegratedGradients, Saliency

    model = model.eval()
    inputs = x.clone().requires_grad_(True)
    if method == "saliency":
        values = Saliency(model).attribute(inputs, target=target, abs=True)
    else:
        # Baseline: a blank (all-zero) image, the background of the digits.
        values = IntegratedGradients(model).attribute(inputs, baselines=torch.zeros_like(inputs), target=target,
                                                      n_steps=IG_STEPS)
    model.zero_grad(set_to_none=True)
    return values.detach().sum(dim=1).cpu().numpy()  # sum over channels -> (n, H, W)


def _predictions(model: nn.Module, x: torch.Tensor) -> tuple[list[int], list[float]]:
    with torch.no_grad():
        probs = torch.softmax(model.eval()(x), dim=1)
    conf, pred = probs.max(dim=1)
    return [int(p) for p in pred], [float(c) for c in conf]


def forget_attributions(original: nn.Module, unlearned: nn.Module, task: Any, method: str = "integrated_gradients",
                        count: int = DEFAULT_SAMPLES, seed: int = 0) -> dict[str, Any]:
    """Attributions of the true label for ``count`` forget samples under both models.

    Returns plain data: images (n, H, W) in [0, 1], labels, and for "before" and "after" the attributions
    (n, H, W), the predicted labels and their probabilities. Neither model is changed (gradients are taken
    with respect to the inputs on copies' own graph; parameters' ``requires_grad`` flags are left as they are).
    """
    method = attribution_method_key(method)
    if getattr(task, "kind", "") != "classification":
        raise UnlearningInputError("input attributions are shown for classifiers only")
    x, y = pick_forget_samples(task, int(count), seed)
    out: dict[str, Any] = {"method": method, "method_label": ATTRIBUTION_METHODS[method],
                           "signed": method == "integrated_gradients",
                           "images": x.sum(dim=1).clamp(0, 1).cpu().numpy(), "labels": [int(v) for v in y]}
    for key, model in (("before", original), ("after", unlearned)):
        flags = [p.requires_grad for p in model.parameters()]
        try:
            model.requires_grad_(False)
            attributions = _attribute(model, x, y, method)
        finally:
            for p, flag in zip(model.parameters(), flags):
                p.requires_grad_(flag)
        predicted, probability = _predictions(model, x)
        out[key] = {"attributions": attributions, "predicted": predicted, "probability": probability}
    return out
