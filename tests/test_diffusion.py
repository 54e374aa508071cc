"""Class-conditional diffusion: sampling determinism, input validation, unlearning on the shipped DDPM."""
from __future__ import annotations

import types

import pytest
import torch

from unlearn_core.data import ForgetRequest
from unlearn_core.errors import DivergenceError, UnlearningInputError
from unlearn_core.methods import get_method
from unlearn_core.zoo import MODELS

pytestmark = pytest.mark.skipif("digits-ddpm" not in MODELS or not MODELS["digits-ddpm"].available(),
                                reason="assets/digits-ddpm is not shipped")


@pytest.fixture(scope="module")
def task():
    from unlearn_core.zoo.digits_ddpm import digits_ddpm_task

    return digits_ddpm_task(ForgetRequest("class", 3), 0)


@pytest.fixture(scope="module")
def base():
    from unlearn_core.zoo import base_model

    return base_model("digits-ddpm")


def _fresh():
    from unlearn_core.zoo import fresh_copy

    return fresh_copy("digits-ddpm")


def test_same_seed_same_image(task, base):
    first = task.sample(base, [3, 7], [11, 12], steps=5)
    again = task.sample(base, [3, 7], [11, 12], steps=5)
    assert torch.equal(first, again)
    # The image depends on its own seed only, not on what else is in the batch.
    alone = task.sample(base, [7], [12], steps=5)
    assert torch.allclose(alone[0], first[1], atol=1e-5)
    other_seed = task.sample(base, [3], [99], steps=5)
    assert not torch.allclose(other_seed[0], first[0])


@pytest.mark.parametrize("guidance, steps", [(-1.0, 10), (25.0, 10), (float("nan"), 10), ("strong", 10),
                                             (2.0, 0), (2.0, 1001), (2.0, 2.5), (2.0, "many")])
def test_bad_sampling_settings(task, base, guidance, steps):
    with pytest.raises(UnlearningInputError, match=r"guidance scale must be|DDIM steps must be"):
        task.sample(base, [1], [0], guidance=guidance, steps=steps)


def test_bad_forget_requests():
    spec = MODELS["digits-ddpm"]
    with pytest.raises(UnlearningInputError, match="class"):
        spec.parse_forget("random:10")
    with pytest.raises(UnlearningInputError, match=r"0\.\.9"):
        spec.parse_forget("class:10")


def test_retrain_reference_missing_is_explained():
    from unlearn_core.zoo.digits_ddpm import digits_ddpm_task

    task = digits_ddpm_task(ForgetRequest("class", 8), 0)
    if task.retrain_available():
        pytest.skip("a Retrain reference for class 8 is shipped")
    with pytest.raises(UnlearningInputError, match="train digits-ddpm --forget class:8"):
        task.retrain()


def test_losses_and_layers(task, base):
    torch.manual_seed(0)
    batch = next(task.batches("forget", 8))
    per_sample = task.loss(base, batch, reduction="none")
    assert per_sample.shape == (8,) and torch.isfinite(per_sample).all()
    relabel = task.relabel_loss(base, batch, torch.Generator().manual_seed(0))
    assert relabel.ndim == 0 and relabel > 0
    # Per-sample relabel losses (SFR-on's adaptive weights) average to the batch loss for the same draw.
    relabel_each = task.relabel_loss(base, batch, torch.Generator().manual_seed(0), reduction="none")
    assert relabel_each.shape == (8,) and torch.allclose(relabel_each.mean(), relabel)
    layers = task.layer_weights(base)
    assert layers and all(p.ndim >= 2 for p in layers.values())
    assert not any(name.startswith("class_embedding") for name in layers)


def test_nan_loss_raises_divergence(task):
    model = _fresh()
    with torch.no_grad():
        model.conv_out.weight.fill_(float("nan"))
    method = get_method("rl").for_task("class-diffusion", {"epochs": 1.0})
    with pytest.raises(DivergenceError):
        method.unlearn(model, task)


def test_salun_lowers_forget_class_generation(task, base):
    before_forget, before_retain = task.forget_score(base), task.retain_score(base)
    assert before_forget >= 80.0  # the shipped model draws the class it is asked for
    model = _fresh()
    method = get_method("salun").for_task("class-diffusion", {"epochs": 3.0})
    torch.manual_seed(0)
    method.unlearn(model, task)
    model.eval()
    after_forget, after_retain = task.forget_score(model), task.retain_score(model)
    assert after_forget <= before_forget - 50.0
    assert after_retain >= before_retain - 10.0
    # The shipped base model is untouched.
    assert task.forget_score(base) == before_forget


def test_esd_runs_through_adapter_hooks(task):
    model = _fresh()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    method = get_method("esd").for_task("class-diffusion", {"iterations": 3})
    result = method.unlearn(model, task)
    assert len(result.artifacts["esd"]["losses"]) == 3
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    with pytest.raises(UnlearningInputError, match="text-conditioned"):
        get_method("esd").for_task("class-diffusion", {"parameters": "esd-x"}).unlearn(_fresh(), task)


