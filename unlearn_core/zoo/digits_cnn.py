"""digits-cnn: the digits classifier this project ships (see assets/), its Retrain references, task factory,
training entry and model card."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..assets import ASSETS
from ..data import ForgetRequest, forget_indices, load_digits_split
from ..errors import UnlearningInputError
from ..models.classifier import WEIGHTS_NAME, DigitsCNN
from ..tasks.classification import ClassificationTask
from ..training import ClassifierRecipe, accuracy, train_classifier
from .registry import ModelSpec, base_model, register_model

DIGITS_CNN_DIR = ASSETS / "digits-cnn"
DIGITS_CNN_SEED = 0
RETRAIN_RECORD = "retrain.json"


def retrain_dir(forget_class: int) -> Path:
    """Where the shipped Retrain reference of digits-cnn without ``forget_class`` lives."""
    return ASSETS / "digits-cnn-retrain" / f"class{int(forget_class)}"


def _digits_task(request: ForgetRequest, seed: int) -> ClassificationTask:
    image_size = base_model("digits-cnn").config.image_size
    shipped = retrain_dir(int(request.value)) if request.kind == "class" else None
    return ClassificationTask(load_digits_split(image_size), request, seed, ClassifierRecipe(),
                              training_seed=DIGITS_CNN_SEED, reference_dir=shipped)


def _card(model: DigitsCNN, recipe: ClassifierRecipe, seed: int, n_train: int, n_test: int, accuracies: str,
          forget_class: int | None, train_s: float) -> str:
    name = "digits-cnn" if forget_class is None else f"digits-cnn Retrain reference without class {forget_class}"
    command = "python -m unlearn_core train digits-cnn" + (f" --forget class:{forget_class}"
                                                           if forget_class is not None else "")
    data = (f"({n_train} train / {n_test} test images)" if forget_class is None else
            f"(training part without class {forget_class}: {n_train} images; exact unlearning of `class:{forget_class}`)")
    return f"""---
license: mit
tags: [machine-unlearning, digits, safetensors]
---
# {name}

A small CNN (4 conv + 2 linear layers, {sum(p.numel() for p in model.parameters()):,} parameters) for
scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes), upsampled bilinearly to 16x16.

- **Data:** `sklearn.datasets.load_digits`, stratified 80/20 train/test split with `random_state=0`
  {data}, pixel values scaled to [0, 1].
- **Recipe:** `{command}` (seed {seed}): AdamW, one-cycle learning rate
  (max {recipe.lr}), weight decay {recipe.weight_decay}, {recipe.epochs} epochs, batch {recipe.batch_size},
  random affine augmentation (shift {recipe.shift_px} px, rotation {recipe.rotate_deg} deg, scale
  {recipe.scale}). Retrain (exact unlearning) uses the same recipe and seed on the retain set. Training took
  {train_s:.0f} s on the 2-core CPU (one thread).
- **Accuracy:** {accuracies}.
- **Files:** `config.json` (architecture), `model.safetensors` (weights){', `retrain.json` (training time)'
  if forget_class is not None else ''}.
"""


def train_digits_cnn(out_dir: Path | None = None, seed: int = DIGITS_CNN_SEED, progress=None,
                     forget: str | None = None) -> dict:
    """Train the shipped classifier, or with ``forget="class:K"`` its Retrain reference without class K."""
    split = load_digits_split(16)
    recipe = ClassifierRecipe()
    x, y = split.x_train, split.y_train
    forget_class = None
    if forget is not None:
        request = ForgetRequest.parse(forget, split.num_classes)
        if request.kind != "class":
            raise UnlearningInputError(
                f"shipped digits-cnn Retrain references forget a class (class:K); got '{forget}' "
                "(Retrain for random:P is trained inside the run)")
        forget_class = int(request.value)
        keep = ~forget_indices(request, y, seed, split.num_classes)
        x, y = x[keep], y[keep]
    out_dir = Path(out_dir) if out_dir is not None else (
        retrain_dir(forget_class) if forget_class is not None else DIGITS_CNN_DIR)
    start = time.perf_counter()
    model = train_classifier(x, y, seed, recipe, progress=progress)
    train_s = time.perf_counter() - start
    train_acc = accuracy(model, x, y)
    if forget_class is None:
        test_acc = accuracy(model, split.x_test, split.y_test)
        result = {"train_accuracy": train_acc, "test_accuracy": test_acc}
        accuracies = f"train {train_acc:.2f}%, test {test_acc:.2f}%"
    else:
        kept = split.y_test != forget_class
        test_acc = accuracy(model, split.x_test[kept], split.y_test[kept])
        forget_test = accuracy(model, split.x_test[~kept], split.y_test[~kept])
        result = {"train_accuracy": train_acc, "test_accuracy_retained_classes": test_acc,
                  "test_accuracy_forget_class": forget_test}
        accuracies = (f"retained training data {train_acc:.2f}%, test (retained classes) {test_acc:.2f}%, "
                      f"test images of class {forget_class} {forget_test:.2f}%")
    model.save_pretrained(out_dir, card=_card(model, recipe, seed, len(x), len(split.x_test), accuracies,
                                              forget_class, train_s))
    result["train_s"] = train_s
    if forget_class is not None:
        (out_dir / RETRAIN_RECORD).write_text(json.dumps({"forget": forget, "seed": seed, **result}, indent=2) + "\n")
    return {**result, "out_dir": str(out_dir)}


register_model(ModelSpec(
    name="digits-cnn", family="classification",
    description="Digits classifier (CNN, 16x16 input) trained by this project on scikit-learn's digits",
    forget_kinds=("class", "random"), num_classes=10,
    load=lambda: DigitsCNN.from_pretrained(DIGITS_CNN_DIR), make_task=_digits_task,
    train=train_digits_cnn, available=lambda: (DIGITS_CNN_DIR / WEIGHTS_NAME).exists(),
))
