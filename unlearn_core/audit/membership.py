"""Per-example membership inference against an unlearned classifier: U-LiRA (Hayes et al. 2024, "Inexact
unlearning needs more careful evaluations"), built on LiRA (Carlini et al. 2022, "Membership inference
attacks from first principles").

The question per forget sample: does the unlearned model treat it like a model that trained on it and then
unlearned it, or like one that never saw it? Shadow models (:mod:`.shadows`), each trained on a known half of
a pool, answer what both look like for that very sample: each shadow unlearns, with the audited method and
the run's hyperparameters, the audited samples in its half; for every audited sample the shadows whose half
held it give the "in" distribution of a confidence statistic, the others the "out" one, and the likelihood
ratio of the audited model's statistic under the two Gaussians scores the sample. Forget samples (members)
against held-out samples (non-members): an AUC near 0.5 means the forget set no longer stands out, as for
Retrain (the sanity floor); the original model shows how much there was to hide.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from ..cache import ModelCache
from ..data import DigitsSplit, forget_indices
from ..errors import UnlearningInputError
from ..hparams import as_config, hparam
from ..metering import Work
from ..methods import get_method
from ..runner import RunOutcome, retrain_is_ready, retrain_model
from ..tasks.classification import ClassificationTask
from ..zoo import base_model, get_model_spec
from ..zoo.shipped_classifier import get_classifier
from .shadows import ShadowSet, build_shadows, load_shadows, shadows_to_train

ProgressFn = Callable[[float, str], None]

__all__ = ["ULiRAConfig", "ulira", "build_shadows", "load_shadows", "logit_confidence"]

# False-positive rates the report reads the ROC curve at (the attack's precision regime matters most).
LOW_FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_5pct_fpr": 0.05}
ROC_POINTS = 101
# Floor on the fitted standard deviations: a statistic that saturates in every shadow would give a zero
# variance and an infinite likelihood ratio.
MIN_STD = 1e-3

# The plain shadows' statistic over the whole pool depends only on the shadows (model name first: cache.py).
_PLAIN_PHI = ModelCache(8)


@dataclasses.dataclass
class ULiRAConfig:
    """U-LiRA: per-example Gaussians of the logit-scaled confidence phi = log p_y - log(1 - p_y) from K shadow
    models, half of which held each audited sample before unlearning it; score = log N(phi; in) - log N(phi;
    out) (a likelihood ratio test). Members are the forget set, non-members held-out samples."""

    shadows: int = hparam(16, "shadow models (each trained once per classifier on half the pool and cached; "
                              "even, at least 16 for a stable test)", low=4, high=256)
    non_members: int = hparam(0, "held-out samples audited beside the forget set (0 = as many as the forget set; "
                                 "capped by the held-out samples available)", low=0, high=100_000)


def _config(config: ULiRAConfig | dict[str, Any] | None) -> ULiRAConfig:
    config = as_config(ULiRAConfig, config)
    if config.shadows % 2:  # the keep matrix puts every sample in exactly half the shadows
        raise UnlearningInputError(f"hyperparameter 'shadows' must be an even integer in [4, 256]; got {config.shadows}")
    return config


def work(report: dict[str, Any], task, config: ULiRAConfig | dict[str, Any] | None) -> Work:
    """The audit's work (its budget): every shadow unlearns with the run's method and settings, on about half
    the run's sets (the audited samples in its half); each shadow neither shipped nor cached trains first (on
    half the pool, priced as a training from scratch: errs long), and so does Retrain when it is not at hand."""
    config = _config(config)
    spec = get_model_spec(report["model"])
    method = get_method(report["method"]).for_task(spec.family, report["hyperparameters"])
    members = task.size("forget")
    audited = members + (config.non_members or members)
    per_shadow = method.work(-(-audited // 2), task.size("retain") // 2)
    retrains = shadows_to_train(report["model"], config.shadows) + (not retrain_is_ready(report["model"], task))
    return Work(per_shadow.passes * config.shadows, per_shadow.scores * config.shadows,
                per_shadow.retrains * config.shadows + retrains)


@torch.no_grad()
def logit_confidence(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """LiRA's statistic per sample: log p_y - log(1 - p_y) from the logits, as z_y - logsumexp_{j != y} z_j
    (stable where p_y rounds to 1, which it does for memorised samples). Leaves the model's mode unchanged."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size]).double()
        labels = y[start:start + batch_size]
        true = logits.gather(1, labels[:, None]).squeeze(1)
        others = logits.scatter(1, labels[:, None], float("-inf")).logsumexp(1)
        out.append(true - others)
    model.train(was_training)
    return torch.cat(out).numpy()


