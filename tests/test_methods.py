"""Methods move the metrics in the right direction; runs are reproducible and never touch the shipped model."""
import hashlib
import json

import pytest
import torch

from unlearn_core import cli
from unlearn_core.errors import DivergenceError
from unlearn_core.methods import METHODS, get_method
from unlearn_core.runner import run_unlearning
from unlearn_core.assets import ASSETS
from unlearn_core.zoo import base_model, fresh_copy

FORGETTERS = ["salun", "sfr_on", "rl", "ga"]


@pytest.fixture(scope="module")
def class3_runs():
    return {m: run_unlearning("digits-cnn", "class:3", m, seed=0, with_retrain=False).report for m in
            FORGETTERS + ["ft"]}


@pytest.mark.parametrize("method", FORGETTERS)
def test_forgetting_methods_erase_the_class(class3_runs, method):
    metrics = class3_runs[method]["metrics"]
    assert metrics["original"]["ua"] < 5
    assert metrics["unlearned"]["ua"] >= 95
    assert metrics["unlearned"]["forget_class_ta"] <= 5  # unseen test images of the class are forgotten too


def test_saliency_methods_keep_the_other_classes(class3_runs):
    for method in ("salun", "sfr_on"):
        assert class3_runs[method]["metrics"]["unlearned"]["ta"] >= 97


def test_fine_tuning_alone_barely_forgets(class3_runs):
    unlearned = class3_runs["ft"]["metrics"]["unlearned"]
    assert unlearned["ua"] < 50 and unlearned["ra"] >= 99


def test_retrain_is_the_exact_reference(digits_task_factory):
    from unlearn_core.training import ClassifierRecipe

    task = digits_task_factory("class:3")
    task.recipe = ClassifierRecipe(epochs=6)  # a short recipe keeps the test fast; the class is never seen
    model = get_method("retrain")().unlearn(fresh_copy("digits-cnn"), task).model
    metrics = task.evaluate(model)
    assert metrics["ua"] == 100 and metrics["forget_class_ta"] == 0 and metrics["ta"] >= 85


def test_same_seed_same_report():
    first = run_unlearning("digits-cnn", "random:10", "salun", seed=3, with_retrain=False).report
    second = run_unlearning("digits-cnn", "random:10", "salun", seed=3, with_retrain=False).report
    first.pop("runtime_s"), second.pop("runtime_s")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_random_forget_depends_on_seed(digits_task_factory):
    a, b = digits_task_factory("random:10", 0), digits_task_factory("random:10", 1)
    assert a.size("forget") == b.size("forget") and not torch.equal(a.y_forget, b.y_forget)


def test_slug_edits_exactly_one_front_layer_and_reports_its_analysis():
    outcome = run_unlearning("digits-cnn", "class:3", "slug", seed=0, with_retrain=False)
    slug = outcome.artifacts["slug"]
    assert slug["chosen"] in slug["front"]
    assert {l["name"] for l in slug["layers"]} == {n for n, p in outcome.model.named_parameters() if p.ndim >= 2}
    for layer in slug["layers"]:  # front layers are exactly the non-dominated ones
        dominated = any(o["alignment"] < layer["alignment"] and o["importance"] > layer["importance"]
                        for o in slug["layers"])
        assert layer["on_front"] == (not dominated)
    changed = [n for n, p in outcome.model.named_parameters()
               if not torch.equal(p, dict(base_model("digits-cnn").named_parameters())[n])]
    assert changed == [slug["chosen"]]
    lambdas = [t["lambda"] for t in slug["trace"]]
    assert lambdas[0] > 0 and len(lambdas) >= 2
    assert outcome.report["metrics"]["unlearned"]["ua"] >= 90


def test_salun_mask_moves_only_salient_weights():
    outcome = run_unlearning("digits-cnn", "class:3", "salun", seed=0, overrides={"ratio": 0.2, "epochs": 1},
                             with_retrain=False)
    saliency = outcome.artifacts["saliency"]
    assert abs(saliency["salient_share"] - 0.2) < 1e-3
    original = dict(base_model("digits-cnn").named_parameters())
    for layer in saliency["layers"]:
        moved = (dict(outcome.model.named_parameters())[layer.name] != original[layer.name]).reshape(layer.mask.shape)
        assert not (moved.numpy() & ~layer.mask).any()  # masked-out weights stay at theta_0


