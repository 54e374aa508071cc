"""Damaged model files (a copy of a shipped model in tmp_path, never assets/): each is one AssetError that names
the file, never a SafetensorError, JSONDecodeError, size-mismatch or TypeError traceback, and never a run of
weights that cannot be the trained model (NaN, inf, all zero)."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from unlearn_core.assets import ASSETS
from unlearn_core.errors import AssetError, UnlearningInputError
from unlearn_core.models.classifier import load_classifier
from unlearn_core.models.ddpm import load_unet
from unlearn_core.zoo import registry


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 50)


def _weights(change):
    def apply(path: Path) -> None:
        save_file({name: change(name, tensor) for name, tensor in load_file(str(path)).items()}, str(path))
    return apply


def _config(**update):
    def apply(path: Path) -> None:
        path.write_text(json.dumps({**json.loads(path.read_text()), **update}))
    return apply


CNN_CASES = [
    ("model.safetensors", _truncate, "model.safetensors cannot be loaded: 'Error while deserializing header"),
    ("model.safetensors", _garble, "model.safetensors cannot be loaded: 'Error while deserializing header"),
    ("config.json", lambda p: p.write_text("{oops"), "config.json cannot be loaded: 'Expecting property name"),
    ("config.json", lambda p: p.write_text("[1, 2]"), "config.json cannot be loaded: expected a JSON object"),
    ("config.json", _config(channels="abc"), "config.json cannot be loaded: \"channels must be like (32, 64); "
                                             "got 'abc'\" (TypeError)"),
    ("config.json", _config(hidden=12.5), "config.json cannot be loaded: 'hidden must be like 128; got 12.5'"),
    ("config.json", _config(hidden=64), "model.safetensors does not fit the model its config describes: fc1.weight "
                                        "is (128, 1024), expected (64, 1024)"),
    ("model.safetensors", _weights(lambda n, t: t * float("nan") if n == "conv1.weight" else t),
     "model.safetensors cannot be loaded: weight conv1.weight holds NaN or infinite values"),
    ("model.safetensors", _weights(lambda n, t: t * float("inf") if n == "fc1.bias" else t),
     "weight fc1.bias holds NaN or infinite values"),
    ("model.safetensors", _weights(lambda n, t: torch.zeros_like(t)),
     "model.safetensors cannot be loaded: every weight is zero, so it is not a trained model"),
]


def damaged_copy(tmp_path: Path, model: str, file: str, damage) -> Path:
    """A copy of the shipped ``model``'s folder (never the shipped one) with ``file`` damaged."""
    folder = tmp_path / model
    shutil.copytree(ASSETS / model, folder)
    damage(folder / file)
    return folder


@pytest.mark.parametrize("file, damage, message", CNN_CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_a_damaged_classifier_names_its_file(tmp_path, file, damage, message):
    folder = damaged_copy(tmp_path, "digits-cnn", file, damage)
    with pytest.raises(AssetError) as info:
        load_classifier(folder)
    assert message in str(info.value) and str(folder) in str(info.value)
    assert str(info.value).endswith("restore the file or train the model again")


DDPM_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


@pytest.mark.parametrize("file, damage, message", [
    (DDPM_WEIGHTS, _truncate, "unet cannot be loaded: \"Unable to load weights"),
    ("unet/config.json", lambda p: p.write_text("{oops"), "is not a valid JSON file"),
    (DDPM_WEIGHTS, _weights(lambda n, t: torch.zeros_like(t)), "unet cannot be loaded: every weight is zero"),
], ids=["truncated", "json", "zero"])
def test_a_damaged_diffusion_model_names_its_folder(tmp_path, file, damage, message):
    folder = damaged_copy(tmp_path, "digits-ddpm", file, damage)
    with pytest.raises(AssetError) as info:
        load_unet(folder)
    assert message in str(info.value)


def test_a_shipped_model_that_fails_to_load_names_the_model(tmp_path, monkeypatch):
    folder = tmp_path / "digits-cnn"
    shutil.copytree(ASSETS / "digits-cnn", folder)
    _truncate(folder / "model.safetensors")
    spec = registry.get_model_spec("digits-cnn")
    monkeypatch.setitem(registry.MODELS, "digits-cnn", dataclasses.replace(spec, load=lambda: load_classifier(folder)))
    registry.base_model.cache_clear()
    try:
        with pytest.raises(UnlearningInputError) as info:
            registry.base_model("digits-cnn")
    finally:
        registry.base_model.cache_clear()
    assert str(info.value).startswith(f"model 'digits-cnn': {folder / 'model.safetensors'} cannot be loaded:")


def test_the_shipped_models_still_load():
    assert load_classifier(ASSETS / "digits-cnn") is not None and load_unet(ASSETS / "digits-ddpm") is not None