def _gaussian_log_density(phi: np.ndarray, mean: np.ndarray, std: float) -> np.ndarray:
    return -0.5 * ((phi - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def _fit(phi: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, float]:
    """Per-sample means and one pooled std per side from shadow statistics ``phi`` (K, C) and the (K, C) mask
    of shadows that held each sample. LiRA's fixed-variance variant: with K/2 shadows a side (8 at K=16) a
    per-sample variance is too noisy to trust, while the means still carry the per-example difficulty."""
    fitted = []
    for side in (inside, ~inside):
        counts = side.sum(axis=0)
        mean = (phi * side).sum(axis=0) / counts
        squares = (((phi - mean) ** 2) * side).sum()
        dof = max(int(counts.sum()) - phi.shape[1], 1)  # each sample's mean uses one degree of freedom
        fitted += [mean, max(math.sqrt(squares / dof), MIN_STD)]
    return tuple(fitted)


def _scores(phi_target: np.ndarray, phi_shadows: np.ndarray, inside: np.ndarray) -> np.ndarray:
    mean_in, std_in, mean_out, std_out = _fit(phi_shadows, inside)
    return (_gaussian_log_density(phi_target, mean_in, std_in)
            - _gaussian_log_density(phi_target, mean_out, std_out))


def _roc_summary(is_member: np.ndarray, scores: np.ndarray) -> tuple[dict[str, float], dict[str, list[float]]]:
    """AUC (0..1), TPR (percent) at the low FPRs of the interpolated ROC, and the curve on a 101-point grid."""
    fpr, tpr, _ = roc_curve(is_member, scores)
    # Where the curve is vertical several points share an FPR; interpolate on its upper envelope.
    unique_fpr = np.unique(fpr)
    envelope = np.array([tpr[fpr == value].max() for value in unique_fpr])
    summary = {"auc": float(roc_auc_score(is_member, scores))}
    for key, rate in LOW_FPRS.items():
        summary[key] = float(100.0 * np.interp(rate, unique_fpr, envelope))
    grid = np.linspace(0.0, 1.0, ROC_POINTS)
    curve = {"fpr": [round(float(v), 4) for v in grid],
             "tpr": [round(float(v), 4) for v in np.interp(grid, unique_fpr, envelope)]}
    return summary, curve


def _plain_phi(shadows: ShadowSet) -> np.ndarray:
    """(K, N) statistic of every pool sample on every shadow before unlearning, computed once per shadow set."""
    key = (shadows.model_name, str(shadows.folder), shadows.count, shadows.build_s)
    return _PLAIN_PHI.remember(key, lambda: np.stack(
        [logit_confidence(model, shadows.x_pool, shadows.y_pool) for model in shadows.models]))


def _candidates(report: dict, shadows: ShadowSet, outcome: RunOutcome, non_members: int) -> tuple[np.ndarray, int]:
    """Pool indices of the audited samples: the run's forget set, then held-out samples (of the forgotten
    class for class:K) drawn with the run's seed; and how many members lead the list."""
    spec = get_model_spec(report["model"])
    request = spec.parse_forget(report["forget"])
    train_labels = shadows.y_pool[:shadows.members]
    forget = forget_indices(request, train_labels, int(report["seed"]), spec.num_classes)
    if not torch.equal(shadows.x_pool[:shadows.members][forget], outcome.task.x_forget):
        raise UnlearningInputError(
            f"the run's forget set is not {report['forget']} of {report['model']}'s training data (seed "
            f"{report['seed']}); ulira audits runs of the shipped classifiers as the runner makes them")
    members = forget.nonzero().squeeze(1)
    held_out = torch.arange(shadows.members, len(shadows.y_pool))
    if request.kind == "class":
        held_out = held_out[shadows.y_pool[held_out] == request.value]
    wanted = min(non_members or len(members), len(held_out))
    if wanted < 1:
        raise UnlearningInputError(f"{report['model']} has no held-out samples to audit {report['forget']} against")
    order = torch.randperm(len(held_out), generator=torch.Generator().manual_seed(int(report["seed"])))
    return torch.cat([members, held_out[order[:wanted]]]).numpy(), len(members)


def _unlearned_shadow_phi(report: dict, shadows: ShadowSet, candidates: np.ndarray,
                          progress: ProgressFn | None) -> np.ndarray:
    """(K, C) statistic of the audited samples on each shadow after it unlearned, with the audited method and
    the run's exact hyperparameters, the audited samples in its half (and for class:K, all of class K in it)."""
    spec = get_model_spec(report["model"])
    request = spec.parse_forget(report["forget"])
    classifier = get_classifier(report["model"])
    test = classifier.split()  # shadows are judged on the model's own test split
    audited = torch.zeros(len(shadows.y_pool), dtype=torch.bool)
    audited[torch.from_numpy(candidates)] = True
    x_candidates, y_candidates = shadows.x_pool[candidates], shadows.y_pool[candidates]
    phi = np.empty((shadows.count, len(candidates)))
    for k, shadow in enumerate(shadows.models):
        half = shadows.keep[k]
        forget = audited[half]
        if request.kind == "class":  # the run forgets the whole class, so does the shadow
            forget |= shadows.y_pool[half] == request.value
        # Distinct per shadow, fixed by the run's seed: the audit is reproducible.
        seed = int(report["seed"]) * 1009 + k
        split = DigitsSplit(shadows.x_pool[half], shadows.y_pool[half], test.x_test, test.y_test, test.num_classes)
        task = ClassificationTask(split, request, seed, classifier.recipe, training_seed=shadows.seeds[k],
                                  model_config=classifier.config, forget_mask=forget)
        # No Retrain for shadows: target_forget_score stays None and SLUG aims at the task's own estimate.
        method = get_method(report["method"]).for_task(spec.family, report["hyperparameters"])
        torch.manual_seed(seed)
        result = method.unlearn(copy.deepcopy(shadow).requires_grad_(True), task)
        phi[k] = logit_confidence(result.model, x_candidates, y_candidates)
        if progress:
            progress((k + 1) / shadows.count, f"shadow {k + 1}/{shadows.count} unlearned with {method.label}")
    return phi


def _check(outcome: RunOutcome) -> dict:
    if not isinstance(outcome, RunOutcome):
        raise UnlearningInputError(f"ulira audits a finished run (a RunOutcome); got {type(outcome).__name__}")
    report = outcome.report
    spec = get_model_spec(report["model"])
    if spec.family != "classification":
        raise UnlearningInputError(f"ulira applies to classifiers; this model's family is {spec.family}")
    get_classifier(report["model"])  # a classifier the lab trains: shadows need its recipe
    return report


def _sub(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(start + (end - start) * fraction, message)


def ulira(outcome: RunOutcome, config: ULiRAConfig | dict[str, Any] | None = None,
          progress: ProgressFn | None = None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """U-LiRA membership audit of a classifier run: forget samples (members) against as many held-out
    samples (non-members), scored for the unlearned model, the original (doing nothing) and Retrain.

    Returns plain data: ``auc`` (0..1), ``tpr_at_1pct_fpr`` and ``tpr_at_5pct_fpr`` (percent, 0..100) for the
    unlearned model; the same keys under ``original`` and ``retrain`` (None without a Retrain reference);
    ``mia_efficacy`` (the report's confidence-based MIA for the three models, to compare the two attacks);
    ``roc`` (fpr/tpr lists of up to 101 points per model); ``members``, ``non_members``, ``shadows`` (K),
    ``shadow_source`` ("shipped", "cache" or "trained"), ``shadow_build_s`` and ``seconds`` (this audit).
    The run's model is only read. Shadows come from ``cache_dir`` (default: see :mod:`.shadows`) when not
    shipped."""
    report = _check(outcome)
    config = _config(config)
    start = time.perf_counter()
    name = report["model"]
    shadows = load_shadows(name, config.shadows, _sub(progress, 0.0, 0.15), cache_dir=cache_dir)
    candidates, member_count = _candidates(report, shadows, outcome, config.non_members)
    is_member = np.arange(len(candidates)) < member_count
    inside = shadows.keep[:, candidates].numpy()
    x_candidates, y_candidates = shadows.x_pool[candidates], shadows.y_pool[candidates]

    unlearned_phi = _unlearned_shadow_phi(report, shadows, candidates, _sub(progress, 0.15, 0.9))
    tests = {"unlearned": (outcome.model, unlearned_phi),
             "original": (base_model(name), _plain_phi(shadows)[:, candidates])}
    reference = retrain_model(name, report["forget"], report["seed"], progress=_sub(progress, 0.9, 0.98))
    if reference.model is not None:  # Retrain faces the same test as the unlearned model
        tests["retrain"] = (reference.model, unlearned_phi)

    summaries, curves = {}, {}
    for label, (model, shadow_phi) in tests.items():
        scores = _scores(logit_confidence(model, x_candidates, y_candidates), shadow_phi, inside)
        summaries[label], curves[label] = _roc_summary(is_member, scores)
    metrics = report.get("metrics", {})
    if progress:
        progress(1.0, "membership audit done")
    return {
        **summaries["unlearned"], "original": summaries["original"], "retrain": summaries.get("retrain"),
        "mia_efficacy": {label: metrics.get(label, {}).get("mia") for label in ("unlearned", "original", "retrain")},
        "roc": {label: curves.get(label) for label in ("unlearned", "original", "retrain")},
        "members": int(member_count), "non_members": int(len(candidates) - member_count),
        "shadows": shadows.count, "shadow_source": shadows.source, "shadow_build_s": shadows.build_s,
        "seconds": time.perf_counter() - start,
    }