def _weights_digest():
    return hashlib.sha256((ASSETS / "digits-cnn" / "model.safetensors").read_bytes()).hexdigest()


def test_runs_never_modify_the_shipped_checkpoint():
    before_file = _weights_digest()
    before = {n: p.clone() for n, p in base_model("digits-cnn").state_dict().items()}
    run_unlearning("digits-cnn", "class:1", "ga", seed=0, with_retrain=False)
    assert _weights_digest() == before_file
    assert all(torch.equal(before[n], p) for n, p in base_model("digits-cnn").state_dict().items())


def test_nan_loss_stops_the_run(digits_task_factory):
    task = digits_task_factory("class:3")
    task.loss = lambda model, batch, reduction="mean": model(batch[0]).sum() * float("nan")
    with pytest.raises(DivergenceError, match="NaN|nan"):
        get_method("ft")().unlearn(fresh_copy("digits-cnn"), task)


def test_every_method_declares_its_knobs_with_help_and_an_equation():
    for cls in METHODS.values():
        described = cls.describe("classification")
        assert described["equation"], cls.name
        for hp in described["hyperparameters"]:
            assert hp["help"] and hp["valid"], (cls.name, hp["name"])


def test_cli_writes_the_report(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = cli.main(["run", "--model", "digits-cnn", "--forget", "class:3", "--method", "slug", "--seed", "0",
                     "--out", str(out), "--weights", str(tmp_path / "w.safetensors")])
    assert code == 0
    report = json.loads(out.read_text())
    assert {"model", "forget", "method", "seed", "hyperparameters", "metrics", "avg_gap", "kl_to_retrain",
            "runtime_s"} <= set(report)
    for which in ("original", "unlearned", "retrain"):
        assert {"ua", "ra", "ta", "mia"} <= set(report["metrics"][which])
    assert set(report["runtime_s"]) == {"unlearn", "retrain"}
    assert report["metrics"]["retrain"]["ua"] == 100 and report["retrain_source"] == "shipped"
    assert (tmp_path / "w.safetensors").stat().st_size > 100_000


@pytest.mark.parametrize("forget_class", range(10))
def test_every_class_has_a_shipped_retrain_reference(digits_task_factory, forget_class):
    """Retrain for class:K is shipped (the recipe and seed of digits-cnn without class K), so a run on any
    class compares with exact unlearning at once; its recorded training time stands in for the run's."""
    task = digits_task_factory(f"class:{forget_class}", seed=5)
    reference = task.retrain()
    assert reference.source == "shipped" and reference.seconds > 5
    metrics = task.evaluate(reference.model)
    assert metrics["ua"] == 100 and metrics["forget_class_ta"] == 0 and metrics["ta"] >= 98
    assert not any(p.requires_grad for p in reference.model.parameters())


def test_retrain_reference_does_not_depend_on_the_run_seed_for_a_class(digits_task_factory):
    assert digits_task_factory("class:3", 0).retrain_key() == digits_task_factory("class:3", 7).retrain_key()
    assert digits_task_factory("random:10", 0).retrain_key() != digits_task_factory("random:10", 7).retrain_key()


def test_cli_reports_bad_input_without_a_traceback(capsys):
    assert cli.main(["run", "--forget", "class:3", "--method", "salun", "--set", "lr=fast"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: hyperparameter 'lr' must be a number") and "Traceback" not in err


def test_cli_lists_methods(capsys):
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("retrain", "ft", "ga", "rl", "l1_sparse", "iu", "be", "bs", "scrub", "bad_teacher", "salun",
                 "salun_soft", "sfr_on", "slug"):
        assert name in out


def test_sfr_on_adaptive_weights_favour_the_samples_not_yet_forgotten():
    from unlearn_core.methods.sfron import adaptive_forget_loss

    losses = torch.tensor([0.01, 1.0, 4.0])
    # Ascent (lambda > 0): the low-loss sample, still remembered, dominates; lambda = 0 is the plain mean.
    assert adaptive_forget_loss(losses, 2.0) < losses.mean()
    assert torch.isclose(adaptive_forget_loss(losses, 0.0), losses.sum() / 3)
    # Relabel descent (lambda < 0): the sample far from its wrong target dominates; pi_i ~ l_i^|lambda|.
    expected = (losses ** 0.5 / (losses ** 0.5).sum() * losses).sum()
    assert torch.isclose(adaptive_forget_loss(losses, -0.5), expected)
