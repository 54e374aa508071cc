"""What the shipped digits classifiers share: where their weights and Retrain references live, their task
factory, their training entry (the model, or a Retrain reference without one class) and their model card.
Each classifier's own module (:mod:`.digits_cnn`, :mod:`.digits_mlp`) describes it with one
:class:`ShippedClassifier` and registers it."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ..assets import ASSETS
from ..data import ForgetRequest, forget_indices, load_digits_split, load_digits_unused_part
from ..errors import UnlearningInputError, shown
from ..models.classifier import WEIGHTS_NAME, DigitsCNNConfig, DigitsMLPConfig, load_classifier
from ..models.pretrained import PretrainedModule
from ..tasks.classification import ClassificationTask, classifier_shipped
from ..training import ClassifierRecipe, ProgressFn, accuracy, train_classifier
from .registry import ModelSpec, register_model

RETRAIN_RECORD = "retrain.json"


@dataclasses.dataclass(frozen=True)
class ShippedClassifier:
    """A digits classifier this project trains and ships, with its Retrain references for every class."""

    name: str
    config: DigitsCNNConfig | DigitsMLPConfig
    recipe: ClassifierRecipe
    architecture: str          # the model card's first sentence: what the network is
    description: str           # one line for the model picker
    train_share: float = 1.0   # share of the 80% training part the model (and Retrain) is trained on
    seed: int = 0

    @property
    def folder(self) -> Path:
        return ASSETS / self.name

    def retrain_dir(self, forget_class: int) -> Path:
        """Where the shipped Retrain reference without ``forget_class`` lives."""
        return ASSETS / f"{self.name}-retrain" / f"class{int(forget_class)}"

    def split(self):
        return load_digits_split(self.config.image_size, self.train_share)

    def held_out(self):
        """Images and labels this model never trained on, from the distribution it trained on: the unused
        rest of the training part when it trains on a share of it, else the test part."""
        if self.train_share < 1.0:
            return load_digits_unused_part(self.config.image_size, self.train_share)
        split = self.split()
        return split.x_test, split.y_test

    def make_task(self, request: ForgetRequest, seed: int) -> ClassificationTask:
        shipped = self.retrain_dir(int(request.value)) if request.kind == "class" else None
        return ClassificationTask(self.split(), request, seed, self.recipe, training_seed=self.seed,
                                  reference_dir=shipped, model_config=self.config)

    def retrain_for(self, request: ForgetRequest) -> str:
        """Shipped for a class whose reference is here; trained in the run (then cached) otherwise."""
        shipped = request.kind == "class" and classifier_shipped(self.retrain_dir(int(request.value)))
        return "shipped" if shipped else "trained"

    def load(self) -> PretrainedModule:
        return load_classifier(self.folder)

    def available(self) -> bool:
        return (self.folder / WEIGHTS_NAME).exists()

    def train(self, out_dir: Path | None = None, seed: int | None = None, progress: ProgressFn | None = None,
              forget: str | None = None) -> dict:
        """Train the shipped classifier, or with ``forget="class:K"`` its Retrain reference without class K."""
        seed = self.seed if seed is None else int(seed)
        split = self.split()
        x, y = split.x_train, split.y_train
        forget_class = None
        if forget is not None:
            request = ForgetRequest.parse(forget, split.num_classes)
            if request.kind != "class":
                raise UnlearningInputError(
                    f"shipped {self.name} Retrain references forget a class (class:K); got '{forget}' "
                    "(Retrain for random:P is trained inside the run)")
            forget_class = int(request.value)
            keep = ~forget_indices(request, y, seed, split.num_classes)
            x, y = x[keep], y[keep]
        out_dir = Path(out_dir) if out_dir is not None else (
            self.retrain_dir(forget_class) if forget_class is not None else self.folder)
        start = time.perf_counter()
        model = train_classifier(x, y, seed, self.recipe, self.config, progress=progress)
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
        card = self.card(model, seed, len(x), len(split.x_test), accuracies, forget_class, train_s)
        model.save_pretrained(out_dir, card=card)
        result["train_s"] = train_s
        if forget_class is not None:
            record = {"forget": forget, "seed": seed, **result}
            (out_dir / RETRAIN_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        return {**result, "out_dir": str(out_dir)}

    def card(self, model: PretrainedModule, seed: int, n_train: int, n_test: int, accuracies: str,
             forget_class: int | None, train_s: float) -> str:
        name = self.name if forget_class is None else f"{self.name} Retrain reference without class {forget_class}"
        command = f"python -m unlearn_core train {self.name}" + (
            f" --forget class:{forget_class}" if forget_class is not None else "")
        part = ("" if self.train_share >= 1.0 else
                f", of whose training part a stratified {self.train_share:.0%} (`random_state=0`) is used")
        data = (f"({n_train} train / {n_test} test images)" if forget_class is None else
                f"(training part without class {forget_class}: {n_train} images; exact unlearning of "
                f"`class:{forget_class}`)")
        recipe = self.recipe
        augmentation = (f"random affine augmentation (shift {recipe.shift_px} px, rotation {recipe.rotate_deg} deg, "
                        f"scale {recipe.scale})" if recipe.augments else "no augmentation")
        size = self.config.image_size
        resolution = ("at their native 8x8 pixels" if size == 8 else f"upsampled bilinearly to {size}x{size}")
        params = sum(p.numel() for p in model.parameters())
        return f"""---
license: mit
tags: [machine-unlearning, digits, safetensors]
---
# {name}

{self.architecture} ({params:,} parameters) for scikit-learn's bundled handwritten digits (1,797 8x8
images, 10 classes), {resolution}.

- **Data:** `sklearn.datasets.load_digits`, stratified 80/20 train/test split with `random_state=0`{part}
  {data}, pixel values scaled to [0, 1].
- **Recipe:** `{command}` (seed {seed}): AdamW, one-cycle learning rate
  (max {recipe.lr}), weight decay {recipe.weight_decay}, {recipe.epochs} epochs, batch {recipe.batch_size},
  {augmentation}. Retrain (exact unlearning) uses the same recipe and seed on the retain set. Training took
  {train_s:.0f} s on the 2-core CPU (one thread).
- **Accuracy:** {accuracies}.
- **Files:** `config.json` (architecture), `model.safetensors` (weights){', `retrain.json` (training time)'
  if forget_class is not None else ''}.
"""

    def spec(self, **extra) -> ModelSpec:
        return ModelSpec(name=self.name, family="classification", description=self.description,
                         forget_kinds=("class", "random"), num_classes=10, load=self.load,
                         make_task=self.make_task, train=self.train, available=self.available,
                         retrain_for=self.retrain_for, **extra)


# The shipped classifiers by name: what their spec does not say (recipe, config, training share, seed) and the
# membership audit needs to train shadow models like them.
CLASSIFIERS: dict[str, ShippedClassifier] = {}


def register_classifier(classifier: ShippedClassifier, **extra) -> ModelSpec:
    CLASSIFIERS[classifier.name] = classifier
    return register_model(classifier.spec(**extra))


def get_classifier(name: str) -> ShippedClassifier:
    if name not in CLASSIFIERS:
        raise UnlearningInputError(f"no shipped classifier named {shown(name)}; valid: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[name]
