"""Data-parallel runs (``accelerate launch``, gloo on the CPU): two processes give the one-process run's
saliency mask and report, on the shipped classifiers and on the tiny CLIP and Stable Diffusion the hub tests
build; the report says where it ran."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_hub_models import SD_FAST, build_tiny_clip, build_tiny_sd

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "parallel_run.py"
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def run(out: Path, args: list[str], processes: int) -> tuple[dict, dict[str, torch.Tensor]]:
    command = (LAUNCH if processes > 1 else [sys.executable]) + [str(WORKER), str(out), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "report.json").read_text()), load_file(str(out / "mask.safetensors"))


def compare(tmp_path: Path, args: list[str], tolerance: float) -> tuple[dict, dict]:
    one, mask_one = run(tmp_path / "one", args, 1)
    two, mask_two = run(tmp_path / "two", args, 2)
    assert one["execution"] == {"device": "cpu", "dtype": "float32", "processes": 1}
    assert two["execution"] == {"device": "cpu", "dtype": "float32", "processes": 2}
    # the same saliency mask, layer by layer, and scores equal up to the order of float additions
    masks = [k for k in mask_one if k.startswith("mask/")]
    assert masks and mask_one.keys() == mask_two.keys()
    largest = max(float(v.abs().max()) for k, v in mask_one.items() if k.startswith("scores/"))
    for key in masks:
        assert torch.equal(mask_one[key], mask_two[key]), key
        scores = key.replace("mask/", "scores/")  # rounding noise is measured against the largest score
        assert torch.allclose(mask_one[scores], mask_two[scores], rtol=1e-4, atol=1e-6 * largest), scores
    # every metric of every model within tolerance of the one-process run
    for which, metrics in one["metrics"].items():
        for name, value in metrics.items():
            assert two["metrics"][which][name] == pytest.approx(value, abs=tolerance), (which, name)
    return one, two


def test_two_processes_give_the_one_process_classifier_run(tmp_path):
    one, two = compare(tmp_path, ["--model", "digits-mlp", "--forget", "random:10", "--method", "salun",
                                  "--seed", "3"], tolerance=1e-6)
    assert one["metrics"]["unlearned"] != one["metrics"]["original"]  # the run did change the model


def test_two_processes_give_the_one_process_clip_run(tmp_path):
    model_dir, data_dir = build_tiny_clip(tmp_path / "clip")
    one, _ = compare(tmp_path, ["--model", "clip", "--model-path", str(model_dir), "--data", str(data_dir),
                                "--tower", "vision", "--forget", "concept:carol", "--method", "salun", "--set",
                                "lr=3e-3", "--set", "epochs=4", "--set", "batch_size=8", "--no-retrain",
                                "--device", "cpu"], tolerance=1e-6)
    assert one["metrics"]["unlearned"]["zero_shot_forget"] < one["metrics"]["original"]["zero_shot_forget"]


def test_two_processes_give_the_one_process_stable_diffusion_run(tmp_path):
    sd_dir = build_tiny_sd(tmp_path / "sd")
    one, _ = compare(tmp_path, ["--model", "stable-diffusion", "--model-path", str(sd_dir), "--forget",
                                "concept:mickey mouse", "--method", "salun", "--unet-part", "cross-attention",
                                "--set", "epochs=4", "--set", "lr=3e-3", "--set", "batch_size=4", "--no-retrain",
                                *SD_FAST], tolerance=1e-3)
    assert one["metrics"]["unlearned"]["forget_alignment"] < one["metrics"]["original"]["forget_alignment"]
