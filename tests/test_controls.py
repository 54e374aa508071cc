"""The Lab's controls without a browser (issue 26): numbers typed as text reach the run as typed and a bad one
is named; the Retrain checkbox's words follow the model and the forget target; the pickers follow a target
typed in the box; results that are not those of the controls are marked. The page itself: test_browser_controls.py."""
from __future__ import annotations

import gradio as gr
import pytest

from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import form_value, get_method
from unlearn_core.runner import check_seed, repeat_seeds
from unlearn_core.zoo import available_models, get_model_spec

from lab_ui.catalogue import retrain_note
from lab_ui.configs import method_overrides, picker_values, stale_status
from lab_ui.tabs import hyperparameter_control

SHOWN = {"report": {"model": "digits-cnn", "forget": "class:3", "method": "salun", "seed": 0}}


@pytest.mark.parametrize("text, kind, value", [
    ("0.01", "number", 0.01), ("1e-3", "number", 0.001), ("-1", "number", -1), (" 5 ", "number", 5),
    ("64", "integer", 64),
    # not a number of that kind: passed on as typed, for the run to name
    ("0,01", "number", "0,01"), ("abc", "number", "abc"), ("", "number", ""), ("inf", "number", "inf"),
    ("2.5", "integer", "2.5"), ("", "integer", ""),
    ("3", "", "3"),  # a text knob stays text, even when it looks like a number
])
def test_a_typed_knob_becomes_its_number_or_stays_as_typed(text, kind, value):
    assert form_value(text, kind) == value and type(form_value(text, kind)) is type(value)


def test_the_run_names_an_empty_or_mangled_knob():
    with pytest.raises(UnlearningInputError, match=r"hyperparameter 'lr' is empty: it must be a number in .*default"):
        get_method("salun").for_task("classification", {"lr": ""})
    with pytest.raises(UnlearningInputError, match=r"'lr' must be a number .* such as 3, 0\.01 or 1e-3; got '0,01'"):
        get_method("salun").for_task("classification", {"lr": "0,01"})
    with pytest.raises(UnlearningInputError, match=r"seed is empty or not a number: it must be an integer in 0\.\."):
        check_seed("")
    with pytest.raises(UnlearningInputError, match=r"repeat .* is empty or not a number"):
        repeat_seeds(0, " ")


def test_number_knobs_are_text_boxes_whose_text_reaches_the_run():
    """A browser's number field sends its last good value for "abc" or nothing: the knobs are text boxes, and
    what the Run collects is the number typed, or the text itself when it is none."""
    fields = {f["name"]: f for f in get_method("salun").describe("classification")["hyperparameters"]}
    pool = [("salun", name, hyperparameter_control("salun", fields[name])) for name in ("lr", "batch_size")]
    assert all(isinstance(control, gr.Textbox) for _, _, control in pool)
    assert method_overrides(pool, "salun", ["0.02", "32"]) == {"lr": 0.02, "batch_size": 32}
    assert method_overrides(pool, "salun", ["0,01", ""]) == {"lr": "0,01", "batch_size": ""}
    assert method_overrides(pool, "slug", ["0.02", "32"]) == {}


@pytest.mark.parametrize("model, forget, source", [
    ("digits-cnn", "class:5", "shipped"), ("digits-cnn", "random:10", "trained"),
    ("digits-ddpm", "class:3", "shipped"), ("digits-ddpm", "class:5", "none"),
    ("digits-gan", "class:5", "none"), ("shapes-gan", "concept:triangle", "shipped"),
    ("shapes-t2i", "concept:triangle", "none"),
])
def test_the_zoo_says_where_a_targets_retrain_comes_from(model, forget, source):
    if model not in available_models():
        pytest.skip(f"{model} is not shipped in this checkout")
    assert get_model_spec(model).retrain_source(forget) == source


def test_the_retrain_checkbox_says_what_applies_to_this_target():
    if "digits-ddpm" not in available_models():
        pytest.skip("digits-ddpm is not shipped in this checkout")
    label, _ = retrain_note("digits-ddpm", "class:3")
    assert label == "Compare with Retrain (shipped for class 3)"
    label, info = retrain_note("digits-ddpm", "class:5")
    assert "none available for class 5" in label and "shipped for: class 3" in info and "no gap" in info
    label, _ = retrain_note("digits-cnn", "random:10")
    assert "trained in the run, about 106 s" in label
    assert "every class" not in label
    assert retrain_note("digits-cnn", "class:")[0] == "Compare with Retrain"  # half typed: no claim


def test_the_pickers_follow_a_typed_target():
    kind, klass, share, concept = picker_values("class:5")
    assert kind == {"value": "class"} and klass == {"value": "5", "visible": True}
    assert share == {"visible": False} and concept == {"visible": False}  # they keep their values
    kind, klass, share, concept = picker_values("random:25")
    assert kind == {"value": "random"} and share == {"value": 25.0, "visible": True} and klass == {"visible": False}
    # a share the slider cannot show leaves the slider where it is (the box keeps the target)
    assert picker_values("random:12.5")[2] == {"visible": True}
    assert picker_values("random:60")[2] == {"visible": True}
    assert picker_values("concept:red circle")[3] == {"value": "red circle", "visible": True}


@pytest.mark.parametrize("model, forget, method, differs", [
    ("digits-cnn", "class:3", "slug", "method slug"),
    ("digits-cnn", "class:5", "salun", "forget <code>class:5</code>"),
    ("digits-cnn", "class:", "salun", "forget <code>class:</code>"),
    ("digits-mlp", "class:3", "salun", "not digits-mlp"),
])
def test_results_that_are_not_the_controls_are_marked(model, forget, method, differs):
    status = stale_status(SHOWN, model, forget, method, "Done")
    assert "The results below are for salun on digits-cnn" in status and differs in status and "press" in status


def test_the_mark_goes_when_the_controls_match_again_and_quotes_nothing_raw():
    stale = stale_status(SHOWN, "digits-cnn", "class:5", "salun", "Done")
    again = stale_status(SHOWN, "digits-cnn", " class:3", "SalUn", stale)
    assert "results below are for" not in again and "those of salun on digits-cnn" in again
    assert isinstance(stale_status(SHOWN, "digits-cnn", "class:3", "salun", "Done"), dict)  # gr.skip(): as it is
    assert isinstance(stale_status(None, "digits-cnn", "class:5", "salun", "Done"), dict)  # nothing shown yet
    assert "<b>" not in stale_status(SHOWN, "digits-cnn", "concept:<b>x</b>", "salun", "")
