"""Bundled data (scikit-learn's handwritten digits) and forget requests.

The split is fixed by ``DATA_SEED`` so every model, run and benchmark sees the same train/test sets; a
run's own seed only decides random forget sets and the method's randomness.
"""
from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UnlearningInputError, shown

DATA_SEED = 0
TEST_SHARE = 0.2
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclasses.dataclass(frozen=True)
class ForgetRequest:
    """What to forget: ``class:K``, ``random:P`` (percent of the training set) or ``concept:WORDS``."""

    kind: str
    value: int | float | str

    KINDS = ("class", "random", "concept")

    @classmethod
    def parse(cls, text: str, num_classes: int | None = None) -> "ForgetRequest":
        if not isinstance(text, str):
            raise UnlearningInputError(
                "forget target must be text like class:K, random:P or concept:WORDS (e.g. 'class:3'); got "
                f"{'a ' + type(text).__name__ + ': ' if isinstance(text, (list, tuple, dict)) else ''}{shown(text)}")
        if ":" not in text:
            raise UnlearningInputError(
                f"forget target must look like 'class:K', 'random:P' or 'concept:WORDS'; got {shown(text)}")
        kind, raw = (part.strip() for part in text.split(":", 1))
        kind = kind.lower()
        if kind == "class":
            valid = f"0..{num_classes - 1}" if num_classes else "a class index"
            # ASCII digits only: int() also reads other scripts' digits (e.g. Arabic-Indic) and "1_0"
            if not re.fullmatch(r"[0-9]{1,6}", raw):
                raise UnlearningInputError(f"class must be an integer in {valid} (ASCII digits); got {shown(raw)}")
            value = int(raw)
            if num_classes is not None and not 0 <= value < num_classes:
                raise UnlearningInputError(f"class must be in {valid}; got {value}")
            return cls("class", value)
        if kind == "random":
            if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{0,6})?|\.[0-9]{1,6}", raw):
                raise UnlearningInputError(
                    f"random share must be a percentage in (0, 100), in ASCII digits (e.g. 10); got {shown(raw)}")
            value = float(raw)
            if not 0 < value < 100:
                raise UnlearningInputError(f"random share must be a percentage in (0, 100); got {value:g}")
            return cls("random", value)
        if kind == "concept":
            words = raw.strip().strip('"').strip("'").strip()
            if not words:
                raise UnlearningInputError("concept must name at least one word, e.g. concept:triangle")
            return cls("concept", words)
        raise UnlearningInputError(f"forget kind must be one of class, random, concept; got {shown(kind)}")

    def __str__(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else self.value
        return f"{self.kind}:{value}"


@dataclasses.dataclass
class DigitsSplit:
    """Train/test tensors in [0, 1], shape (N, 1, size, size), with integer labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int = 10


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (N, 1, H, W) images; bilinear so upsampled digits stay smooth."""
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


@functools.lru_cache(maxsize=8)
def _load_digits_parts(image_size: int, train_share: float) -> tuple[DigitsSplit, torch.Tensor, torch.Tensor]:
    """The split and the rest of the training part that ``train_share`` leaves unused (empty at 1.0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_SHARE, random_state=DATA_SEED, stratify=labels)
    x_unused, y_unused = x_tr[:0], y_tr[:0]
    if train_share < 1.0:  # a stratified, seeded part of the training part; the test part is unchanged
        x_tr, x_unused, y_tr, y_unused = train_test_split(x_tr, y_tr, train_size=train_share,
                                                          random_state=DATA_SEED, stratify=y_tr)
    to_tensor = lambda a: resize(torch.from_numpy(a).unsqueeze(1), image_size).contiguous()  # noqa: E731
    split = DigitsSplit(to_tensor(x_tr), torch.from_numpy(y_tr), to_tensor(x_te), torch.from_numpy(y_te))
    return split, to_tensor(x_unused), torch.from_numpy(y_unused)


def load_digits_split(image_size: int = 16, train_share: float = 1.0) -> DigitsSplit:
    """The seeded, stratified 80/20 split of the 1,797 digits, resized to ``image_size``; with
    ``train_share`` < 1 the training part is a seeded, stratified share of the 80% (a model trained on less
    data generalises less, which the memorising classifier needs) and the test part stays the same 20%.

    The returned tensors are shared; callers must not modify them in place.
    """
    if not 0.0 < float(train_share) <= 1.0:
        raise ValueError(f"train_share must be in (0, 1]; got {train_share}")
    return _load_digits_parts(int(image_size), float(train_share))[0]


def load_digits_unused_part(image_size: int = 16, train_share: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels of the 80% training part that :func:`load_digits_split` with this
    ``train_share`` leaves out (none at 1.0): data a model trained on that split never saw, from the same
    distribution as its training data (membership audits draw their non-members from it). Shared tensors."""
    if not 0.0 < float(train_share) <= 1.0:
        raise ValueError(f"train_share must be in (0, 1]; got {train_share}")
    _, x_unused, y_unused = _load_digits_parts(int(image_size), float(train_share))
    return x_unused, y_unused


def forget_indices(request: ForgetRequest, labels: torch.Tensor, seed: int, num_classes: int) -> torch.Tensor:
    """Indices of the training samples a request forgets (a bool mask over ``labels``)."""
    mask = torch.zeros(len(labels), dtype=torch.bool)
    if request.kind == "class":
        mask[labels == request.value] = True
    elif request.kind == "random":
        count = int(round(len(labels) * request.value / 100.0))
        if count < 1:
            raise UnlearningInputError(
                f"random:{request.value:g} selects no sample out of {len(labels)}; use a larger share")
        generator = torch.Generator().manual_seed(int(seed))
        mask[torch.randperm(len(labels), generator=generator)[:count]] = True
        retained = torch.bincount(labels[~mask], minlength=num_classes)
        empty = [str(c) for c in range(num_classes) if retained[c] == 0]
        if empty:
            raise UnlearningInputError(
                f"random:{request.value:g} removes every training sample of class {', '.join(empty)}; "
                "use 'class:K' to forget a whole class or a smaller share")
    else:
        raise UnlearningInputError(
            f"this model takes forget targets 'class:K' (K in 0..{num_classes - 1}) or 'random:P'; "
            f"got '{request}'")
    return mask
