"""Masks keep the right fraction; saliency data has the shapes the app plots."""
import pytest
import torch

from unlearn_core.saliency import (fisher_diagonal, fisher_ratio, gradient_saliency, layer_saliency, mask_share,
                                   threshold_mask, topk_mask)
from unlearn_core.zoo import fresh_copy


def _scores():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.rand(10, 3, 3, 3, generator=g), "b": torch.rand(50, generator=g) * 2, "c": torch.rand(7, 11, generator=g)}


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9])
def test_global_mask_keeps_ratio_of_top_entries(ratio):
    scores = _scores()
    mask = topk_mask(scores, ratio, "global")
    total = sum(s.numel() for s in scores.values())
    assert abs(mask_share(mask) - ratio) <= 1 / total
    kept = torch.cat([s[mask[n]] for n, s in scores.items()])
    dropped = torch.cat([s[~mask[n]] for n, s in scores.items()])
    assert kept.min() >= dropped.max()


def test_layer_mask_keeps_ratio_in_every_layer():
    mask = topk_mask(_scores(), 0.3, "layer")
    for name, m in mask.items():
        assert abs(m.float().mean().item() - 0.3) <= 1 / m.numel() + 1e-6


def test_mask_ratio_out_of_range_is_refused():
    from unlearn_core.errors import UnlearningInputError
    with pytest.raises(UnlearningInputError, match=r"\(0, 1\]"):
        topk_mask(_scores(), 0.0)


def test_fisher_ratio_mask_thresholds_at_gamma():
    forget = {"w": torch.tensor([1.0, 2.0, 0.0, 3.0])}
    retain = {"w": torch.tensor([2.0, 1.0, 0.0, 3.0])}
    mask = threshold_mask(fisher_ratio(forget, retain), 1.0)
    assert mask["w"].tolist() == [False, True, True, True]


def test_gradient_saliency_is_forget_specific(digits_task_factory):
    task = digits_task_factory("class:3")
    model = fresh_copy("digits-cnn")
    scores = gradient_saliency(model, task)
    assert set(scores) == {n for n, _ in model.named_parameters()}
    assert all((s >= 0).all() for s in scores.values())
    # the head row of the forget class gets far more saliency than an average row
    head = scores["fc2.weight"].sum(1)
    assert head[3] > head.mean()
    layers = layer_saliency(scores, topk_mask(scores, 0.5))
    conv = next(l for l in layers if l.name == "conv2.weight")
    assert conv.scores.shape == (32, 32 * 9) and conv.mask.shape == conv.scores.shape


def test_fisher_diagonal_is_mean_of_squared_batch_gradients(digits_task_factory):
    task = digits_task_factory("class:3")
    model = fresh_copy("digits-cnn")
    fisher = fisher_diagonal(model, task, "forget", batch_size=1024)  # one batch
    model.zero_grad()
    task.loss(model, next(task.batches("forget", 1024))).backward()
    assert torch.allclose(fisher["fc2.bias"], model.fc2.bias.grad ** 2)
