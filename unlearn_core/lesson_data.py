"""The plain data behind the Learn tab's figures, computed from the shipped models (one function per figure).

Computing them takes about a minute on a CPU (the GAN's task alone half of it), too long for page load, so
``python -m unlearn_core.lesson_data`` writes them once into ``learn_figures.json`` beside ``learn.md``, with
their provenance; the app only reads that file and draws it (``plots.lessons``). ``tests/test_lesson_figures.py``
recomputes the classifier figures' data and compares it with the file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .attribution import forget_attributions
from .inspection import layer_analysis
from .methods import get_method
from .models.gan import latents
from .runner import run_copy
from .saliency import fisher_diagonal, fisher_ratio, gradient_saliency, layer_saliency, threshold_mask, topk_mask
from .training import accuracy, batched_logits
from .zoo import get_model_spec

LESSON_DATA = Path(__file__).resolve().with_name("learn_figures.json")
COMMAND = "python -m unlearn_core.lesson_data"
SEED = 0
CLASSIFIER, MEMORISER, GAN = "digits-cnn", "digits-mlp", "digits-gan"
FORGET = "class:3"
GAN_SAMPLES = 1000
# Confidence bins of the membership lesson: trained samples pile up above 0.999, unseen ones spread lower.
CONFIDENCE_EDGES = (0.0, 0.5, 0.9, 0.99, 0.999, 1.0 + 1e-9)


def classifier_task(model: str = CLASSIFIER, forget: str = FORGET) -> Any:
    spec = get_model_spec(model)
    return spec.make_task(spec.parse_forget(forget), SEED)


def _percent_per_class(hits: torch.Tensor, labels: torch.Tensor, classes: int) -> list[float]:
    return [100.0 * float(hits[labels == k].float().mean()) for k in range(classes)]


def split_counts(task: Any) -> dict[str, Any]:
    """How many training images of each class fall into the forget and the retain set."""
    classes = task.num_classes
    return {"classes": list(range(classes)),
            "forget": np.bincount(task.y_forget.numpy(), minlength=classes).tolist(),
            "retain": np.bincount(task.y_retain.numpy(), minlength=classes).tolist()}


@torch.no_grad()
def class_accuracy(task: Any) -> dict[str, Any]:
    """Test accuracy per class of the original and of Retrain (trained without the forget class)."""
    x, y, classes = task.split.x_test, task.split.y_test, task.num_classes
    out = {"classes": list(range(classes))}
    for name, model in (("original", run_copy(CLASSIFIER).eval()), ("retrain", task.retrain().model.eval())):
        out[name] = _percent_per_class(batched_logits(model, x).argmax(1) == y, y, classes)
    return out


def four_metrics(task: Any) -> dict[str, Any]:
    """UA, RA, TA and MIA-efficacy of the original and of Retrain."""
    keys = ("ua", "ra", "ta", "mia")
    original, retrain = task.evaluate(run_copy(CLASSIFIER).eval()), task.evaluate(task.retrain().model.eval())
    return {"metrics": [k.upper() for k in keys], "original": [float(original[k]) for k in keys],
            "retrain": [float(retrain[k]) for k in keys]}


def _shares(scores: dict[str, torch.Tensor], mask: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    return [{"name": layer.name, "shape": list(layer.shape), "salient_share": layer.salient_share}
            for layer in layer_saliency(scores, mask)]


def gradient_shares(task: Any) -> dict[str, Any]:
    """SalUn's mask (top share of |grad of the forget loss|, the method's defaults) per layer."""
    config = get_method("salun").for_task(task.kind, model=CLASSIFIER, forget_kind=task.request.kind).config
    scores = gradient_saliency(run_copy(CLASSIFIER).eval(), task, config.batch_size)
    mask = topk_mask(scores, config.ratio, config.scope)
    return {"layers": _shares(scores, mask), "ratio": config.ratio}


def fisher_shares(task: Any) -> dict[str, Any]:
    """SFR-on's mask (Fisher ratio of forget to retain at least gamma, the method's defaults) per layer."""
    config = get_method("sfr_on").for_task(task.kind, model=CLASSIFIER, forget_kind=task.request.kind).config
    model = run_copy(CLASSIFIER).eval()
    ratio = fisher_ratio(fisher_diagonal(model, task, "forget", config.batch_size),
                         fisher_diagonal(model, task, "retain", config.batch_size, limit=config.fisher_samples))
    return {"layers": _shares(ratio, threshold_mask(ratio, config.gamma)), "gamma": config.gamma}


def slug_layers(task: Any) -> dict[str, Any]:
    """SLUG's per-layer importance and alignment on the original (the Lab's layer analysis)."""
    return layer_analysis(CLASSIFIER, task)


@torch.no_grad()
def generalisation(_task: Any = None) -> dict[str, Any]:
    """Training and test accuracy of the classifier that generalises and of the one that memorises."""
    out: dict[str, Any] = {"models": [CLASSIFIER, MEMORISER], "train": [], "test": []}
    for name in out["models"]:
        split, model = classifier_task(name).split, run_copy(name).eval()
        out["train"].append(accuracy(model, split.x_train, split.y_train))
        out["test"].append(accuracy(model, split.x_test, split.y_test))
    return out


@torch.no_grad()
def membership_confidence(_task: Any = None) -> dict[str, Any]:
    """The memorising classifier's confidence in the true label on its training images (members) and on test
    images (never seen), as shares of each set per confidence bin: the signal membership attacks read."""
    split, model = classifier_task(MEMORISER).split, run_copy(MEMORISER).eval()
    edges = np.asarray(CONFIDENCE_EDGES)
    out: dict[str, Any] = {"bins": [f"{lo:g}-{min(hi, 1.0):g}" for lo, hi in zip(edges[:-1], edges[1:])]}
    for name, x, y in (("members", split.x_train, split.y_train), ("non_members", split.x_test, split.y_test)):
        confidence = torch.softmax(batched_logits(model, x), 1).gather(1, y[:, None]).squeeze(1).numpy()
        out[name] = (100.0 * np.histogram(confidence, edges)[0] / len(confidence)).tolist()
    return out


@torch.no_grad()
def gan_class_shares(_task: Any = None) -> dict[str, Any]:
    """What the original digits GAN and its Retrain (trained without 3s) draw from the same latents, as each
    class's share according to the digits classifier."""
    spec = get_model_spec(GAN)
    task = spec.make_task(spec.parse_forget(FORGET), SEED)
    z = latents(GAN_SAMPLES, SEED, task.z_dim)
    out: dict[str, Any] = {"classes": list(task.class_names), "samples": GAN_SAMPLES}
    for name, generator in (("original", run_copy(GAN).eval()), ("retrain", task.retrain().model.eval())):
        labels = task.oracle_labels(generator, z).numpy()
        out[name] = (100.0 * np.bincount(labels, minlength=task.num_classes) / len(labels)).tolist()
    return out


