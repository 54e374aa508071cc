"""The audit step as a whole: the relearning attack, request validation, the CLI and the audit plots."""
from __future__ import annotations

import json

import pytest
import torch

from unlearn_core.plots import audit as audit_plots
from unlearn_core.audit.relearn import (LOSS_NAME, RelearnConfig, attack_batch, held_out_forget, relearn,
                                        steps_to_recover)
from unlearn_core.audit.suite import ATTACKS, attacks_for, run_audit, validate_audit
from unlearn_core.cli import main
from unlearn_core.errors import UnlearningInputError
from unlearn_core.runner import run_unlearning


@pytest.fixture(scope="module")
def salun_class3():
    return run_unlearning("digits-mlp", "class:3", "salun", 0)


def test_relearning_brings_salun_back_faster_than_retrain_learns(salun_class3):
    """SalUn erases class 3 (forget accuracy 0), yet a few steps on 8 of its images bring it back long before
    Retrain, which never saw the class, learns it; the original never lost it."""
    weights = {n: p.detach().clone() for n, p in salun_class3.model.named_parameters()}
    result = relearn(salun_class3, {"steps": 20})
    assert result["unlearned"]["curve"][0][1] < 5.0
    assert result["original"]["steps_to_recover"] == 0
    unlearned, retrain = result["unlearned"]["steps_to_recover"], result["retrain"]["steps_to_recover"]
    assert unlearned is not None and unlearned <= 12
    assert retrain is None or retrain > unlearned + 5
    assert result["threshold"] == pytest.approx(0.5 * result["original_score"])
    # the run's model is untouched by the attack
    assert all(torch.equal(p, weights[n]) for n, p in salun_class3.model.named_parameters())


@pytest.fixture(scope="module")
def salun_random10():
    return run_unlearning("digits-mlp", "random:10", "salun", 0)


def test_relearning_a_random_forget_set_measures_its_loss_not_its_accuracy(salun_random10):
    """Every model still classifies a random forget set right (forget accuracy near 100 from step 0, so every
    curve "recovered at step 0"); its loss tells the original, which learned these samples, from Retrain, which
    never saw them. Measured on the forget samples the attacker does not hold."""
    result = relearn(salun_random10, {"steps": 4})
    assert result["measure"] == "loss" and result["score_name"] == LOSS_NAME
    assert result["measured_on"] == len(salun_random10.task.x_forget) - 8
    original, retrain = result["original"]["curve"][0][1], result["retrain"]["curve"][0][1]
    assert original < retrain and result["unseen_loss"] == retrain
    assert original < result["threshold"] < retrain
    assert result["threshold"] == pytest.approx((original + retrain) / 2)
    assert result["original"]["steps_to_recover"] == 0
    assert result["retrain"]["steps_to_recover"] != 0  # the defect: 0 for every model
    assert [point[0] for point in result["unlearned"]["curve"]] == [0, 1, 2, 3, 4]


def test_the_held_out_forget_samples_are_those_the_attacker_does_not_hold(salun_random10):
    task, config = salun_random10.task, RelearnConfig(samples=8, retain_samples=0)
    attack_x, _ = attack_batch(task, config, 0)
    held_x, held_y = held_out_forget(task, config, 0)
    assert len(held_x) + len(attack_x) == len(task.x_forget)
    rows = {tuple(row.flatten().tolist()) for row in attack_x}
    assert not any(tuple(row.flatten().tolist()) in rows for row in held_x)
    everything = held_out_forget(task, RelearnConfig(samples=512), 0)
    assert len(everything[0]) == len(task.x_forget)


def test_steps_to_recover_on_a_loss_counts_the_fall():
    curve = [[0, 0.9], [1, 0.6], [2, 0.3]]
    assert steps_to_recover(curve, 0.5, lower_is_recovered=True) == 2
    assert steps_to_recover(curve, 0.1, lower_is_recovered=True) is None


def test_relearn_figure_on_a_random_forget_set_says_what_it_measures():
    curve = lambda *values: [[step, value] for step, value in enumerate(values)]  # noqa: E731
    result = {"measure": "loss", "score_name": LOSS_NAME, "threshold": 0.035, "original_score": 0.01,
              "unseen_loss": 0.06, "measured_on": 64, "samples": 8, "steps": 2, "recover_share": 50.0,
              "unlearned": {"curve": curve(0.061, 0.043, 0.041), "steps_to_recover": None},
              "original": {"curve": curve(0.01, 0.007, 0.01), "steps_to_recover": 0},
              "retrain": {"curve": curve(0.06, 0.043, 0.047), "steps_to_recover": None}}
    fig = audit_plots.relearn_figure(result)
    assert "loss on the random forget set" in fig.layout.title.text and "64" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == LOSS_NAME
    names = [trace.name for trace in fig.data]
    assert "original (doing nothing): the remembered level" in names and "unlearned: not within 2 steps" in names
    low, high = _axis_range(fig, "yaxis")
    assert low <= 0.007 and 0.061 <= high < 0.2  # the data fill the axis (not a 0-105 % scale)
    text = audit_plots.audit_summary_markdown({"relearn": result})
    assert "measured by its loss" in text and "accuracy cannot tell" in text and "never seen 0.06" in text


