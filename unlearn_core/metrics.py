"""Metrics shared by the adapters and the report: MIA-efficacy, gaps to Retrain, Frechet distance."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.svm import SVC

GAP_METRICS = ("ua", "ra", "ta", "mia")


def mia_feature(probs: np.ndarray, labels: np.ndarray, feature: str) -> np.ndarray:
    """Per-sample attack feature from softmax outputs: true-label confidence or prediction entropy."""
    if feature == "confidence":
        return probs[np.arange(len(labels)), labels][:, None]
    if feature == "entropy":
        p = np.clip(probs, 1e-12, 1.0)
        return -(p * np.log(p)).sum(1, keepdims=True)
    raise ValueError(f"feature must be 'confidence' or 'entropy', got {feature!r}")


def mia_efficacy(member_probs, member_labels, nonmember_probs, nonmember_labels, target_probs, target_labels,
                 feature: str = "confidence") -> float:
    """SalUn's MIA-efficacy: an RBF SVC (C=3) learns members (retain) vs non-members (test) from one
    feature, then the share of the forget set it calls non-member is returned, in percent."""
    x = np.concatenate([mia_feature(member_probs, member_labels, feature),
                        mia_feature(nonmember_probs, nonmember_labels, feature)])
    y = np.concatenate([np.ones(len(member_labels)), np.zeros(len(nonmember_labels))])
    attack = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
    predicted_member = attack.predict(mia_feature(target_probs, target_labels, feature))
    return float(100.0 * (1.0 - predicted_member.mean()))


def avg_gap(metrics: dict[str, float], retrain: dict[str, float]) -> float:
    """Mean |metric - Retrain's| over UA, RA, TA and MIA (SalUn's Avg. Gap)."""
    return float(np.mean([abs(metrics[k] - retrain[k]) for k in GAP_METRICS]))


def fid_worsening(unlearned_fid: float, original_fid: float) -> float:
    """How much worse (in percent, negative = better) the unlearned model's FID is than the original's."""
    return 100.0 * (unlearned_fid - original_fid) / max(original_fid, 1e-9)


GENERATION_GAP_METRICS = ("ua", "retain_acc", "fid")


def generation_gap(unlearned: dict[str, float], retrain: dict[str, float], original: dict[str, float]) -> float:
    """Class-conditional generation's stand-in for Avg. Gap: the mean of |ua - Retrain's|, |retain_acc -
    Retrain's| and the FID's worsening over the original's in percent, from 0 (not worse) to 100 (doubled or
    more: a model whose FID doubled is as broken as one that no longer draws the retained classes, so every
    term tops out at 100)."""
    fid_worse = min(100.0, max(0.0, fid_worsening(unlearned["fid"], original["fid"])))
    return float(np.mean([abs(unlearned["ua"] - retrain["ua"]), abs(unlearned["retain_acc"] - retrain["retain_acc"]),
                          fid_worse]))


def generation_gap_of(metrics: dict[str, Any]) -> float | None:
    """The generation gap of report metrics holding the unlearned, Retrain and original models' generation
    scores; None for other families (or without Retrain)."""
    unlearned, retrain, original = (metrics.get(k) for k in ("unlearned", "retrain", "original"))
    if unlearned and retrain and original and set(GENERATION_GAP_METRICS) <= set(unlearned):
        return generation_gap(unlearned, retrain, original)
    return None


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula)."""
    from scipy import linalg

    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    with warnings.catch_warnings():
        # Dead ReLU units make the feature covariances singular; scipy warns, and the product's square root
        # is still the one FID needs (pytorch-fid accepts it the same way, falling back only on non-finite).
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))
