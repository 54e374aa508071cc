"""The models and methods the page offers, and their descriptions, all read from the core's registries.

Nothing here is hard-coded per model or method, so a new one in ``unlearn_core`` needs no UI change.
"""
from __future__ import annotations

from typing import Any

from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import METHODS, get_method
from unlearn_core.zoo import available_models, get_model_spec


def model_choices() -> list[tuple[str, str]]:
    return [(f"{name} ({get_model_spec(name).family})", name) for name in available_models()]


def methods_for(model: str) -> list[tuple[str, str]]:
    """(label, name) of the methods that can run on ``model`` (its family, and what they need beside it)."""
    spec = get_model_spec(model)
    return [(cls.label, name) for name, cls in METHODS.items() if spec.applies(cls)]


def offered_methods() -> list[tuple[str, str]]:
    """Every method that applies to some model offered here: what the API may ask for (the core then says
    whether it applies to the model named)."""
    families = {get_model_spec(name).family for name in available_models()}
    return [(cls.label, name) for name, cls in METHODS.items() if families & set(cls.tasks)]


def family_of(model: str) -> str:
    return get_model_spec(model).family


def describe_method(method: str, family: str, model: str | None = None,
                    forget_kind: str | None = None) -> dict[str, Any]:
    """The method's description with its defaults for the family, tuned for ``model`` and ``forget_kind``
    where ``python -m unlearn_core tune`` chose them."""
    return get_method(method).describe(family, model, forget_kind)


def default_forget_kind(model: str) -> str:
    return get_model_spec(model).default_forget.split(":", 1)[0]


def hyperparameter_defaults(model: str, forget_kind: str | None = None) -> dict[tuple[str, str], Any]:
    """(method, knob) -> default for every method of the model's family (tuned ones where there are)."""
    family = family_of(model)
    kind = forget_kind or default_forget_kind(model)
    return {(name, f["name"]): f["default"] for name, cls in METHODS.items()
            for f in cls.describe(family, model, kind)["hyperparameters"]}


def method_markdown(method: str, family: str) -> str:
    info = describe_method(method, family)
    text = f"**{info['label']}**: {info['summary']}"
    if info["reference"]:
        text += f"  \n*{info['reference']}*"
    if info["equation"]:
        text += f"\n\n<details><summary>What it computes</summary>\n\n{info['equation']}\n\n</details>"
    return text


# Why the lab ships two classifiers, in one line under the model picker.
TWO_CLASSIFIERS = ("Why two digit classifiers? One that generalises (digits-cnn) has little to forget when the "
                   "forget set is random, since Retrain still recognises those images; one that memorises "
                   "(digits-mlp) does, so random forgetting is best studied on it.")


GAN_TARGETS = ("A GAN has no training set to split: a classifier labels what the original draws, and latents it "
               "draws as the class are the forget set (Adapt-then-Unlearn's negatives). Before/after rows show the "
               "same latents.")
TEXT_GUIDED = ("This generator ships a small text-image model (shapes-clip): Text-to-Unlearn forgets a concept "
               "from its words alone, and Adapt-then-Unlearn lets it flag the negatives (negatives = text, the "
               "default here); the classifier only judges the result.")


def model_markdown(model: str) -> str:
    spec = get_model_spec(model)
    kinds = ", ".join(spec.forget_kinds)
    text = f"{spec.description}. Family: `{spec.family}`; forget targets: {kinds}."
    if spec.family == "classification":
        text += f"  \n*{TWO_CLASSIFIERS}*"
    if spec.family == "gan":
        text += f"  \n*{GAN_TARGETS}*"
    if "text_model" in spec.provides:
        text += f"  \n*{TEXT_GUIDED}*"
    return text


def retrain_applies(model: str) -> bool:
    """Whether "Compare with Retrain" does anything for this model: its family has Retrain references (the
    families the Retrain method applies to; text-diffusion models ship none)."""
    return family_of(model) in get_method("retrain").tasks if "retrain" in METHODS else False


def target_words(forget: str) -> str:
    """A canonical forget target as a label says it: "class 3", "a random 10%", "concept 'triangle'"."""
    kind, value = forget.split(":", 1)
    return {"class": f"class {value}", "random": f"a random {value}%"}.get(kind, f"{kind} '{value}'")


def retrain_note(model: str, forget: str) -> tuple[str, str]:
    """The "Compare with Retrain" checkbox's label and info for this model and forget target: whether a Retrain
    reference is shipped for it, trained in the run (and roughly how long that takes), or not available."""
    spec = get_model_spec(model)
    try:
        source = spec.retrain_source(forget)
        target = target_words(str(spec.parse_forget(forget)))
    except UnlearningInputError:
        return "Compare with Retrain", "Set a valid forget target to see whether a Retrain reference exists for it."
    if source == "shipped":
        return (f"Compare with Retrain (shipped for {target})",
                "The model trained without this target ships with the lab: it is loaded, nothing is trained.")
    if source == "trained":
        cost = spec.cost.retrain_s if spec.cost else 0.0
        took = f", about {cost:.0f} s here" if cost else ""
        return (f"Compare with Retrain (none shipped for {target}: trained in the run{took})",
                "The run first trains the model from scratch without the forget set, then caches it for the next "
                "run on this target.")
    shipped = ", ".join(target_words(each) for each in spec.shipped_retrains())
    return (f"Compare with Retrain (none available for {target})",
            f"No Retrain reference is shipped for {target}{f' (shipped for: {shipped})' if shipped else ''}, and "
            "training one takes too long for a run: the results will have no gap to Retrain.")


def attributions_apply(model: str) -> bool:
    """Input attributions are computed for classifiers only."""
    return family_of(model) == "classification"


def methods_table() -> str:
    """The Learn tab's table of every registered method, with the families of the models offered here."""
    families = {get_model_spec(name).family for name in available_models()}
    lines = ["### The methods in this lab", "", "| method | what it does | applies to (models here) | reference |",
             "| --- | --- | --- | --- |"]
    for cls in METHODS.values():
        here = [task for task in cls.tasks if task in families]
        if here:
            lines.append(f"| {cls.label} | {cls.summary} | {', '.join(here)} | {cls.reference} |")
    return "\n".join(lines)
