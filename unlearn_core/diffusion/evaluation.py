"""Judging generated digits with the shipped classifier: accuracy per condition and feature statistics."""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..assets import ASSETS
from ..data import resize
from ..models.classifier import DigitsCNN
from ..models.ddpm import to_pixels


@functools.lru_cache(maxsize=1)
def digits_classifier() -> nn.Module:
    """The shipped digits CNN (16x16 input in [0, 1]), read-only."""
    return DigitsCNN.from_pretrained(ASSETS / "digits-cnn").requires_grad_(False).eval()


def classifier_input(samples: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Model-space samples -> [0, 1] pixels, upsampled bilinearly exactly as the classifier's data was."""
    return resize(to_pixels(samples), size)


@torch.no_grad()
def classify(samples: torch.Tensor) -> torch.Tensor:
    classifier = digits_classifier()
    return classifier(classifier_input(samples, classifier.config.image_size)).argmax(1)


@torch.no_grad()
def features(images01_16: torch.Tensor) -> np.ndarray:
    """The classifier's penultimate features of [0, 1] 16x16 images."""
    return digits_classifier().features(images01_16).double().numpy()


def accuracy_by_class(predicted: torch.Tensor, conditioned: torch.Tensor, classes: Sequence[int]) -> dict[int, float]:
    return {int(c): float(100.0 * (predicted[conditioned == c] == c).float().mean()) for c in classes}
