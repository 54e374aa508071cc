"""Bad input gets one clear message naming the valid values."""
import dataclasses

import pytest
import torch

from unlearn_core.data import ForgetRequest, forget_indices
from unlearn_core.errors import UnlearningInputError
from unlearn_core.hparams import build_config, hparam, parse_assignments
from unlearn_core.methods import get_method
from unlearn_core.runner import run_unlearning
from unlearn_core.zoo import get_model_spec


@pytest.mark.parametrize("text, fragment", [
    ("class:12", "0..9"), ("class:x", "integer"), ("random:0", "(0, 100)"), ("random:100", "(0, 100)"),
    ("random:-5", "(0, 100)"), ("banana:3", "class, random, concept"), ("3", "class:K"),
])
def test_forget_request_errors_name_valid_values(text, fragment):
    with pytest.raises(UnlearningInputError, match=None) as info:
        ForgetRequest.parse(text, num_classes=10)
    assert fragment in str(info.value)


def test_forget_request_round_trip():
    assert str(ForgetRequest.parse("class:3", 10)) == "class:3"
    assert str(ForgetRequest.parse(" random : 10 ", 10)) == "random:10"


def test_random_forget_that_empties_a_class_is_refused():
    labels = torch.tensor([0] * 50 + [1] * 2)
    with pytest.raises(UnlearningInputError, match="class 1"):
        # 99% of 52 samples leaves one sample, so at least one class loses all of its samples
        forget_indices(ForgetRequest("random", 99.0), labels, seed=0, num_classes=2)


def test_random_forget_takes_the_share_with_the_seed():
    labels = torch.arange(1000) % 10
    a = forget_indices(ForgetRequest("random", 10.0), labels, seed=1, num_classes=10)
    b = forget_indices(ForgetRequest("random", 10.0), labels, seed=1, num_classes=10)
    c = forget_indices(ForgetRequest("random", 10.0), labels, seed=2, num_classes=10)
    assert a.sum() == 100 and torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_method_lists_valid_methods():
    with pytest.raises(UnlearningInputError) as info:
        get_method("forgetit")
    assert "salun" in str(info.value) and "sfr_on" in str(info.value) and "slug" in str(info.value)


def test_method_names_accept_dashes():
    assert get_method("SFR-on").name == "sfr_on" and get_method("salun-soft").name == "salun_soft"


def test_unknown_model_lists_models():
    with pytest.raises(UnlearningInputError, match="digits-cnn"):
        get_model_spec("resnet-9000")


@dataclasses.dataclass
class _Knobs:
    lr: float = hparam(0.1, "learning rate", low=0.0, high=1.0, low_inclusive=False)
    steps: int = hparam(5, "steps", low=1, high=10)
    scope: str = hparam("global", "scope", choices=("global", "layer"))
    flag: bool = hparam(False, "a switch")


@pytest.mark.parametrize("overrides, fragment", [
    ({"lr": "fast"}, "number in (0.0, 1.0]"), ({"lr": 0}, "(0.0, 1.0]"), ({"lr": float("nan")}, "finite"),
    ({"steps": 2.5}, "integer in [1, 10]"), ({"steps": 11}, "[1, 10]"), ({"scope": "row"}, "'global', 'layer'"),
    ({"flag": "maybe"}, "boolean"), ({"nope": 1}, "valid: lr, steps, scope, flag"),
])
def test_hyperparameter_errors_name_valid_values(overrides, fragment):
    with pytest.raises(UnlearningInputError) as info:
        build_config(_Knobs, overrides)
    assert fragment in str(info.value)


def test_hyperparameters_parse_from_strings():
    config = build_config(_Knobs, parse_assignments(["lr=0.5", "steps=3", "scope=layer", "flag=true"]))
    assert (config.lr, config.steps, config.scope, config.flag) == (0.5, 3, "layer", True)


def test_run_rejects_bad_input_before_any_work():
    for kwargs, fragment in [
        (dict(forget="class:10", method="salun"), "0..9"),
        (dict(forget="class:3", method="nope"), "valid:"),
        (dict(forget="class:3", method="salun", overrides={"ratio": 2}), "ratio"),
        (dict(forget="class:3", method="salun", seed=-1), "seed"),
        (dict(forget="concept:cat", method="salun"), "class, random"),
    ]:
        with pytest.raises(UnlearningInputError) as info:
            run_unlearning("digits-cnn", **kwargs, with_retrain=False)
        assert fragment in str(info.value)


# ---- issue 26: numbers written in other scripts, underscores or words are refused, not converted ------------

