"""Registration of the models this project ships (see assets/)."""
from __future__ import annotations

from pathlib import Path

from .data import ForgetRequest, load_digits_split
from .models.classifier import WEIGHTS_NAME, DigitsCNN
from .training import ClassifierRecipe, accuracy, train_classifier
from .zoo import ASSETS, ModelSpec, base_model, register_model

DIGITS_CNN_DIR = ASSETS / "digits-cnn"
DIGITS_CNN_SEED = 0


def _digits_task(request: ForgetRequest, seed: int):
    from .tasks.classification import ClassificationTask

    image_size = base_model("digits-cnn").config.image_size
    return ClassificationTask(load_digits_split(image_size), request, seed, ClassifierRecipe())


def train_digits_cnn(out_dir: Path = DIGITS_CNN_DIR, seed: int = DIGITS_CNN_SEED, progress=None) -> dict:
    split = load_digits_split(16)
    recipe = ClassifierRecipe()
    model = train_classifier(split.x_train, split.y_train, seed, recipe, progress=progress)
    train_acc, test_acc = accuracy(model, split.x_train, split.y_train), accuracy(model, split.x_test, split.y_test)
    card = f"""---
license: mit
tags: [machine-unlearning, digits, safetensors]
---
# digits-cnn

A small CNN (4 conv + 2 linear layers, {sum(p.numel() for p in model.parameters()):,} parameters) for
scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes), upsampled bilinearly to 16x16.

- **Data:** `sklearn.datasets.load_digits`, stratified 80/20 train/test split with `random_state=0`
  ({len(split.x_train)} train / {len(split.x_test)} test images), pixel values scaled to [0, 1].
- **Recipe:** `python -m unlearn_core train digits-cnn` (seed {seed}): AdamW, one-cycle learning rate
  (max {recipe.lr}), weight decay {recipe.weight_decay}, {recipe.epochs} epochs, batch {recipe.batch_size},
  random affine augmentation (shift {recipe.shift_px} px, rotation {recipe.rotate_deg} deg, scale
  {recipe.scale}). Retrain (exact unlearning) uses the same recipe on the retain set.
- **Accuracy:** train {train_acc:.2f}%, test {test_acc:.2f}%.
- **Files:** `config.json` (architecture), `model.safetensors` (weights).
"""
    model.save_pretrained(out_dir, card=card)
    return {"train_accuracy": train_acc, "test_accuracy": test_acc}


register_model(ModelSpec(
    name="digits-cnn", family="classification",
    description="Digits classifier (CNN, 16x16 input) trained by this project on scikit-learn's digits",
    forget_kinds=("class", "random"), num_classes=10,
    load=lambda: DigitsCNN.from_pretrained(DIGITS_CNN_DIR), make_task=_digits_task,
    train=train_digits_cnn, available=lambda: (DIGITS_CNN_DIR / WEIGHTS_NAME).exists(),
))
