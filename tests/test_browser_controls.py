"""The Lab's controls in a real browser, as a new user meets them (issue 26, browser defects 1-3): a knob that
is not a number is named in the status line instead of Run doing nothing; the Retrain checkbox says before any
run whether this model and target have a Retrain; a new method, target or example marks the results shown as
not theirs, an example shows its cached result, and the pickers follow the target box. The logic behind them
without a browser: test_controls.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_kit import (  # noqa: E402
    BROWSER_ONLY,
    SHOTS,
    WARMUP_TIMEOUT_S,
    choose,
    choose_model,
    input_value,
    text_of,
)
from webdriver import ELEMENT  # noqa: E402

pytestmark = BROWSER_ONLY


def new_error(page, before: str) -> str:
    """The red message a Run puts in the status line, once it is not the one there ``before``."""
    return page.wait(lambda: (lambda t: t if t and t != before else None)(text_of(page, "#status .lab-error")), 60,
                     "a new error message in the status line")


SELECT_ALL_AND_DELETE = "\ue009a\ue000\ue003"  # WebDriver keys: Ctrl+A, release, Backspace


def type_into(page, elem_id: str, text: str) -> None:
    """Type ``text`` into a field as a person does: select what is there, delete it with a key (so the page
    hears an empty field too, which a scripted clear does not tell it), type, and leave the field."""
    field = page.wait(lambda: page.find_all(f"#{elem_id} input:not([type=range]), #{elem_id} textarea"), 30,
                      f"the field #{elem_id}")[0]
    page.script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", {ELEMENT: field})
    page.type(field, SELECT_ALL_AND_DELETE + text)
    page.script("arguments[0].blur();", {ELEMENT: field})


def type_target(page, text: str) -> None:
    type_into(page, "forget-target", text)


def status_with(page, *words: str, timeout: float = 30) -> str:
    return page.wait(lambda: (lambda t: t if all(w in t for w in words) else None)(text_of(page, "#status")),
                     timeout, f"the status line to say {words}")


def retrain_text(page) -> str:
    return text_of(page, "#with-retrain")


def test_a_knob_that_is_not_a_number_is_named_in_the_status_line(page):
    """Run used to do nothing for "abc", send lr 1 for "0,01" (the browser's number field kept what it could)
    and the default for an empty field; each is now named in red, with the valid form."""
    page.wait(lambda: "Example" in text_of(page, "#status"), WARMUP_TIMEOUT_S, "the start-up example", every=2.0)
    choose(page, "method", "SalUn")
    default = input_value(page, "hp-salun-lr")
    message = ""
    for typed, expected in (("abc", "got 'abc'"), ("0,01", "got '0,01'"), ("", "'lr' is empty")):
        type_into(page, "hp-salun-lr", typed)
        assert input_value(page, "hp-salun-lr") == typed  # what was typed is what the field shows
        page.click(page.find("#run-button"))
        message = new_error(page, message)
        assert "lr" in message and expected in message, message
        assert "plain decimal text such as 3, 0.01 or 1e-3" in message or "must be a number in" in message
        page.full_page_screenshot(SHOTS / f"c1-knob-{typed or 'empty'}.png")
    type_into(page, "hp-salun-lr", default)
    type_into(page, "seed", "")
    page.click(page.find("#run-button"))
    message = new_error(page, message)
    assert "seed is empty or not a number" in message and "0..4294967295" in message
    type_into(page, "seed", "0")


def test_the_retrain_checkbox_says_whether_this_target_has_a_retrain(page):
    """digits-ddpm ships a Retrain for class 3 only: the checkbox said "shipped for every class" and the class-5
    result then said "No Retrain reference". Now it says so before any run, and follows the target."""
    if not choose_model(page, "model", "digits-ddpm"):
        pytest.skip("digits-ddpm is not shipped in this checkout")
    page.wait(lambda: "shipped for class 3" in retrain_text(page), 30, "the Retrain checkbox for class 3")
    assert "every class" not in retrain_text(page)
    type_target(page, "class:5")
    label = page.wait(lambda: (lambda t: t if "class 5" in t else None)(retrain_text(page)), 30,
                      "the Retrain checkbox for class 5")
    assert "none available for class 5" in label and "shipped for: class 3" in label, label
    assert "no gap to Retrain" in label
    assert page.script("return document.querySelector('#with-retrain label').scrollWidth <= "
                       "document.querySelector('#with-retrain').clientWidth + 1;"), "the label is cut off"
    page.full_page_screenshot(SHOTS / "c2-retrain-ddpm-class5.png")
    assert choose_model(page, "model", "digits-cnn")
    page.wait(lambda: "shipped for class 3" in retrain_text(page), 30, "the Retrain checkbox back on digits-cnn")
    page.click(page.find('#forget-kind input[value="random"]'))
    page.wait(lambda: "trained in the run" in retrain_text(page), 30, "the Retrain checkbox for a random share")
    page.click(page.find('#forget-kind input[value="class"]'))
    page.wait(lambda: input_value(page, "forget-target") == "class:3", 10, "the class target back")


def test_the_pickers_follow_a_target_typed_in_the_box(page):
    type_target(page, "class:7")
    page.wait(lambda: input_value(page, "forget-class") == "7", 30, "the class picker to show 7")
    type_target(page, "random:25")
    page.wait(lambda: page.script("return !!document.querySelector('#forget-kind input[value=\"random\"]:checked');"),
              30, "the kind to switch to random")
    page.wait(lambda: page.find_all("#forget-share input[type=number]"), 10, "the share slider")
    page.wait(lambda: input_value(page, "forget-share") == "25", 30, "the share slider to show 25")
    assert not page.script("const e = document.querySelector('#forget-class'); return !!e && e.offsetParent !== null;")
    assert input_value(page, "forget-target") == "random:25"  # the box keeps what was typed
    page.full_page_screenshot(SHOTS / "c3-pickers-follow-box.png")
    page.click(page.find('#forget-kind input[value="class"]'))
    page.wait(lambda: input_value(page, "forget-target") == "class:7", 10, "the class picker's target in the box")
    choose(page, "forget-class", "3")
    page.wait(lambda: input_value(page, "forget-target") == "class:3", 10, "the picked class in the box")


def test_a_new_method_or_target_marks_the_results_as_not_theirs(page):
    """The start-up example (SalUn, class 3) is shown: picking SLUG or class 5 says the results are SalUn's on
    class 3 and asks for Run; going back to SalUn on class 3 says the results are those of the controls."""
    page.wait(lambda: "salun on digits-cnn, forget class:3" in text_of(page, "#summary"), WARMUP_TIMEOUT_S,
              "the start-up example's results", every=2.0)
    choose(page, "method", "SLUG")
    status = status_with(page, "results below are for salun on digits-cnn", "method slug")
    assert "press Run" in status
    page.full_page_screenshot(SHOTS / "c4-stale-method.png")
    choose(page, "method", "SalUn")
    status_with(page, "The results below are those of salun on digits-cnn")
    choose(page, "forget-class", "5")
    status = status_with(page, "results below are for salun on digits-cnn", "not forget class:5", "press Run")
    type_target(page, "class:3")
    status_with(page, "The results below are those of salun on digits-cnn")
    type_target(page, "random:20")
    status_with(page, "results below are for salun on digits-cnn", "not forget random:20")
    page.full_page_screenshot(SHOTS / "c5-stale-target.png")
    type_target(page, "class:3")


def test_an_example_shows_its_cached_result_or_says_it_is_not_computed(page):
    """Clicking an example filled the controls and left the old results unmarked: the computed example (the
    first, SalUn on class 3) now shows from the cache; one not computed (SLUG) marks the results as earlier."""
    page.script("document.querySelector('[data-testid=\"dataset-cell-1-0\"]').scrollIntoView();")
    page.click(page.find('[data-testid="dataset-cell-1-0"]'))  # SLUG on digits-cnn, class 3
    status = status_with(page, "(example)", "slug on digits-cnn")
    # not computed yet, unless another test module of this app run computed it with these very settings
    assert "From the cache" in status or ("Loaded" in status and "Press Run" in status
                                          and "from an earlier request" in status), status
    page.wait(lambda: page.script("return document.querySelector('#method input').value;") == "SLUG", 10,
              "the example's method")
    page.full_page_screenshot(SHOTS / "c6-example-not-computed.png")
    page.click(page.find('[data-testid="dataset-cell-0-0"]'))  # SalUn on digits-cnn, class 3: the warm-up's
    status = status_with(page, "From the cache", "(example)", "salun on digits-cnn", "class:3")
    assert "UA: unlearning accuracy" in text_of(page, "#metrics-table")
    assert page.script("return document.querySelector('#method input').value;") == "SalUn"
    assert input_value(page, "forget-target") == "class:3" and input_value(page, "forget-class") == "3"
    page.full_page_screenshot(SHOTS / "c7-example-cached.png")