@pytest.mark.parametrize("overrides, fragment", [
    ({"steps": "٣"}, "'steps' must be an integer in [1, 10], given as a JSON number or plain digits such as 64; "
                     "got '٣'"),
    ({"steps": "1_0"}, "got '1_0'"), ({"steps": "６４"}, "got '６４'"),
    ({"lr": " 0x10"}, "'lr' must be a number in (0.0, 1.0], given as a JSON number or plain decimal text such as 3, "
                      "0.01 or 1e-3; got ' 0x10'"),
    ({"lr": "inf"}, "got 'inf'"), ({"lr": "nan"}, "got 'nan'"), ({"lr": "٠.٥"}, "plain decimal text"),
])
def test_hyperparameter_text_is_plain_ascii_decimals(overrides, fragment):
    with pytest.raises(UnlearningInputError) as info:
        build_config(_Knobs, overrides)
    assert fragment in str(info.value)


def test_hyperparameter_decimal_forms_still_parse():
    config = build_config(_Knobs, parse_assignments(["lr=1e-3", "steps=7"]))
    assert (config.lr, config.steps) == (0.001, 7)
    assert build_config(_Knobs, {"lr": "0.01", "steps": 3.0}).steps == 3


@pytest.mark.parametrize("shares", ["1_0", "６４", "٣", "0x10", "nan", "inf"])
def test_sweep_shares_are_plain_ascii_decimals(shares):
    from unlearn_core.sweep import validate_sweep
    with pytest.raises(UnlearningInputError) as info:
        validate_sweep("digits-cnn", shares, ["ga"], [0])
    assert f"{shares!r} is not a number written in plain digits" in str(info.value)


@pytest.mark.parametrize("method, fragment", [
    ("ga", "hyperparameter 'epochs' = 1e-300 covers less than one of the 146 samples of the forget set, so the "
           "method would not train; the smallest value that does one optimizer step is 0.00685"),
    ("rl", "of the 1437 samples of the forget and retain sets"), ("ft", "of the 1291 samples of the retain set"),
])
def test_epochs_below_one_sample_are_refused(method, fragment):
    with pytest.raises(UnlearningInputError) as info:
        run_unlearning("digits-cnn", "class:3", method, 0, {"epochs": 1e-300}, with_retrain=False)
    assert fragment in str(info.value)


def test_smallest_epochs_covers_one_sample():
    from unlearn_core.methods.base import smallest_covering
    for samples in (3, 7, 146, 1291, 99991):
        assert smallest_covering(samples) * samples >= 1


# ---- issue 26: unclear messages --------------------------------------------------------------------------------

def test_a_method_without_hyperparameters_says_so():
    with pytest.raises(UnlearningInputError) as info:
        run_unlearning("digits-cnn", "class:3", "retrain", 0, {"epochs": 1}, with_retrain=False)
    assert str(info.value) == "Retrain (method 'retrain') has no hyperparameters; got 'epochs'"


def test_an_unknown_hyperparameter_names_the_method():
    with pytest.raises(UnlearningInputError) as info:
        run_unlearning("digits-cnn", "class:3", "salun", 0, {"nope": 1}, with_retrain=False)
    assert str(info.value).startswith("unknown hyperparameter 'nope' for SalUn (method 'salun'); valid: epochs, lr")


@pytest.mark.parametrize("forget, shown_as", [(["class:3"], "a list: ['class:3']"),
                                              ({"kind": "class"}, "a dict: {'kind': 'class'}"), (3, "3")])
def test_a_forget_target_that_is_not_text(forget, shown_as):
    expected = f"forget target must be text like class:K, random:P or concept:WORDS (e.g. 'class:3'); got {shown_as}"
    with pytest.raises(UnlearningInputError) as info:
        run_unlearning("digits-cnn", forget, "salun", 0, with_retrain=False)
    assert str(info.value) == expected
    from lab_ui.compute import normalise_request  # the app's path (it once called str() on the value first)
    with pytest.raises(UnlearningInputError) as info:
        normalise_request("digits-cnn", forget, "salun", {}, 0)
    assert str(info.value) == expected


def test_an_audit_refuses_a_repeated_attack():
    from unlearn_core.audit.suite import validate_audit
    with pytest.raises(UnlearningInputError) as info:
        validate_audit("digits-cnn", ["relearn", "ulira", "relearn"])
    assert str(info.value) == "each attack can be run once; listed more than once: 'relearn'"


def test_compare_refuses_retrain():
    import gradio as gr
    from lab_ui import handlers
    with pytest.raises(gr.Error) as info:  # no request: an API client's view, the error is raised
        handlers.compare("digits-cnn", "class:3", ["salun", "retrain"], 0)
    assert info.value.message.startswith("Retrain is not one of the methods compared: it is the reference each "
                                         "method's gap is measured to, and is trained for every comparison; "
                                         "choose among: ft, ga,")
    assert "retrain" not in info.value.message.split("choose among:")[1]
