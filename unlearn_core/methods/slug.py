"""SLUG (Cai et al., 2024): single layer, single gradient unlearning."""
from __future__ import annotations

import dataclasses
import math

import torch

from ..errors import UnlearningInputError, shown
from ..saliency import batch_gradients
from ..hparams import hparam
from .base import GRADIENT_TASKS, UnlearnResult, UnlearningMethod, Work
from .registry import register


@dataclasses.dataclass
class SLUGConfig:
    """SLUG. Gradients g_f (forget loss) and g_r (retain loss) are computed once. Per candidate layer l:
    importance I_l = ||g_f,l|| / ||theta_l||, alignment A_l = |cos(g_f,l, g_r,l)|; the Pareto front keeps
    layers no other layer beats on both (lower A and higher I). One step on one front layer,
    theta_l <- theta_l + lambda g_f,l, with lambda searched from 0.1 ||theta_l|| / ||g_f,l|| (doubling until
    forgetting reaches the target, then bisecting): the smallest step that reaches the target forget score
    while the retain score drops by at most ``retain_tolerance``.
    Departure from the official code: its search stops at forget accuracy 0; here the target is Retrain's
    forget score when Retrain is at hand (for random forgetting ~ the test accuracy: forgetting more is
    over-forgetting), a step is accepted only within ``retain_tolerance``, and when none reaches the target
    within it, the step that forgets most within it is taken."""

    layer: str = hparam("auto", "layer to edit: 'auto' searches every front layer and keeps the best, or a "
                        "layer name from the Pareto plot")
    retain_samples: int = hparam(256, "retain samples for the retain gradient", low=1, high=1000000)
    batch_size: int = hparam(128, "minibatch size for the gradients", low=1, high=4096)
    search_steps: int = hparam(6, "step-size evaluations per layer (binary search)", low=1, high=50)
    max_front_layers: int = hparam(1, "with layer='auto': how many front layers (most important first) to try",
                                   low=1, high=1000)
    target_slack: float = hparam(1.0, "forget score may exceed the target by this many points", low=0.0,
                                 high=100.0)
    retain_tolerance: float = hparam(3.0, "largest acceptable drop of the retain score, in points",
                                     low=0.0, high=100.0)
    search_in: str = hparam("all", "with layer='auto': search the Pareto front of all candidate layers, or (text-to-"
                            "image models) of the text encoder's or the UNet's only",
                            choices=("all", "text_encoder", "unet"))


def mean_gradient(model, task, which: str, batch_size: int, params: dict, limit: int | None = None):
    """The layer weights' gradient of the mean loss, averaged over batches (computed once)."""
    return batch_gradients(model, task, which, batch_size, limit, squared=False, average=True, params=params)


def pareto_front(importance: dict[str, float], alignment: dict[str, float]) -> list[str]:
    """Layers not dominated by one with both lower alignment and higher importance."""
    return [l for l in importance if not any(alignment[j] < alignment[l] and importance[j] > importance[l]
                                             for j in importance)]


def layer_scores(model, task, params, forget_grad, retain_grad):
    scores = []
    for name, p in params.items():
        gf, gr = forget_grad[name].flatten(), retain_grad[name].flatten()
        weight_norm = p.detach().norm().item()
        importance = gf.norm().item() / max(weight_norm, 1e-12)
        alignment = abs(torch.nn.functional.cosine_similarity(gf, gr, dim=0, eps=1e-12).item())
        scores.append({"name": name, "importance": importance, "alignment": alignment,
                       "weight_norm": weight_norm, "grad_norm": gf.norm().item()})
    return scores