def test_before_after_grid(task, base, tmp_path):
    from PIL import Image

    outcome = types.SimpleNamespace(report={"model": "digits-ddpm", "method": "salun", "seed": 0}, model=base)
    path = task.before_after_grid(outcome, tmp_path / "grid.png", seeds=[0, 1])
    image = Image.open(path)
    assert image.size[0] > image.size[1] / 2 and image.mode == "RGB"


def test_benchmark_writes_the_generation_targets_verdict():
    from unlearn_core.bench import generation_targets

    def report(ua, retain_acc, fid, seconds, seed=0):
        return {"seed": seed, "metrics": {"original": {"ua": 0.0, "retain_acc": 100.0, "fid": 60.0},
                                          "unlearned": {"ua": ua, "retain_acc": retain_acc, "fid": fid}},
                "runtime_s": {"unlearn": seconds}}

    salun = [report(98.0, 100.0, 57.0, 35.0, 0), report(97.0, 99.0, 70.0, 40.0, 1)]
    sfr = [report(99.0, 100.0, 80.0, 40.0, 0), report(99.0, 99.5, 80.0, 40.0, 1)]
    text = generation_targets({"salun": salun, "sfr_on": sfr})
    assert ("- SalUn: mean ua 97.5, retain_acc 99.5 (original 100.0), FID 63.5 (original 60.0, limit 72.0), 37.5 s; "
            "worst seed 1: ua 97.0, retain_acc 99.0 (original 100.0), FID 70.0 (original 60.0, limit 72.0), 40.0 s: "
            "**met** (every seed)") in text
    assert ("- SFR-on: mean ua 99.0 (SalUn 97.5), retain_acc 99.8 (SalUn 99.5); worst seed 0: ua 99.0 (SalUn 98.0), "
            "retain_acc 100.0 (SalUn 100.0): **met** (every seed)")  # the seed with no room left on retain_acc in text
    text = generation_targets({"salun": [report(94.0, 100.0, 57.0, 35.0)], "sfr_on": [report(99.0, 99.0, 57.0, 9.0)]})
    assert "**not met**" in text.splitlines()[-2] and "**not met**" in text.splitlines()[-1]
    # The mean meets every bound, one seed does not (FID 75 > 72): not met, naming that seed.
    text = generation_targets({"salun": [report(98.0, 100.0, 50.0, 30.0, 0), report(98.0, 100.0, 75.0, 30.0, 7),
                                         report(98.0, 100.0, 50.0, 30.0, 2)]})
    line = next(line for line in text.splitlines() if line.startswith("- SalUn"))
    assert "mean ua 98.0" in line and "FID 58.3" in line and "worst seed 7:" in line and "FID 75.0" in line
    assert line.endswith("**not met** (misses it on seed 7; the mean alone would meet it)")
    # Classifier reports (no fid) get no verdict.
    assert generation_targets({"salun": [{"metrics": {"unlearned": {"ua": 1.0}}}]}) == ""


# --- issue 14: the original's evaluation is computed once per model and evaluation settings ----------------

def _counting_evaluate(monkeypatch, cls):
    """Replace ``cls.evaluate`` (and the cheap forget score) by stubs that count their calls."""
    from unlearn_core import runner
    from unlearn_core.cache import ModelCache

    calls = {"evaluate": 0, "forget_score": 0}

    def evaluate(self, model):
        calls["evaluate"] += 1
        return {"ua": 0.0, "forget_acc": 100.0, "retain_acc": 100.0, "fid": 0.0}

    def forget_score(self, model):
        calls["forget_score"] += 1
        return 10.0

    monkeypatch.setattr(cls, "evaluate", evaluate)
    monkeypatch.setattr(cls, "forget_score", forget_score)
    monkeypatch.setattr(runner, "_ORIGINAL", ModelCache(64))  # a fresh cache, dropped after the test
    return calls


def test_new_seed_does_not_evaluate_the_original_again(monkeypatch):
    from unlearn_core.runner import run_unlearning
    from unlearn_core.tasks.class_diffusion import ClassDiffusionTask

    calls = _counting_evaluate(monkeypatch, ClassDiffusionTask)
    tiny = {"epochs": 0.02}
    first = run_unlearning("digits-ddpm", "class:3", "ga", 0, tiny)
    assert calls == {"evaluate": 3, "forget_score": 1}  # original, unlearned, Retrain; Retrain's forget score
    second = run_unlearning("digits-ddpm", "class:3", "ga", 1, tiny)
    assert calls == {"evaluate": 4, "forget_score": 1}  # only the unlearned model: the seed changes no metric
    assert second.report["metrics"]["original"] == first.report["metrics"]["original"]
    assert second.report["metrics"]["retrain"] == first.report["metrics"]["retrain"]
    run_unlearning("digits-ddpm", "class:4", "ga", 1, tiny, with_retrain=False)
    assert calls["evaluate"] == 6  # another forget class is another evaluation of the original


