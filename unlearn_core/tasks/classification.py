"""Classification adapter: cross-entropy losses, random labels, UA/RA/TA/MIA evaluation."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DigitsSplit, ForgetRequest, forget_indices
from ..metrics import mia_efficacy
from ..models.classifier import WEIGHTS_NAME, DigitsCNNConfig, DigitsMLPConfig, load_classifier
from ..training import ClassifierRecipe, ProgressFn, accuracy, batched_logits, logits_accuracy, train_classifier
from .base import RetrainReference, TensorSetsTask, reduce_rows, wrong_labels


def classifier_shipped(folder: Path | None) -> bool:
    """Whether ``folder`` holds a shipped Retrain classifier."""
    return folder is not None and (folder / WEIGHTS_NAME).exists()


class ClassificationTask(TensorSetsTask):
    """Forget/retain split of a labelled training set, and the SalUn paper's metrics."""

    kind = "classification"
    # Retain samples SLUG's step search scores each trial step on (a fixed subset: the search's cost is
    # mostly these forwards, and a 3-point tolerance is resolved by 128 samples).
    score_retain_samples = 128

    def __init__(self, split: DigitsSplit, request: ForgetRequest, seed: int,
                 recipe: ClassifierRecipe | None = None, training_seed: int = 0, reference_dir: Path | None = None,
                 model_config: DigitsCNNConfig | DigitsMLPConfig | None = None,
                 forget_mask: torch.Tensor | None = None):
        """``forget_mask`` (a bool mask over ``split.y_train``) names the forget set explicitly instead of
        drawing it from ``request`` (the membership audit's shadow models forget the audited samples they
        trained on); ``request`` still decides the test sets and the forget target's kind."""
        super().__init__(seed)
        self.split, self.request, self.recipe = split, request, recipe or ClassifierRecipe()
        self.model_config = model_config  # the architecture Retrain trains (None: a DigitsCNN for the data)
        # Retrain repeats the shipped model's training (its recipe and seed) without the forget set, so for
        # class:K it is one model whatever the run's seed, and ``reference_dir`` may hold it ready-made.
        self.training_seed, self.reference_dir = int(training_seed), reference_dir
        self.num_classes = split.num_classes
        if forget_mask is None:
            forget = forget_indices(request, split.y_train, seed, self.num_classes)
        else:
            forget = torch.as_tensor(forget_mask, dtype=torch.bool)
            if forget.shape != split.y_train.shape:
                raise ValueError(f"forget_mask must have one entry per training sample ({len(split.y_train)}); "
                                 f"got shape {tuple(forget.shape)}")
        self.x_forget, self.y_forget = split.x_train[forget], split.y_train[forget]
        self.x_retain, self.y_retain = split.x_train[~forget], split.y_train[~forget]
        if request.kind == "class":
            keep = split.y_test != request.value
            self.x_test, self.y_test = split.x_test[keep], split.y_test[keep]
            self.x_test_forget, self.y_test_forget = split.x_test[~keep], split.y_test[~keep]
        else:
            self.x_test, self.y_test = split.x_test, split.y_test
            self.x_test_forget = self.y_test_forget = None
        # MIA shadow members: a retain subset the size of the test set, fixed by the seed.
        pick = torch.randperm(len(self.x_retain), generator=torch.Generator().manual_seed(self.seed))
        self._shadow = pick[:len(self.x_test)]

    def loss(self, model: nn.Module, batch, reduction: str = "mean") -> torch.Tensor:
        x, y = batch
        return reduce_rows(lambda x, y: F.cross_entropy(model(x), y, reduction="none"), reduction, x, y)

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator,
                     reference: nn.Module | None = None, reduction: str = "mean",
                     target: str = "random") -> torch.Tensor:
        x, y = batch
        wrong = wrong_labels(y, self.num_classes, generator, target)
        return reduce_rows(lambda x, y: F.cross_entropy(model(x), y, reduction="none"), reduction, x, wrong)

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(x), dim=1)

    def forget_score(self, model: nn.Module) -> float:
        return accuracy(model, self.x_forget, self.y_forget)

    def retain_score(self, model: nn.Module) -> float:
        """Accuracy on a fixed retain subset (``score_retain_samples``): SLUG calls this once per trial step."""
        pick = self._shadow[:self.score_retain_samples]
        return accuracy(model, self.x_retain[pick], self.y_retain[pick])

    def forget_target(self, model: nn.Module) -> float:
        if self.target_forget_score is not None or self.request.kind == "class":
            return super().forget_target(model)
        # Without Retrain at hand, unseen data is what a retrained model sees in the forget set.
        return accuracy(model, self.x_test, self.y_test)

    def head_name(self, model: nn.Module) -> str:
        """Name of the final linear layer (boundary methods widen or read it)."""
        return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)][-1]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """UA, RA, TA (and the forget class's test accuracy) and the MIA scores. One forward pass per set (in
        the batches :func:`accuracy` uses): the accuracies and the MIA's probabilities come from the same logits,
        and the MIA's shadow members are a subset of the retain set's."""
        was_training = model.training
        model.eval()
        logits = {name: batched_logits(model, x) for name, x in
                  (("forget", self.x_forget), ("retain", self.x_retain), ("test", self.x_test))}
        metrics = {
            "ua": 100.0 - logits_accuracy(logits["forget"], self.y_forget),
            "ra": logits_accuracy(logits["retain"], self.y_retain),
            "ta": logits_accuracy(logits["test"], self.y_test),
        }
        if self.x_test_forget is not None:
            metrics["forget_class_ta"] = accuracy(model, self.x_test_forget, self.y_test_forget)
        probs = {"shadow": torch.softmax(logits["retain"][self._shadow], dim=1).numpy(),
                 "test": torch.softmax(logits["test"], dim=1).numpy(),
                 "forget": torch.softmax(logits["forget"], dim=1).numpy()}
        labels = {"shadow": self.y_retain[self._shadow].numpy(), "test": self.y_test.numpy(),
                  "forget": self.y_forget.numpy()}
        for feature, key in (("confidence", "mia"), ("entropy", "mia_entropy")):
            metrics[key] = mia_efficacy(probs["shadow"], labels["shadow"], probs["test"], labels["test"],
                                        probs["forget"], labels["forget"], feature)
        model.train(was_training)
        return metrics

    def retrain_available(self) -> bool:
        return True

    def retrain_key(self) -> tuple:
        # A random forget set depends on the run's seed; a class does not.
        return (str(self.request), self.seed if self.request.kind == "random" else None, self.training_seed)

    def retrain_is_shipped(self) -> bool:
        return self._shipped_reference() is not None

    def _shipped_reference(self) -> Path | None:
        return self.reference_dir if classifier_shipped(self.reference_dir) else None

    def retrain(self, progress: ProgressFn | None = None, live: bool = False) -> RetrainReference:
        """Exact unlearning: the shipped recipe and seed, from scratch, on the retain set only (loaded from
        ``reference_dir`` when shipped and ``live`` is false)."""
        folder = None if live else self._shipped_reference()
        if folder is not None:
            record = folder / "retrain.json"
            seconds = json.loads(record.read_text()).get("train_s") if record.exists() else None
            if progress:
                progress(1.0, f"loaded the shipped Retrain reference {folder.parent.name}/{folder.name}")
            return RetrainReference(load_classifier(folder).requires_grad_(False), seconds, "shipped")
        start = time.perf_counter()
        model = train_classifier(self.x_retain, self.y_retain, self.training_seed, self.recipe, self.model_config,
                                 progress=progress, label="Retrain (training without the forget set)")
        return RetrainReference(model, time.perf_counter() - start, "trained")

    def kl_to(self, reference: nn.Module, model: nn.Module) -> float:
        """KL(reference || model) on the forget set, averaged over samples."""
        p = self.probabilities(reference, self.x_forget).clamp_min(1e-12)
        q = self.probabilities(model, self.x_forget).clamp_min(1e-12)
        return float((p * (p.log() - q.log())).sum(1).mean())