@register
class SLUG(UnlearningMethod):
    name, label = "slug", "SLUG"
    tasks = GRADIENT_TASKS
    summary = "One gradient, one layer, one step: edit the Pareto-optimal layer along the forget gradient."
    reference = "Cai et al., Targeted Unlearning with Single Layer Unlearning Gradient, 2024."
    Config = SLUGConfig
    __doc__ = SLUGConfig.__doc__

    def search_step(self, model, task, weight, direction, target: float, base_retain: float):
        """Binary search of lambda on one layer; returns the trace and the accepted lambda (or None)."""
        cfg = self.config
        original = weight.detach().clone()
        lam = 0.1 * original.norm().item() / max(direction.norm().item(), 1e-12)
        low, high, trace = 0.0, math.inf, []
        for _ in range(cfg.search_steps):
            with torch.no_grad():
                weight.copy_(original + lam * direction)
            forget, retain = task.scores(model)
            reached = forget <= target + cfg.target_slack
            trace.append({"lambda": lam, "forget_score": forget, "retain_score": retain, "reached": reached})
            if reached:
                high = lam
            else:
                low = lam
            lam = lam * 2 if math.isinf(high) else (low + high) / 2
        with torch.no_grad():
            weight.copy_(original)
        # The smallest step that reaches the target while the retain score stays within tolerance; failing
        # that, the step that forgets most within tolerance (partial forgetting beats a broken model); failing
        # that, the smallest step tried.
        kept = [t for t in trace if base_retain - t["retain_score"] <= cfg.retain_tolerance]
        accepted = [t for t in kept if t["reached"]]
        if accepted:
            best = min(accepted, key=lambda t: t["lambda"])
        elif kept:
            best = min(kept, key=lambda t: (t["forget_score"], t["lambda"]))
        else:
            best = min(trace, key=lambda t: t["lambda"])
        return {"trace": trace, "lambda": best["lambda"], "forget_score": best["forget_score"],
                "retain_score": best["retain_score"], "reached_target": best["reached"],
                "within_tolerance": best in kept}

    length_knob = "search_steps"

    def work(self, n_forget, n_retain):
        # one forget and one retain gradient, then the step search's score evaluations on each front layer
        cfg = self.config
        layers = 1 if cfg.layer != "auto" else cfg.max_front_layers
        return Work(n_forget + min(cfg.retain_samples, n_retain), scores=1 + layers * cfg.search_steps)

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        model.eval()
        layers = task.layer_weights(model)
        if cfg.layer != "auto" and cfg.layer not in layers:
            raise UnlearningInputError(f"SLUG layer {shown(cfg.layer)} is not a candidate; valid: "
                                       f"auto, {', '.join(layers)}")
        if progress:
            progress(0.0, "SLUG: one forget and one retain gradient")
        forget_grad = mean_gradient(model, task, "forget", cfg.batch_size, layers)
        retain_grad = mean_gradient(model, task, "retain", cfg.batch_size, layers, limit=cfg.retain_samples)
        scores = layer_scores(model, task, layers, forget_grad, retain_grad)
        front = pareto_front({s["name"]: s["importance"] for s in scores}, {s["name"]: s["alignment"] for s in scores})
        for s in scores:
            s["on_front"] = s["name"] in front
        importance = {s["name"]: s["importance"] for s in scores}
        search_front = front
        if cfg.search_in != "all":
            pool = [s for s in scores if s["name"].startswith(cfg.search_in + ".")]
            if not pool:
                raise UnlearningInputError(
                    f"SLUG search_in='{cfg.search_in}' matches no layer of this model; use 'all'")
            search_front = pareto_front({s["name"]: s["importance"] for s in pool},
                                        {s["name"]: s["alignment"] for s in pool})
        candidates = [cfg.layer] if cfg.layer != "auto" else sorted(
            search_front, key=lambda n: -importance[n])[:cfg.max_front_layers]
        target = task.forget_target(model)
        base_retain = task.retain_score(model)
        searches = {}
        for i, name in enumerate(candidates):
            if progress:
                progress((i + 0.5) / len(candidates), f"SLUG: step-size search on {name}")
            searches[name] = self.search_step(model, task, layers[name], forget_grad[name], target, base_retain)
        # Prefer a step that reaches the target within tolerance, then the smallest retain drop.
        chosen = min(candidates, key=lambda n: (not searches[n]["within_tolerance"], not searches[n]["reached_target"],
                                                -searches[n]["retain_score"], searches[n]["forget_score"]))
        with torch.no_grad():
            layers[chosen].add_(searches[chosen]["lambda"] * forget_grad[chosen])
        artifacts = {"slug": {"layers": scores, "front": front, "search_front": search_front, "chosen": chosen,
                              "target": target, "base_retain": base_retain, "lambda": searches[chosen]["lambda"],
                              "trace": searches[chosen]["trace"], "searches": searches}}
        return UnlearnResult(model, artifacts)
