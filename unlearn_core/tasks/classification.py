"""Classification adapter: cross-entropy losses, random labels, UA/RA/TA/MIA evaluation."""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from ..data import DigitsSplit, ForgetRequest, forget_indices
from ..metrics import mia_efficacy
from ..training import ClassifierRecipe, ProgressFn, accuracy, train_classifier
from .base import TensorSetsTask


class ClassificationTask(TensorSetsTask):
    """Forget/retain split of a labelled training set, and the SalUn paper's metrics."""

    kind = "classification"

    def __init__(self, split: DigitsSplit, request: ForgetRequest, seed: int,
                 recipe: ClassifierRecipe | None = None):
        super().__init__(seed)
        self.split, self.request, self.recipe = split, request, recipe or ClassifierRecipe()
        self.num_classes = split.num_classes
        forget = forget_indices(request, split.y_train, seed, self.num_classes)
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
        return F.cross_entropy(model(x), y, reduction=reduction)

    def random_wrong_labels(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        offset = torch.randint(1, self.num_classes, y.shape, generator=generator)
        return (y + offset) % self.num_classes

    def relabel_loss(self, model: nn.Module, batch, generator: torch.Generator,
                     reference: nn.Module | None = None) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), self.random_wrong_labels(y, generator))

    def logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(x), dim=1)

    def forget_score(self, model: nn.Module) -> float:
        return accuracy(model, self.x_forget, self.y_forget)

    def retain_score(self, model: nn.Module) -> float:
        """Accuracy on a fixed retain subset the size of the test set: SLUG calls this once per trial step."""
        return accuracy(model, self.x_retain[self._shadow], self.y_retain[self._shadow])

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
        was_training = model.training
        model.eval()
        metrics = {
            "ua": 100.0 - accuracy(model, self.x_forget, self.y_forget),
            "ra": accuracy(model, self.x_retain, self.y_retain),
            "ta": accuracy(model, self.x_test, self.y_test),
        }
        if self.x_test_forget is not None:
            metrics["forget_class_ta"] = accuracy(model, self.x_test_forget, self.y_test_forget)
        probs = {name: self.probabilities(model, x).numpy() for name, x in
                 (("shadow", self.x_retain[self._shadow]), ("test", self.x_test), ("forget", self.x_forget))}
        labels = {"shadow": self.y_retain[self._shadow].numpy(), "test": self.y_test.numpy(),
                  "forget": self.y_forget.numpy()}
        for feature, key in (("confidence", "mia"), ("entropy", "mia_entropy")):
            metrics[key] = mia_efficacy(probs["shadow"], labels["shadow"], probs["test"], labels["test"],
                                        probs["forget"], labels["forget"], feature)
        model.train(was_training)
        return metrics

    def retrain(self, seed: int, progress: ProgressFn | None = None) -> nn.Module:
        """Exact unlearning: the shipped recipe, from scratch, on the retain set only."""
        return train_classifier(self.x_retain, self.y_retain, seed, self.recipe, progress=progress)

    def kl_to(self, reference: nn.Module, model: nn.Module) -> float:
        """KL(reference || model) on the forget set, averaged over samples."""
        p = self.probabilities(reference, self.x_forget).clamp_min(1e-12)
        q = self.probabilities(model, self.x_forget).clamp_min(1e-12)
        return float((p * (p.log() - q.log())).sum(1).mean())


