"""Text-guided GAN unlearning on the shipped shapes-gan: the concept is read from its words by shapes-clip
(Text-to-Unlearn), the shapes classifier only judges; bad input gets a clear message."""
import pytest
import torch

from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import METHODS, get_method
from unlearn_core.runner import run_unlearning
from unlearn_core.zoo import fresh_copy, get_model_spec

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task():
    spec = get_model_spec("shapes-gan")
    return spec.make_task(spec.parse_forget("concept:triangle"), 0)


@pytest.fixture(scope="module")
def text_run():
    return run_unlearning("shapes-gan", "concept:triangle", "text_unlearn", 0, {}, with_retrain=True)


def test_the_original_draws_every_shape(task):
    metrics = task.evaluate(task.original)
    assert 10.0 <= metrics["forget_acc"] <= 30.0  # triangles: about a fifth of the samples
    assert metrics["retain_acc"] == pytest.approx(100.0)
    negatives, labels = next(task.batches("forget", 32))
    assert (labels == 2).all()  # the triangle is the shape head's class 2


def test_text_to_unlearn_removes_triangles_from_the_word_alone(text_run):
    """From the word "triangle" alone the share of triangles falls below the issue's 10%. The issue's other half,
    every other shape at >= 80% of its share, is judged by the benchmark and is not met (benchmarks/shapes-gan.md:
    diamonds and crosses, which the text model confuses with triangles on this GAN's rough samples, go too)."""
    metrics = text_run.report["metrics"]
    assert metrics["original"]["forget_acc"] >= 10.0
    assert metrics["unlearned"]["forget_acc"] < 10.0
    assert metrics["retrain"]["forget_acc"] < 8.0  # the shipped Retrain never saw a triangle (its rough blobs: ~4%)


def test_same_latents_show_the_triangles_replaced(task, text_run):
    by_class = task.latents_by_class(16)
    assert (task.oracle_labels(task.original, by_class[2]) == 2).all()
    assert (task.oracle_labels(text_run.model, by_class[2]) != 2).float().mean() >= 0.5


def test_the_saliency_variant_moves_only_its_share_of_weights(task):
    model = fresh_copy("shapes-gan")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = get_method("text_unlearn").for_task("gan", {"steps": 3, "ratio": 0.2}).unlearn(model, task)
    assert result.artifacts["saliency"]["salient_share"] == pytest.approx(0.2, abs=0.01)
    moved = sum(int((p.detach() != before[name]).sum()) for name, p in model.named_parameters())
    total = sum(p.numel() for p in model.parameters())
    assert 0 < moved <= 0.2 * total + 1


def test_the_shipped_generator_is_not_changed(text_run):
    assert any(not torch.equal(a, b) for a, b in zip(fresh_copy("shapes-gan").state_dict().values(),
                                                    text_run.model.state_dict().values()))


def test_text_to_unlearn_is_offered_only_where_a_text_model_is_shipped():
    assert get_model_spec("shapes-gan").applies(METHODS["text_unlearn"])
    assert not get_model_spec("digits-gan").applies(METHODS["text_unlearn"])
    with pytest.raises(UnlearningInputError, match="needs a text model.*methods for digits-gan: .*atu"):
        run_unlearning("digits-gan", "class:3", "text_unlearn", 0, {}, with_retrain=False)


@pytest.mark.parametrize("model, forget, message", [
    ("shapes-gan", "concept:hexagon", r"unknown word 'hexagon'.*vocabulary has \d+ words"),
    ("shapes-gan", "concept:picture", "not a concept shapes-gan can erase; name one shape"),
    ("shapes-gan", "class:2", "takes forget targets of kind concept"),
    ("digits-gan", "class:12", "class"),
    ("digits-gan", "concept:three", "takes forget targets of kind class"),
])
def test_bad_targets_get_a_clear_message(model, forget, message):
    spec = get_model_spec(model)
    with pytest.raises(UnlearningInputError, match=message):
        spec.make_task(spec.parse_forget(forget), 0)


def test_methods_that_do_not_apply_to_gans_say_which_do():
    with pytest.raises(UnlearningInputError, match="does not apply to gan models"):
        get_method("esd").for_task("gan")
    with pytest.raises(UnlearningInputError, match="neutral prompt"):
        run_unlearning("shapes-gan", "concept:triangle", "text_unlearn", 0,
                       {"neutral_prompt": "a hexagon", "steps": 1}, with_retrain=False)


def test_adapt_then_unlearn_can_read_its_negatives_from_the_words(task):
    """negatives=text: the text model flags the original's samples that show the concept (zero-shot relevance >= 0.5
    among the five shapes), without the classifier. Measured on this task's pool of 4000: it flags 623 (15.6%; the
    classifier calls 633 triangles), of which the classifier calls 63.6% triangles, against 7.0% of the 3377 it
    keeps. The bounds are about 4.5 binomial standard errors (1.9 and 0.44 points) from those rates."""
    by_text = task.drawn_by_original("forget", "text")
    kept_by_text = task.drawn_by_original("retain", "text")
    pool = task.size("forget") + task.size("retain")
    assert 0.13 <= len(by_text) / pool <= 0.18, (len(by_text), pool)

    def triangle_rate(images):
        return float((task.oracle.logits((images + 1) / 2).argmax(1) == task.forget_class).float().mean())

    # the words pick out triangles: a text split no better than chance would give both sides the pool's 15.8%
    assert triangle_rate(by_text) >= 0.55 and triangle_rate(kept_by_text) <= 0.09
    # the default (negatives=oracle) is the classifier's split: every negative is a triangle to it, no positive is
    assert triangle_rate(task.drawn_by_original("forget")) == 1.0
    assert triangle_rate(task.drawn_by_original("retain")) == 0.0


def test_negatives_from_words_need_a_text_model():
    with pytest.raises(UnlearningInputError, match="text-image model.*negatives=oracle"):
        run_unlearning("digits-gan", "class:3", "atu", 0, {"negatives": "text", "unlearn_steps": 1}, with_retrain=False)
    with pytest.raises(UnlearningInputError, match="'oracle', 'text'"):
        get_method("atu").for_task("gan", {"negatives": "words"})