def test_steps_to_recover_reads_the_curve():
    curve = [[0, 0.0], [2, 20.0], [4, 60.0], [6, 90.0]]
    assert steps_to_recover(curve, 50.0) == 4
    assert steps_to_recover(curve, 95.0) is None


def test_attacks_apply_by_family():
    assert attacks_for("classification") == ["ulira", "relearn"]
    assert attacks_for("class-diffusion") == ["relearn", "inversion"]
    assert attacks_for("text-diffusion") == ["relearn", "inversion"]


@pytest.mark.parametrize("model, attacks, settings, message", [
    ("digits-ddpm", ["ulira"], None, "ulira applies to classification"),
    ("digits-mlp", ["inversion"], None, "inversion applies to class-diffusion, text-diffusion"),
    ("digits-mlp", ["lira"], None, "unknown attack 'lira'; valid: ulira, relearn, inversion"),
    ("digits-mlp", [], None, "choose at least one attack"),
    ("digits-mlp", ["relearn"], {"relearn": {"steps": 0}}, r"relearn: hyperparameter 'steps' must be an integer in \[1, 500\]; got 0"),
    ("digits-mlp", ["relearn"], {"relearn": {"step": 3}}, "valid: steps"),
    ("digits-mlp", ["ulira"], {"ulira": {"shadows": 1}}, r"ulira: .*shadows"),
    ("digits-mlp", ["relearn"], {"ulira": {"shadows": 16}}, "not being run"),
])
def test_bad_audit_requests_name_the_valid_values(model, attacks, settings, message):
    with pytest.raises(UnlearningInputError, match=message):
        validate_audit(model, attacks, settings)


def test_family_defaults_apply_and_overrides_win():
    assert validate_audit("digits-ddpm", ["relearn"])["relearn"].lr == 1e-4
    assert validate_audit("digits-mlp", ["relearn"])["relearn"].lr == 1e-3
    assert validate_audit("digits-mlp", ["relearn"], {"relearn": {"lr": "0.01"}})["relearn"].lr == 0.01
    knobs = {k["name"]: k["default"] for k in ATTACKS["relearn"].controls("class-diffusion")}
    assert knobs["lr"] == 1e-4 and knobs["steps"] == RelearnConfig().steps


def test_run_audit_reports_each_attack_with_its_config_and_time(salun_class3):
    audit = run_audit(salun_class3, ["relearn"], {"relearn": {"steps": 4}})
    assert set(audit) == {"relearn", "seconds"}
    assert audit["relearn"]["config"]["steps"] == 4 and len(audit["relearn"]["unlearned"]["curve"]) == 5
    assert audit["seconds"]["relearn"] > 0


def test_cli_audit_refuses_a_bad_attack_before_running(capsys):
    assert main(["audit", "--model", "digits-ddpm", "--forget", "class:3", "--method", "salun",
                 "--attack", "ulira"]) == 2
    assert "ulira applies to classification" in capsys.readouterr().err
    assert main(["audit", "--model", "digits-mlp", "--forget", "class:3", "--method", "salun",
                 "--attack", "relearn", "--audit-set", "relearn-steps=3"]) == 2
    assert "ATTACK.KNOB=VALUE" in capsys.readouterr().err