def test_evaluation_key_names_what_the_metrics_depend_on(task):
    from unlearn_core.zoo.digits_ddpm import digits_ddpm_task

    assert digits_ddpm_task(ForgetRequest("class", 3), 7).evaluation_key() == task.evaluation_key()
    assert digits_ddpm_task(ForgetRequest("class", 4), 0).evaluation_key() != task.evaluation_key()
    changed = digits_ddpm_task(ForgetRequest("class", 3), 0)
    changed.eval_forget_samples = 50
    assert changed.evaluation_key() != task.evaluation_key()


def test_classifier_evaluation_depends_on_the_seed(monkeypatch):
    """A classifier's forget set (random:P) and MIA shadow set are drawn by the seed: a new seed evaluates the
    original again."""
    from unlearn_core.runner import run_unlearning
    from unlearn_core.tasks.classification import ClassificationTask

    calls = _counting_evaluate(monkeypatch, ClassificationTask)
    run_unlearning("digits-cnn", "class:3", "ft", 0, {"epochs": 0.05}, with_retrain=False)
    run_unlearning("digits-cnn", "class:3", "ft", 1, {"epochs": 0.05}, with_retrain=False)
    assert calls["evaluate"] == 4
    from unlearn_core.zoo import get_model_spec

    spec = get_model_spec("digits-cnn")
    keys = {spec.make_task(spec.parse_forget("random:10"), seed).evaluation_key() for seed in (0, 1)}
    assert len(keys) == 2


def test_report_states_the_evaluation_settings(monkeypatch, task):
    from unlearn_core.runner import run_unlearning
    from unlearn_core.tasks.class_diffusion import ClassDiffusionTask

    _counting_evaluate(monkeypatch, ClassDiffusionTask)
    report = run_unlearning("digits-ddpm", "class:3", "ga", 0, {"epochs": 0.02}, with_retrain=False).report
    assert report["evaluation"] == {
        "forget_samples": 100, "retain_samples_per_class": 40, "retain_samples": 360, "ddim_steps": task.steps,
        "guidance": task.guidance, "sampler": "ddim (eta 0, fixed seeds)"}
    for key in ("model", "forget", "method", "seed", "hyperparameters", "metrics", "runtime_s"):
        assert key in report  # the existing keys stay


def test_sampling_runs_in_inference_mode_and_returns_ordinary_tensors(task, base):
    """Each image is its seed's, batched or not, run to run; the model runs under inference mode and the
    samples are ordinary tensors (the inversion audit trains on them)."""
    from unlearn_core.diffusion import sampling

    modes = []
    hook = base.register_forward_pre_hook(lambda module, args: modes.append(torch.is_inference_mode_enabled()))
    try:
        first = task.sample(base, [3, 7, 1], [11, 12, 13], steps=4)
    finally:
        hook.remove()
    assert modes and all(modes)
    assert not first.is_inference() and not first.requires_grad
    (first * torch.ones(1, requires_grad=True)).sum().backward()  # usable in autograd
    assert torch.equal(first, task.sample(base, [3, 7, 1], [11, 12, 13], steps=4))
    small = sampling.ddim_sample(base, task.alphas_cumprod, [3, 7, 1], [11, 12, 13], task.null_class,
                                 task.guidance, 4, batch_size=2)
    assert torch.allclose(small, first, atol=1e-3)  # batching changes only float rounding


def test_new_seed_reuses_the_original_grid_and_layer_analysis(monkeypatch, tmp_path):
    """The before/after grids use fixed seeds and the layer analysis fixed noise: a second seed's inspection
    takes the original's samples, Retrain's samples and the layer analysis from the cache."""
    from unlearn_core import inspection
    from unlearn_core.cache import ModelCache
    from unlearn_core.runner import run_unlearning
    from unlearn_core.tasks.class_diffusion import ClassDiffusionTask

    _counting_evaluate(monkeypatch, ClassDiffusionTask)
    monkeypatch.setattr(inspection, "_SAMPLES", ModelCache(16))
    monkeypatch.setattr(inspection, "_LAYER_ANALYSIS", ModelCache(16))
    views = [inspection.inspect_run(run_unlearning("digits-ddpm", "class:3", "ga", seed, {"epochs": 0.02}),
                                    tmp_path / str(seed), None) for seed in (0, 1)]
    first, second = (view["generated"] for view in views)
    assert first["seeds"] == second["seeds"] == inspection.grid_seeds(inspection.SAMPLES_PER_CLASS)
    assert second["before"] is first["before"] and second["retrain"] is first["retrain"]
    assert views[1]["slug"] is views[0]["slug"]
    assert first["after"].shape == first["before"].shape
