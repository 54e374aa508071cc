"""Large user-given models (CLIP, Stable Diffusion) end to end through the CLI, on tiny models the tests build
from configs with random weights and a tokenizer vocabulary they write themselves. No network."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from unlearn_core import cli

NAMES = ("alice", "bob", "carol", "dave")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def write_tokenizer(folder: Path):
    """A CLIPTokenizer over single letters (no merges): every lowercase word tokenizes, ids stay tiny."""
    from transformers import CLIPTokenizer

    vocab = {}
    for token in ["<|startoftext|>", "<|endoftext|>", "!", ".", ",", ".</w>", ",</w>"]:
        vocab[token] = len(vocab)
    for c in LETTERS:
        vocab[c] = len(vocab)
    for c in LETTERS:
        vocab[c + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_text_config(vocab_size: int, **extra) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1,
                **extra)


def identity_images(seed: int, per_name: int = 10, size: int = 40):
    """Images whose colour layout identifies the name (4 quadrant colours per name) plus noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    palette = rng.uniform(0, 255, size=(len(NAMES), 2, 2, 3))
    out = {}
    for i, name in enumerate(NAMES):
        images = []
        for _ in range(per_name):
            base = np.kron(palette[i], np.ones((size // 2, size // 2, 1)))
            noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
            images.append(Image.fromarray(noisy))
        out[name] = images
    return out


@pytest.fixture(scope="module")
def clip_setup(tmp_path_factory):
    """A tiny CLIP fine-tuned for a few seconds to tell the four names apart, saved with its tokenizer and
    image processor, and the image folders DATA/<name>/*.png."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("clip")
    model_dir, data_dir = root / "tiny-clip", root / "data"
    tokenizer = write_tokenizer(model_dir)
    config = CLIPConfig(text_config=tiny_text_config(len(tokenizer)),
                        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=32, patch_size=8),
                        projection_dim=16)
    model = CLIPModel(config)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    images = identity_images(0)
    for name, imgs in images.items():
        (data_dir / name).mkdir(parents=True)
        for k, image in enumerate(imgs):
            image.save(data_dir / name / f"{k:02d}.png")
    # fit the zero-shot objective so the original model recognises every name
    pixels = processor(images=[im for imgs in images.values() for im in imgs], return_tensors="pt")["pixel_values"]
    labels = torch.tensor([i for i, imgs in enumerate(images.values()) for _ in imgs])
    tokens = tokenizer([f"a photo of {n}." for n in NAMES], padding=True, return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        img = torch.nn.functional.normalize(model.get_image_features(pixel_values=pixels).pooler_output, dim=-1)
        txt = torch.nn.functional.normalize(model.get_text_features(**tokens).pooler_output, dim=-1)
        loss = torch.nn.functional.cross_entropy(model.logit_scale.exp() * img @ txt.T, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    return model_dir, data_dir


def run_cli(args: list[str], tmp_path: Path, name: str = "report") -> dict:
    out = tmp_path / f"{name}.json"
    code = cli.main(["run", *args, "--no-retrain", "--device", "cpu", "--out", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def changed_tensors(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_clip_slug_edits_one_front_layer_and_forgets_the_name(clip_setup, tmp_path):
    model_dir, data_dir = clip_setup
    on_disk = load_file(str(model_dir / "model.safetensors"))
    weights = tmp_path / "unlearned.safetensors"
    report = run_cli(["--model", "clip", "--model-path", str(model_dir), "--data", str(data_dir),
                      "--forget", "concept:Alice", "--method", "slug", "--weights", str(weights)], tmp_path)
    before, after = report["metrics"]["original"], report["metrics"]["unlearned"]
    assert before["forget_acc"] >= 90 and before["retain_acc"] >= 90
    assert after["forget_acc"] <= 1.0  # SLUG's criterion: the name is no longer recognised
    assert after["forget_cosine"] < before["forget_cosine"]
    assert after["retain_acc"] >= 50  # one layer, one step: the other names mostly survive
    # exactly one weight matrix changed, an encoder/projection matrix; the folder on disk is untouched
    unlearned = load_file(str(weights))
    changed = changed_tensors(on_disk, unlearned)
    assert len(changed) == 1 and unlearned[changed[0]].ndim == 2
    assert "encoder.layers." in changed[0] or changed[0].endswith("projection.weight")
    assert all(torch.equal(on_disk[k], v) for k, v in load_file(str(model_dir / "model.safetensors")).items())


def test_clip_slug_artifacts_and_tower_choice(clip_setup):
    from unlearn_core.models_hub import HubOptions, configure
    from unlearn_core.runner import run_unlearning

    model_dir, data_dir = clip_setup
    configure("clip", HubOptions(path=str(model_dir), device="cpu", data=str(data_dir), tower="text"))
    outcome = run_unlearning("clip", "concept:bob", "slug", 0, {"max_front_layers": 2}, with_retrain=False)
    slug = outcome.artifacts["slug"]
    assert slug["chosen"] in slug["front"]
    assert all(layer["name"].startswith(("text_model.", "text_projection.")) for layer in slug["layers"])
    assert slug["trace"] and any(t["reached"] for t in slug["trace"])
    assert outcome.report["metrics"]["unlearned"]["forget_acc"] < outcome.report["metrics"]["original"]["forget_acc"]


def test_clip_salun_moves_only_the_chosen_tower(clip_setup, tmp_path):
    model_dir, data_dir = clip_setup
    weights = tmp_path / "salun.safetensors"
    report = run_cli(["--model", "clip", "--model-path", str(model_dir), "--data", str(data_dir), "--tower",
                      "vision", "--forget", "concept:carol", "--method", "salun", "--weights", str(weights),
                      "--set", "lr=3e-3", "--set", "epochs=8", "--set", "batch_size=8"], tmp_path)
    before, after = report["metrics"]["original"], report["metrics"]["unlearned"]
    assert after["forget_acc"] < before["forget_acc"] - 50
    assert after["retain_acc"] >= 70
    changed = changed_tensors(load_file(str(model_dir / "model.safetensors")), load_file(str(weights)))
    assert changed and all(k.startswith(("vision_model.", "visual_projection.")) for k in changed)


def test_clip_input_errors_name_the_valid_values(clip_setup, tmp_path, capsys):
    model_dir, data_dir = clip_setup
    base = ["run", "--model", "clip", "--model-path", str(model_dir), "--data", str(data_dir), "--device", "cpu",
            "--no-retrain", "--method", "slug"]
    assert cli.main([*base, "--forget", "concept:zed"]) == 2
    assert "alice, bob, carol, dave" in capsys.readouterr().err
    assert cli.main([*base, "--forget", "class:1"]) == 2
    assert cli.main([*base, "--forget", "concept:alice", "--method", "esd"]) == 2
    assert "does not apply to zero-shot" in capsys.readouterr().err
    missing = ["run", "--model", "clip", "--model-path", str(tmp_path / "nowhere"), "--forget", "concept:a",
               "--method", "slug", "--device", "cpu"]
    assert cli.main(missing) == 2
    assert cli.main([*missing[:4], "owner/not-cached-model", *missing[5:]]) == 2
    assert "local Hugging Face cache" in capsys.readouterr().err