def test_cli_audit_writes_the_json(tmp_path):
    out = tmp_path / "audit.json"
    assert main(["audit", "--model", "digits-mlp", "--forget", "class:3", "--method", "salun", "--attack",
                 "relearn", "--audit-set", "relearn.steps=3", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["run"]["method"] == "salun"
    assert set(data["audit"]["relearn"]) >= {"unlearned", "original", "retrain", "threshold"}
    assert [point[0] for point in data["audit"]["relearn"]["unlearned"]["curve"]] == [0, 1, 2, 3]


def _axis_range(fig, axis):
    return list(fig.layout[axis].range)


def test_relearn_figure_shows_every_curve_inside_its_axes(salun_class3):
    result = relearn(salun_class3, {"steps": 6})
    fig = audit_plots.relearn_figure(result)
    names = [trace.name for trace in fig.data]
    assert len(names) == 3 and len(set(names)) == 3
    assert any(name.startswith("unlearned") for name in names) and any("Retrain" in name for name in names)
    low, high = _axis_range(fig, "yaxis")
    assert all(low <= y <= high for trace in fig.data for y in trace.y)
    low, high = _axis_range(fig, "xaxis")
    assert all(low <= x <= high for trace in fig.data for x in trace.x)
    assert fig.layout.yaxis.title.text and fig.layout.xaxis.title.text == "attack step"


def test_roc_and_inversion_figures_label_each_model():
    ulira = {"auc": 0.7, "tpr_at_1pct_fpr": 5.0, "tpr_at_5pct_fpr": 20.0, "members": 72, "non_members": 72,
             "shadows": 16, "original": {"auc": 0.8}, "retrain": {"auc": 0.5},
             "roc": {key: {"fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1]} for key in ("unlearned", "original", "retrain")}}
    fig = audit_plots.ulira_roc_figure(ulira)
    names = [trace.name for trace in fig.data]
    assert "unlearned: AUC 0.700" in names and "Retrain: AUC 0.500" in names and len(set(names)) == len(names)
    assert _axis_range(fig, "xaxis") == [0, 1]
    inversion = {"erasure": 5.0, "erasure_under_attack": 60.0, "score_name": "samples showing the concept",
                 "original": {"erasure": 100.0, "erasure_under_attack": 95.0}}
    fig = audit_plots.inversion_figure(inversion)
    assert list(fig.data[0].x) == ["unlearned", "original (doing nothing)"]
    assert max(max(trace.y) for trace in fig.data) <= _axis_range(fig, "yaxis")[1]
    text = audit_plots.audit_summary_markdown({"ulira": ulira, "inversion": inversion, "seconds": {"ulira": 3.0}})
    assert "AUC 0.700" in text and "60%" in text and "ulira 3 s" in text


def test_the_app_asks_for_a_run_before_an_audit():
    from lab_ui.compute import compute_audit

    with pytest.raises(UnlearningInputError, match="run a method first"):
        compute_audit(None, ["relearn"], {}, None, lambda f, m: None)


def test_cli_shadows_builds_and_resumes(tmp_path, capsys):
    out = tmp_path / "shadows"
    assert main(["shadows", "--model", "digits-mlp", "--count", "4", "--out", str(out)]) == 0
    assert len(list(out.glob("shadow-*.safetensors"))) == 4 and (out / "README.md").exists()
    first = json.loads(capsys.readouterr().out)
    assert first["build_s"] > 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("shadow-*.safetensors")}
    assert main(["shadows", "--model", "digits-mlp", "--count", "4", "--out", str(out)]) == 0
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("shadow-*.safetensors")}  # nothing retrained


def test_audit_benchmark_table_reads_against_original_and_retrain():
    from unlearn_core.audit_bench import render

    def row(method, seed, auc):
        ulira = {"auc": auc, "tpr_at_1pct_fpr": 2.0, "tpr_at_5pct_fpr": 8.0, "shadows": 16,
                 "original": {"auc": 0.6, "tpr_at_1pct_fpr": 5.0, "tpr_at_5pct_fpr": 14.0},
                 "retrain": {"auc": 0.5, "tpr_at_1pct_fpr": 1.0, "tpr_at_5pct_fpr": 5.0},
                 "mia_efficacy": {"unlearned": 8.0, "original": 1.0, "retrain": 9.0}, "shadow_build_s": 15.0}
        return {"method": method, "forget": "random:10", "seed": seed, "attacks": ["ulira"],
                "report": {"avg_gap": 1.0, "avg_gap_original": 3.0}, "audit": {"ulira": ulira, "seconds": {"ulira": 2.0}}}

    text = render("digits-mlp", "random:10", ["salun"], [0, 1], ["ulira"], [row("salun", 0, 0.54), row("salun", 1, 0.56)])
    lines = text.splitlines()
    assert ("| Original (doing nothing) | 0.600 ± 0.000 | 5.00 ± 0.00 | 14.00 ± 0.00 | 1.00 ± 0.00 | 3.00 ± 0.00 "
            "| — |") in lines
    assert "| Retrain (the floor) | 0.500 ± 0.000 | 1.00 ± 0.00 | 5.00 ± 0.00 | 9.00 ± 0.00 | — | — |" in lines
    assert "| SalUn | 0.550 ± 0.010 | 2.00 ± 0.00 | 8.00 ± 0.00 | 8.00 ± 0.00 | 1.00 ± 0.00 | 2.0 ± 0.0 |" in lines
    assert "built once per classifier in 15 s" in text


def test_audits_report_progress_often_enough_to_cancel_within_two_seconds(salun_class3):
    """The app's Cancel raises from the progress callback: the longest stretch without a call bounds how long
    a cancelled audit keeps running. Measured in CPU time per thread, not wall time: on a loaded machine the same
    stretch takes longer by the clock, which is not the audit's doing."""
    import time

    stamps = []
    run_audit(salun_class3, ["ulira", "relearn"], progress=lambda f, m: stamps.append(time.process_time()))
    gaps = [(b - a) / torch.get_num_threads() for a, b in zip(stamps, stamps[1:])]
    assert len(stamps) > 20 and max(gaps) < 2.0

    class Cancelled(Exception):
        pass

    calls = []

    def cancel_at_fifth(fraction, message):
        calls.append(message)
        if len(calls) == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        run_audit(salun_class3, ["ulira"], progress=cancel_at_fifth)
    assert len(calls) == 5


def test_cli_lists_attacks_with_the_family_defaults(capsys):
    assert main(["attacks", "--model", "digits-ddpm"]) == 0
    out = capsys.readouterr().out
    assert "ulira" in out and "(not for digits-ddpm)" in out.splitlines()[0]
    relearn_lines = out.split("relearn")[1].split("inversion")[0]
    assert "lr               = 0.0001" in relearn_lines