def attributions(task: Any) -> dict[str, Any]:
    """Integrated Gradients of the true label on one forget image, for the original and for Retrain (the
    exact unlearning, standing in for "unlearned")."""
    found = forget_attributions(run_copy(CLASSIFIER).eval(), task.retrain().model.eval(), task,
                                "integrated_gradients", count=1, seed=SEED)
    return json.loads(json.dumps(found, default=lambda a: np.asarray(a).tolist()))


# figure name (as in learn.md's lesson markers) -> its data, from the digits-cnn class:3 task
FIGURES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "split": split_counts, "class-accuracy": class_accuracy, "metrics": four_metrics,
    "saliency": gradient_shares, "fisher": fisher_shares, "slug": slug_layers, "generalisation": generalisation,
    "membership": membership_confidence, "gan": gan_class_shares, "attributions": attributions,
}


def lesson_data(names: list[str] | None = None) -> dict[str, Any]:
    """Every figure's data (or those ``names``), with where it comes from."""
    task = classifier_task()
    figures = {name: FIGURES[name](task) for name in (names or FIGURES)}
    return {"provenance": {"models": [CLASSIFIER, MEMORISER, GAN], "forget": FORGET, "seed": SEED,
                           "command": COMMAND, "torch": torch.__version__},
            "figures": figures}


def load_lesson_data(path: Path = LESSON_DATA) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else LESSON_DATA
    out.write_text(json.dumps(lesson_data(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(sys.argv[1:])
