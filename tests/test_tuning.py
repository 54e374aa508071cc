"""Fair tuning (``python -m unlearn_core tune``), tuned defaults in the method registry, and the memorising
classifier that makes random forgetting measurable."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from unlearn_core import cli
from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import get_method
from unlearn_core.methods import registry
from unlearn_core.methods.sfron import adaptive_forget_loss
from unlearn_core.training import accuracy
from unlearn_core.spread import interval
from unlearn_core.tuning import PLANS, choose, Targets, TuningPlan, parse_grid_override, run_tuning, validate_request
from unlearn_core.zoo import base_model, get_model_spec
from unlearn_core.zoo.digits_mlp import DIGITS_MLP


def test_tuning_and_report_targets_are_disjoint_and_declared():
    for model, plan in PLANS.items():
        tuned = set(TuningPlan.forget_sets(plan.tune))
        reported = set(TuningPlan.forget_sets(plan.report))
        assert tuned and reported and not tuned & reported, model
    with pytest.raises(ValueError, match="share forget sets"):
        TuningPlan(tune=Targets(("class:3",), (0,)), report=Targets(("class:3",), (1,)))
    # A random share drawn by the same seed is the same forget set; another seed is another one.
    TuningPlan(tune=Targets(("random:10",), (100,)), report=Targets(("random:10",), (0,)))
    with pytest.raises(ValueError):
        TuningPlan(tune=Targets(("random:10",), (0,)), report=Targets(("random:10",), (0, 1)))


@pytest.mark.parametrize("argv, message", [
    (["tune", "--model", "digits-cnn", "--methods", "nope"], "unknown method 'nope' for tune; valid: ft, ga"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "ga.lr=abc"],
     r"grid of ga: hyperparameter 'lr' must be a number in \(0.0, 10.0\], given as a JSON number or plain decimal "
     r"text such as 3, 0.01 or 1e-3; got 'abc'"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "ga.lr=-1"], "must be a number in"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "ga.epochs=0"], "epochs"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "salun.lr=0.1"], "not being tuned"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "lr=0.1"], "METHOD.KNOB=V1,V2"),
    (["tune", "--model", "digits-cnn", "--methods", "ga", "--grid", "ga.lr=0.1,,0.2"], "empty value"),
    (["tune", "--model", "digits-cnn", "--methods", "esd"], "does not apply to classification"),
    (["tune", "--model", "shapes-t2i"], "no tuning plan .* valid: digits-cnn, digits-mlp, digits-ddpm"),
    (["tune", "--model", "digits-cnn", "--methods", ","], "comma-separated method names"),
])
def test_bad_tune_requests_get_one_clear_message(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_grid_values_are_parsed_as_json_then_text():
    assert parse_grid_override("salun.ratio=0.3,0.5") == ("salun", "ratio", [0.3, 0.5])
    assert parse_grid_override("sfr_on.optimizer=adam,sgd") == ("sfr_on", "optimizer", ["adam", "sgd"])
    assert parse_grid_override("sfr_on.decay_alpha=true") == ("sfr_on", "decay_alpha", [True])
    family, methods = validate_request("digits-mlp", ["ga"], {"ga": {"lr": [1e-3]}})
    assert family == "classification" and methods == ["ga"]


def test_tuning_picks_the_cheapest_setting_within_the_best_gap_and_the_registry_uses_it(tmp_path, monkeypatch):
    """A two-setting search on digits-mlp: the table lists both settings on both kinds of target, the
    defaults file holds the cheapest of those whose mean Avg. Gap lies within the lowest's 95% interval, and
    runs on that model and kind use it."""
    monkeypatch.setattr(registry, "TUNED_DIR", tmp_path / "tuned")
    small_plan = TuningPlan(tune=Targets(("class:1", "random:10"), (100, 101)), report=Targets(("class:3",), (0,)))
    monkeypatch.setitem(PLANS, "digits-mlp", small_plan)
    grid = {"ga": {"lr": [1e-5, 1e-3], "retain_weight": [0.0]}}
    table = run_tuning("digits-mlp", ["ga"], grid, out_dir=tmp_path / "tables", tuned_dir=tmp_path / "tuned")
    rows = [json.loads(line) for line in (tmp_path / "tables" / "digits-mlp.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * len(PLANS["digits-mlp"].tune.runs())
    chosen = json.loads((tmp_path / "tuned" / "digits-mlp.json").read_text())
    assert chosen["tuning_targets"]["forgets"] == ["class:1", "random:10"]
    assert chosen["report_targets"] == {"forgets": ["class:3"], "seeds": [0]}
    for kind in ("class", "random"):
        gaps, seconds = {}, {}
        for row in rows:
            if row["forget"].startswith(kind):
                gaps.setdefault(row["setting"]["lr"], []).append(row["objective"])
                seconds.setdefault(row["setting"]["lr"], []).append(row["seconds"])
        lowest = interval(gaps[min(gaps, key=lambda lr: np.mean(gaps[lr]))])
        within = [lr for lr in gaps if np.mean(gaps[lr]) <= lowest["ci95"][1]]
        best = min(within, key=lambda lr: np.mean(seconds[lr]))
        assert chosen["defaults"][kind]["ga"] == {"lr": best, "retain_weight": 0.0}
        method = get_method("ga").for_task("classification", {}, model="digits-mlp", forget_kind=kind)
        assert method.config.lr == best
    # 1e-5 barely moves a class; 1e-3 forgets it, so class targets must choose 1e-3.
    assert chosen["defaults"]["class"]["ga"] == {"lr": 1e-3, "retain_weight": 0.0}
    text = table.read_text()
    assert "**(chosen)**" in text and "**(lowest)**" in text and "95% interval" in text
    assert "tuning targets" in text and "held-out targets" in text
    # The user's own value still wins, and another model keeps its family default.
    assert get_method("ga").for_task("classification", {"lr": 0.02}, model="digits-mlp",
                                     forget_kind="class").config.lr == 0.02
    assert get_method("ga").for_task("classification", {}, model="other", forget_kind="class").config.lr == \
        get_method("ga").for_task("classification", {}).config.lr
    # A second call resumes: nothing is run again and the results are the same.
    run_tuning("digits-mlp", ["ga"], grid, out_dir=tmp_path / "tables", tuned_dir=tmp_path / "tuned")
    assert len((tmp_path / "tables" / "digits-mlp.jsonl").read_text().splitlines()) == len(rows)


def tuning_row(lr: float, seed: int, gap: float, seconds: float) -> dict:
    return {"method": "ga", "setting": {"lr": lr}, "forget": "class:1", "seed": seed, "objective": gap,
            "seconds": seconds, "unlearned": {"ua": 0.0}}


def test_choose_takes_the_cheapest_setting_the_tuning_runs_cannot_tell_from_the_best():
    """Issue 27: a five-times-slower setting whose gap is within the noise of a cheap one does not win; a cheap
    setting clearly worse than the best does not win either; one run per setting has no interval: the best wins."""
    runs = {("class:1", seed) for seed in (0, 1, 2, 3)}
    grid = [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]
    rows = ([tuning_row(0.1, s, g, 5.0) for s, g in enumerate((0.06, 0.10, 0.07, 0.09))]  # lowest, slow
            + [tuning_row(0.2, s, g, 1.0) for s, g in enumerate((0.08, 0.11, 0.09, 0.10))]  # within, cheap
            + [tuning_row(0.3, s, g, 0.5) for s, g in enumerate((0.50, 0.60, 0.55, 0.52))])  # cheapest, worse
    winner, summary = choose(rows, "ga", "class", grid, runs)
    assert winner["setting"] == {"lr": 0.2}
    assert summary[0]["setting"] == {"lr": 0.1} and summary[0]["best"] and summary[0]["ci95"][1] > 0.095
    one_run = [row for row in rows if row["seed"] == 0]
    winner, _ = choose(one_run, "ga", "class", grid, {("class:1", 0)})
    assert winner["setting"] == {"lr": 0.1}


def test_memorising_classifier_has_a_generalisation_gap():
    spec = get_model_spec("digits-mlp")
    assert spec.family == "classification" and spec.forget_kinds == ("class", "random")
    model = base_model("digits-mlp")
    split = DIGITS_MLP.split()
    assert len(split.x_train) == 718 and len(split.x_test) == 360  # half the training part, the same test part
    assert accuracy(model, split.x_train, split.y_train) == 100.0
    assert 93.0 <= accuracy(model, split.x_test, split.y_test) <= 97.0
    assert accuracy(base_model("digits-cnn"), *_cnn_test()) > accuracy(model, split.x_test, split.y_test)
    for k in range(10):  # shipped Retrain references for every class, each never trained on its class
        assert (DIGITS_MLP.retrain_dir(k) / "model.safetensors").exists()
    card = (DIGITS_MLP.folder / "README.md").read_text()
    assert "50%" in card and "no augmentation" in card and "test 96" in card


def _cnn_test():
    from unlearn_core.data import load_digits_split

    split = load_digits_split(16)
    return split.x_test, split.y_test


def test_sfr_on_loss_floor_decides_where_the_weight_goes():
    """At a fitted model many forget losses are exactly 0: with the official 1e-15 they take almost all the
    adaptive weight (and give no gradient); with our 1e-8 floor the others keep a share."""
    losses = torch.tensor([0.0, 0.0, 1e-6, 1e-5], requires_grad=True)
    gradients = {}
    for floor in (1e-8, 1e-15):
        losses.grad = None
        adaptive_forget_loss(losses, 0.5, floor).backward()
        gradients[floor] = losses.grad[2:].sum().item()  # only non-zero losses carry a forget gradient
    assert gradients[1e-8] > 30 * gradients[1e-15] > 0
    assert get_method("sfr_on").Config().loss_floor == 1e-8


def test_the_page_shows_the_defaults_tuned_for_the_model_and_kind_of_target():
    """The Lab's hyperparameter controls take the tuned defaults (what a run with no overrides would use),
    per model and kind of forget target; a family default is shown where nothing was tuned."""
    from lab_ui.catalogue import hyperparameter_defaults

    tuned = json.loads((registry.TUNED_DIR / "digits-mlp.json").read_text())["defaults"]
    for kind in ("class", "random"):
        shown = hyperparameter_defaults("digits-mlp", kind)
        for knob, value in tuned[kind]["salun"].items():
            assert shown[("salun", knob)] == value
            run_config = get_method("salun").for_task("classification", {}, model="digits-mlp", forget_kind=kind).config
            assert getattr(run_config, knob) == value
    assert hyperparameter_defaults("digits-mlp")[("salun", "lr")] == tuned["class"]["salun"]["lr"]  # class:3 first
    family_default = get_method("esd").for_task("class-diffusion", {}).config.eta
    assert hyperparameter_defaults("digits-ddpm")[("esd", "eta")] == family_default
