"""The training loop the shipped diffusion models share (digits-ddpm, shapes-t2i): warm-up + cosine learning
rate, gradient clipping, an EMA copy (the shipped weights) and a checkpoint a killed run resumes from."""
from __future__ import annotations

import copy
import math
import pickle
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import UnlearningInputError, check_finite
from ..execution import place, reduce_per_sample, run_device

CHECKPOINT_NAME = "checkpoint.pt"
ProgressFn = Callable[[float, str], None]


def squared_error(prediction: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error over each sample's pixels, reduced over the batch by ``reduction``."""
    return reduce_per_sample(((prediction - target) ** 2).flatten(1).mean(1), reduction)


def warmup_cosine_lr(step: int, lr: float, warmup: int, total: int, min_share: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_share`` x ``lr`` at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return lr * (min_share + (1 - min_share) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def load_training_checkpoint(path: Path) -> dict:
    """A training state written by :func:`save_training_checkpoint`. ``weights_only``: a planted checkpoint
    cannot run code; the state is tensors, numbers, strings and dicts. Loaded onto the CPU, so a run begun on
    a GPU resumes on any machine (``load_state_dict`` moves each tensor to its module's device)."""
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as error:
        raise UnlearningInputError(
            f"{path} holds more than weights and training state, so it was not loaded (it could run code); "
            f"delete it to train from scratch ({str(error)[:120]})") from None


def save_training_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` through a temporary file, so a run killed while writing leaves the previous
    checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def train_with_ema(model: nn.Module, recipe: Any, seed: int, batch_loss: Callable[[torch.Generator], torch.Tensor],
                   checkpoint_dir: str | Path | None = None, identity: dict | None = None,
                   can_resume: Callable[[dict], bool] | None = None, progress: ProgressFn | None = None,
                   label: str = "training") -> tuple[nn.Module, dict | None]:
    """``recipe.steps`` AdamW steps on ``batch_loss(generator)`` and the EMA model (eval mode), plus the
    checkpoint a run resumed from (None when it started afresh).

    ``recipe`` supplies steps, lr, warmup, min_lr_share, weight_decay, grad_clip, ema_decay and
    checkpoint_every. With ``checkpoint_dir`` the state (weights, EMA, optimizer, random generators and
    ``identity``) is written every ``checkpoint_every`` steps; a later call resumes from it when ``can_resume``
    accepts it (by default: the same ``identity``), giving the same result as an uninterrupted run."""
    identity = dict(identity or {})
    # The caller seeds torch and builds ``model``; the data order and noise come from this generator.
    generator = torch.Generator().manual_seed(int(seed))
    place(model, run_device())  # data and noise stay on the CPU (this generator); the network moves
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    start, resumed = 0, None
    path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    if path is not None and path.exists():
        state = load_training_checkpoint(path)
        if (can_resume or (lambda s: s["identity"] == identity))(state):
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            torch.set_rng_state(state["torch_rng"])
            start, resumed = state["step"], state
            if progress:
                progress(start / recipe.steps, f"resumed from {path} at step {start}")
    model.train()
    began, recent = time.perf_counter(), []
    for step in range(start, recipe.steps):
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(step, recipe.lr, recipe.warmup, recipe.steps, recipe.min_lr_share)
        loss = batch_loss(generator)
        check_finite(loss, f"{label} step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        # EMA with a warm-up so the early average is not dominated by the random initialisation.
        ema_update(ema, model, min(recipe.ema_decay, (1 + step) / (10 + step)))
        recent.append(float(loss.detach()))
        done = step + 1
        if progress and (done % 50 == 0 or done == recipe.steps):
            rate = (time.perf_counter() - began) / max(done - start, 1)
            progress(done / recipe.steps, f"{label} step {done}/{recipe.steps} loss {sum(recent) / len(recent):.4f} "
                     f"({rate:.2f} s/step, ~{rate * (recipe.steps - done) / 60:.1f} min left)")
            recent = []
        if path is not None and done % recipe.checkpoint_every == 0 and done < recipe.steps:
            save_training_checkpoint(path, {
                "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "step": done,
                "identity": identity})
    return ema.eval(), resumed
