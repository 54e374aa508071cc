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

    def report(ua, retain_acc, fid, seconds):
        return {"metrics": {"original": {"ua": 0.0, "retain_acc": 100.0, "fid": 60.0},
                            "unlearned": {"ua": ua, "retain_acc": retain_acc, "fid": fid}},
                "runtime_s": {"unlearn": seconds}}

    salun = [report(98.0, 100.0, 57.0, 35.0), report(97.0, 99.0, 70.0, 40.0)]
    text = generation_targets({"salun": salun, "sfr_on": [report(99.0, 99.5, 80.0, 40.0)] * 2})
    assert "- SalUn: ua 97.5, retain_acc 99.5 (original 100.0), FID 63.5 (original 60.0, limit 72.0), 37.5 s: **met**" in text
    assert "- SFR-on: ua 99.0 (SalUn 97.5), retain_acc 99.5 (SalUn 99.5): **met**" in text
    text = generation_targets({"salun": [report(94.0, 100.0, 57.0, 35.0)], "sfr_on": [report(99.0, 99.0, 57.0, 9.0)]})
    assert "**not met**" in text.splitlines()[-2] and text.splitlines()[-1].endswith("**not met**")
    # Classifier reports (no fid) get no verdict.
    assert generation_targets({"salun": [{"metrics": {"unlearned": {"ua": 1.0}}}]}) == ""
