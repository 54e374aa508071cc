"""GAN unlearning on the shipped digits-gan: the task's negatives and positives, Adapt-then-Unlearn, the same
latents before and after, and bad input."""
import pytest
import torch

from unlearn_core.assets import ASSETS
from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import get_method
from unlearn_core.models.gan import load_gan
from unlearn_core.runner import run_unlearning
from unlearn_core.zoo import fresh_copy, get_model_spec

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task():
    spec = get_model_spec("digits-gan")
    return spec.make_task(spec.parse_forget("class:3"), 0)


@pytest.fixture(scope="module")
def atu_run():
    return run_unlearning("digits-gan", "class:3", "atu", 0, {}, with_retrain=True)


def test_negatives_are_the_latents_the_original_draws_as_the_class(task):
    assert 0.05 < task.size("forget") / (task.size("forget") + task.size("retain")) < 0.15
    z, labels = next(task.batches("forget", 64))
    assert (labels == 3).all()
    assert (task.oracle_labels(task.original, z) == 3).float().mean() == 1.0
    _, retained = next(task.batches("retain", 64))
    assert (retained != 3).all()


def test_coverage_finds_the_class_a_generator_never_draws(task):
    """The original draws class 3 in 8.7% of the 1000 evaluation samples. On a class:7 task the shipped Retrain
    without class 3 must show as losing class 3: measured 0.4% of its samples against the original's 8.7%, a
    coverage of 4.6%, and a Frechet distance to real retained digits of 138 against
    the original's 36, since a whole retained class is missing from its samples."""
    assert 5.0 <= task.evaluate(task.original)["forget_acc"] <= 15.0
    spec = get_model_spec("digits-gan")
    other_task = spec.make_task(spec.parse_forget("class:7"), 0)
    without_3 = load_gan(ASSETS / "digits-gan-retrain-class3")[0]
    metrics, original = other_task.evaluate(without_3), other_task.evaluate(other_task.original)
    assert metrics["worst_retained_class"] == 3.0 and metrics["retain_acc"] < 15.0, metrics
    assert metrics["fid"] > 2.0 * original["fid"], (metrics, original)


def test_adapt_then_unlearn_removes_the_class_and_keeps_the_others(atu_run):
    """On the report class (tuned on class 7): UA >= 95 and every retained class keeps at least 70% of its
    share, as the issue asks."""
    metrics = atu_run.report["metrics"]
    assert metrics["unlearned"]["ua"] >= 95.0
    assert metrics["unlearned"]["retain_acc"] >= 70.0
    # The bound is FID at most 30% worse, on the mean over seeds (benchmarks/digits-gan.md: +19%); one
    # seed's run gives +8%, +18% (this one, seed 0) and +32% on seeds 1, 0, 2, so a single run is held to +40%.
    assert metrics["unlearned"]["fid"] <= 1.4 * metrics["original"]["fid"]
    assert metrics["retrain"]["forget_acc"] < 2.0  # the shipped Retrain never draws a 3
    assert atu_run.report["retrain_source"] == "shipped"


def test_same_latents_before_and_after_show_the_class_replaced(task, atu_run):
    by_class = task.latents_by_class(16)
    z3 = by_class[3]
    assert (task.oracle_labels(task.original, z3) == 3).all()  # the row the grid marks
    after = task.oracle_labels(atu_run.model, z3)
    # a good share of them became other digits (Adapt-then-Unlearn halves the class's share at these settings;
    # Retrain never draws it: benchmarks/digits-gan.md)
    assert (after != 3).float().mean() >= 0.4
    kept = torch.cat([by_class[c] for c in (0, 1, 7)])
    assert (task.oracle_labels(atu_run.model, kept) == task.oracle_labels(task.original, kept)).float().mean() >= 0.8
    first = task.sample(task.original, [3, 3], [30000, 30001])
    again = task.sample(task.original, [3, 3], [30000, 30001])
    assert torch.equal(first, again)  # a seed reproduces an image


def test_the_shipped_generator_is_not_changed_by_a_run(atu_run):
    original = fresh_copy("digits-gan")
    changed = atu_run.model
    assert any(not torch.equal(a, b) for a, b in zip(original.state_dict().values(), changed.state_dict().values()))
    assert torch.equal(fresh_copy("digits-gan").state_dict()["project.weight"], original.state_dict()["project.weight"])


def test_the_saliency_variant_moves_only_its_mask():
    method = get_method("atu_salun").for_task("gan", {"adapt_steps": 5, "unlearn_steps": 5, "ema": 0.0})
    spec = get_model_spec("digits-gan")
    task = spec.make_task(spec.parse_forget("class:3"), 1)
    model = fresh_copy("digits-gan")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = method.unlearn(model, task)
    share = result.artifacts["saliency"]["salient_share"]
    assert share == pytest.approx(0.5, abs=0.01)
    moved = sum(int((p.detach() != before[n]).sum()) for n, p in model.named_parameters())
    total = sum(p.numel() for p in model.parameters())
    assert 0 < moved <= 0.5 * total + 1


@pytest.mark.parametrize("forget, method, fragment", [
    ("class:12", "atu", "0..9"), ("random:10", "atu", "class"), ("class:3", "esd", "does not apply"),
    ("class:3", "scrub", "does not apply"), ("concept:triangle", "atu", "class"),
])
def test_bad_input_gets_a_clear_message(forget, method, fragment):
    with pytest.raises(UnlearningInputError) as info:
        run_unlearning("digits-gan", forget, method, 0, {}, with_retrain=False)
    assert fragment in str(info.value)
