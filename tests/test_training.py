"""The shared diffusion training loop: a run killed after a checkpoint resumes to the very same weights."""
import pytest
import torch

from unlearn_core.data import load_digits_split
from unlearn_core.diffusion.training import CHECKPOINT_NAME, warmup_cosine_lr
from unlearn_core.models.ddpm import IMAGE_SIZE, DDPMRecipe, train_ddpm

TINY = dict(steps=6, batch_size=8, warmup=2, channels=(8, 16), checkpoint_every=3)


def _data():
    split = load_digits_split(IMAGE_SIZE)
    return split.x_train[:64], split.y_train[:64]


class Killed(Exception):
    pass


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    import unlearn_core.models.ddpm as ddpm

    x, y = _data()
    whole = train_ddpm(x, y, seed=3, recipe=DDPMRecipe(**TINY))
    # Kill a run during step 5 of 6, after its checkpoint at step 3, then start it again from the same folder.
    calls, loss = [], ddpm.noise_loss

    def dying_loss(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise Killed()
        return loss(*args, **kwargs)

    monkeypatch.setattr(ddpm, "noise_loss", dying_loss)
    with pytest.raises(Killed):
        train_ddpm(x, y, seed=3, recipe=DDPMRecipe(**TINY), checkpoint_dir=tmp_path)
    monkeypatch.setattr(ddpm, "noise_loss", loss)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)["step"] == 3
    messages = []
    resumed = train_ddpm(x, y, seed=3, recipe=DDPMRecipe(**TINY), checkpoint_dir=tmp_path,
                         progress=lambda fraction, message: messages.append(message))
    assert any("resumed" in m and "step 3" in m for m in messages)
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_checkpoint_of_another_recipe_is_not_resumed(tmp_path):
    x, y = _data()
    train_ddpm(x, y, seed=3, recipe=DDPMRecipe(**{**TINY, "steps": 4}), checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).exists()
    messages = []
    train_ddpm(x, y, seed=4, recipe=DDPMRecipe(**TINY), checkpoint_dir=tmp_path,
               progress=lambda fraction, message: messages.append(message))
    assert not any("resumed" in m for m in messages)


def test_learning_rate_warms_up_then_decays_to_its_floor():
    lrs = [warmup_cosine_lr(step, 1.0, 10, 110, 0.05) for step in range(111)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0 and abs(lrs[110] - 0.05) < 1e-12
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


PLANTED = []


class Planted:
    """A pickle that runs code when loaded without weights_only."""

    def __reduce__(self):
        return (PLANTED.append, ("ran",))


def test_a_planted_checkpoint_is_refused_not_run(tmp_path):
    from unlearn_core.errors import UnlearningInputError

    torch.save({"identity": Planted(), "step": 1}, tmp_path / CHECKPOINT_NAME)
    x, y = _data()
    with pytest.raises(UnlearningInputError, match="could run code"):
        train_ddpm(x, y, seed=3, recipe=DDPMRecipe(**TINY), checkpoint_dir=tmp_path)
    assert PLANTED == []
