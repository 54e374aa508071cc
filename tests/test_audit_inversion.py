"""Concept inversion (unlearn_core.audit.inversion): the positive control finds the concept in the original model,
the attacked model is never changed, the learned vector starts away from the concept, the tiny Stable Diffusion
path runs through the same code, and bad input is refused. Few steps and images, so the file stays fast."""
from __future__ import annotations

import json

import pytest
import torch

from unlearn_core.audit.inversion import InversionConfig, invert
from unlearn_core.errors import UnlearningInputError
from unlearn_core.runner import RunOutcome
from unlearn_core.tasks.text_diffusion import replace_token_span
from unlearn_core.zoo import fresh_copy, get_model_spec

KEYS = {"erasure", "erasure_under_attack", "erasure_at_start", "loss_curve", "cosine_to_concept", "score_name",
        "steps", "seconds"}


def outcome_for(model_name: str, forget: str, model=None) -> RunOutcome:
    """A run outcome whose "unlearned" model is ``model`` (default: a copy of the shipped original)."""
    spec = get_model_spec(model_name)
    task = spec.make_task(spec.parse_forget(forget), 0)
    model = fresh_copy(model_name).eval() if model is None else model
    return RunOutcome({"model": model_name, "forget": forget, "method": "none", "seed": 0}, model, {}, task)


def test_positive_control_the_original_shapes_model_draws_the_concept_again():
    """Against the original shapes-t2i (which draws triangles), a vector learned from the vocabulary's mean
    embedding draws triangles in most samples, where the mean embedding itself draws few."""
    outcome = outcome_for("shapes-t2i", "concept:triangle")
    result = invert(outcome, {"steps": 40, "images": 16, "controls": False})
    assert KEYS <= result.keys() and result["score_name"] == "erasure"
    assert result["erasure"] >= 75  # the original draws the concept for its own word
    assert result["erasure_at_start"] <= 40
    assert result["erasure_under_attack"] >= 75
    assert len(result["loss_curve"]) == 40
    json.dumps(result)  # plain data


def test_ddpm_attack_never_changes_the_model_and_runs_the_controls():
    outcome = outcome_for("digits-ddpm", "class:3")
    model = outcome.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    result = invert(outcome, InversionConfig(steps=25, images=16, batch_size=8),
                    progress=lambda fraction, message: calls.append(fraction))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model.class_embedding._forward_hooks
    assert result["score_name"] == "forget accuracy" and result["steps"] == 25
    # digits-ddpm ships a Retrain reference for class 3: the attack runs on it too; the original draws 3s again
    assert {"original", "retrain"} <= result.keys()
    assert result["original"]["erasure_under_attack"] >= 75
    assert result["retrain"]["erasure"] <= 25
    assert len(calls) >= 3 * 25 and calls == sorted(calls) and calls[-1] == 1.0
    json.dumps(result)


def test_a_raising_progress_stops_the_attack_and_leaves_no_hook():
    outcome = outcome_for("digits-ddpm", "class:3")

    class Cancelled(Exception):
        pass

    def cancel(fraction, message):
        if "step 3/" in message:
            raise Cancelled

    with pytest.raises(Cancelled):
        invert(outcome, {"steps": 50, "images": 8, "controls": False}, progress=cancel)
    assert not outcome.model.class_embedding._forward_hooks


@pytest.mark.parametrize("model_name, forget", [("shapes-t2i", "concept:triangle"), ("digits-ddpm", "class:3")])
def test_the_learned_vector_does_not_start_from_the_concept(model_name, forget):
    outcome = outcome_for(model_name, forget)
    task, model = outcome.task, outcome.model
    start, concept = task.inversion_start(model), task.concept_embedding(model)
    assert start.shape == concept.shape
    assert torch.nn.functional.cosine_similarity(start, concept, dim=0) < 0.9
    if model_name == "shapes-t2i":
        assert torch.allclose(start, model.text_encoder.get_input_embeddings().weight.mean(0))
        assert task.concept_token_ids().tolist() == [model.tokenizer.ids["triangle"]]
    else:
        assert torch.equal(start, model.class_embedding.weight[task.null_class])


def test_replace_token_span_collapses_the_concept_to_one_position():
    ids = torch.tensor([[0, 5, 6, 7, 8, 1, 1, 1], [0, 5, 9, 1, 1, 1, 1, 1]])
    embeddings = torch.arange(16, dtype=torch.float32).repeat_interleave(2).view(2, 8, 2)
    vector = torch.tensor([-1.0, -2.0])
    out = replace_token_span(ids, embeddings, torch.tensor([6, 7]), vector)
    assert out.shape == embeddings.shape
    # row 0: "5 <v> 8", then its padding (the last token's embedding) fills the freed position
    assert torch.equal(out[0, :3], embeddings[0, :2].new_tensor([[0, 0], [1, 1], [-1, -2]]))
    assert torch.equal(out[0, 3], embeddings[0, 4]) and torch.equal(out[0, -1], embeddings[0, -1])
    assert torch.equal(out[1], embeddings[1])  # no concept: unchanged


def test_tiny_stable_diffusion_runs_through_the_same_code(tmp_path):
    from test_hub_models import build_tiny_sd

    from unlearn_core import cache
    from unlearn_core.runner import run_unlearning
    from unlearn_core.zoo import MODELS, base_model
    from unlearn_core.zoo.hub import HubOptions, configure

    sd_dir = build_tiny_sd(tmp_path)
    configure("stable-diffusion", HubOptions(path=str(sd_dir), device="cpu", steps=3, guidance=3.0, generate=1,
                                             eval_seeds=1))
    try:
        outcome = run_unlearning("stable-diffusion", "concept:mickey mouse", "esd", 0,
                                 {"iterations": 2, "batch_size": 2}, with_retrain=False)
        # a CLIP tokenizer over letters: the concept is many tokens, collapsed into the one learned token
        assert len(outcome.task.concept_token_ids()) > 5
        before = {k: v.clone() for k, v in outcome.model.state_dict().items()}
        result = invert(outcome, {"steps": 3, "images": 4, "batch_size": 2})
        assert KEYS <= result.keys() and "original" in result and "retrain" not in result
        assert all(torch.equal(before[k], v) for k, v in outcome.model.state_dict().items())
        # without a CLIP model the forget score is the guidance alignment; the learned token changes it
        assert result["original"]["erasure"] == pytest.approx(100.0)
        assert result["original"]["erasure_under_attack"] != pytest.approx(100.0)
        json.dumps(result)
    finally:
        MODELS.pop("stable-diffusion", None)
        cache.forget_model("stable-diffusion")
        base_model.cache_clear()


def test_bad_input_is_refused(digits_task_factory):
    classifier = RunOutcome({"model": "digits-cnn", "forget": "class:3", "seed": 0}, fresh_copy("digits-cnn"), {},
                            digits_task_factory())
    with pytest.raises(UnlearningInputError, match="generative models: class-diffusion, text-diffusion; this "
                                                   "model's family is classification"):
        invert(classifier)
    outcome = outcome_for("digits-ddpm", "class:3")
    for overrides, message in (({"steps": 0}, "'steps'"), ({"lr": -1}, "'lr'"), ({"images": "many"}, "'images'"),
                               ({"batch": 4}, "unknown hyperparameter 'batch'")):
        with pytest.raises(UnlearningInputError, match=message):
            invert(outcome, overrides)
    with pytest.raises(UnlearningInputError, match="'batch_size'"):
        invert(outcome, InversionConfig(batch_size=0))
