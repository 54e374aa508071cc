"""Issue 26, defects 8 and 9, as a person sees them in the browser: the Compare tab after a model change, a second
click while a comparison or sweep runs, an old error under new progress; the audit after a later Lab run, after a
shared link to a text-to-image model, and the relearning plot on a random forget set.

The tests run in order on one page (a run feeds the audit after it); they use the shipped class targets' Retrain
and the cheap methods, and cancel the sweep instead of waiting for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import shared_server  # noqa: E402
from browser_kit import (  # noqa: E402
    BROWSER_ONLY,
    RUN_TIMEOUT_S,
    SHOTS,
    WARMUP_TIMEOUT_S,
    choose,
    choose_model,
    click_tab,
    figure,
    input_value,
    plot_legend,
    run_and_wait,
    text_of,
)

pytestmark = BROWSER_ONLY


def checked_labels(page, elem_id: str) -> list[str]:
    """The labels of a CheckboxGroup's ticked boxes, as the page shows them."""
    return page.script("return Array.from(document.querySelectorAll('#' + arguments[0] + ' input:checked'))"
                       ".map(e => e.closest('label').innerText.trim());", elem_id)


def tick_only(page, elem_id: str, labels: list[str]) -> None:
    page.script("Array.from(document.querySelectorAll('#' + arguments[0] + ' input:checked'))"
                ".forEach(e => e.click());", elem_id)
    for element in page.find_all(f"#{elem_id} label"):
        if page.text(element).strip() in labels:
            page.click(element)
    page.wait(lambda: sorted(checked_labels(page, elem_id)) == sorted(labels), 10, f"{labels} ticked")


def set_text(page, elem_id: str, text: str) -> None:
    field = page.find(f"#{elem_id} input, #{elem_id} textarea")
    page.clear(field)
    page.type(field, text)
    page.script("document.querySelector(arguments[0]).blur();", f"#{elem_id} input, #{elem_id} textarea")


def audit_and_wait(page) -> str:
    page.script("document.querySelector('#audit-button').scrollIntoView();")
    before = text_of(page, "#audit-status")
    page.click(page.find("#audit-button"))
    return page.wait(lambda: (lambda t: t if "Audited" in t and t != before else None)(text_of(page, "#audit-status")),
                     RUN_TIMEOUT_S, "the audit", every=1.0)


def test_the_audit_is_marked_stale_after_a_later_lab_run(page):
    """Audit the example (SalUn on digits-cnn, class 3), then run SLUG: the audit panels still show SalUn's audit,
    and say so."""
    page.wait(lambda: "Example" in text_of(page, "#status"), WARMUP_TIMEOUT_S, "the start-up example", every=2.0)
    assert checked_labels(page, "audit-attacks") == ["Per-example membership inference (U-LiRA) (classifiers)"]
    tick_only(page, "audit-attacks", ["Relearning attack (every model)"])
    audit_and_wait(page)
    assert "stale" not in page.script("return document.querySelector('#audit-status').innerHTML;")
    choose(page, "method", "SLUG")
    run_and_wait(page, "slug")
    stale = page.wait(lambda: (lambda t: t if "earlier run" in t else None)(text_of(page, "#audit-status")), 20,
                      "the audit's stale mark")
    assert "salun on digits-cnn, forget class:3, seed 0" in stale and "slug on digits-cnn" in stale
    assert "Audit this run" in stale
    page.full_page_screenshot(SHOTS / "26-audit-stale.png")


def test_relearning_on_a_random_forget_set_plots_the_loss_and_says_why(page):
    """On a random forget set every model still classifies it right, so forget accuracy would show every curve
    "recovered at step 0"; the plot shows the loss on the forget samples the attacker does not hold instead,
    says so, and Retrain's curve starts above the recovery line (not "recovered at step 0")."""
    choose(page, "model", "digits-mlp (classification)")
    page.wait(lambda: "memorises" in text_of(page, "#model-info"), 30, "the model description")
    choose(page, "method", "SalUn")
    page.click(page.find('#forget-kind input[value="random"]'))
    page.wait(lambda: input_value(page, "forget-target") == "random:10", 10, "the forget target")
    run_and_wait(page, "salun", timeout=2 * RUN_TIMEOUT_S)
    tick_only(page, "audit-attacks", ["Relearning attack (every model)"])
    audit_and_wait(page)
    page.wait(lambda: any("remembered level" in t for t in plot_legend(page, "audit-relearn")), 30, "the curves")
    drawn = figure(page, "audit-relearn")
    title = page.script("return document.querySelector('#audit-relearn .gtitle').textContent;")
    assert "loss on the random forget set" in title and "does not hold" in title, title
    assert drawn["axes"]["yaxis"]["title"].startswith("forget-set loss"), drawn["axes"]["yaxis"]
    legend = plot_legend(page, "audit-relearn")
    assert len(set(legend)) == len(legend) == 3, legend
    assert "original (doing nothing): the remembered level" in legend
    assert not any("recovers at step 0" in name for name in legend if not name.startswith("original")), legend
    low, high = drawn["axes"]["yaxis"]["range"]
    curves = {trace["name"].split(":")[0]: trace["y"] for trace in drawn["data"] if trace["y"]}
    assert all(low <= y <= high for ys in curves.values() for y in ys)
    assert curves["Retrain"][0] > 2 * curves["original (doing nothing)"][0], curves  # never seen vs remembered
    assert high < 10 * max(max(ys) for ys in curves.values())  # the data fill the plot (no 0-105 % scale)
    summary = text_of(page, "#audit-summary")
    assert "measured by its loss" in summary and "accuracy cannot tell" in summary
    page.script("document.querySelector('#audit-relearn').scrollIntoView();")
    page.full_page_screenshot(SHOTS / "26-relearn-random.png")


def test_a_new_compare_model_keeps_the_chosen_methods_and_marks_the_results_stale(page):
    click_tab(page, "Compare")
    tick_only(page, "compare-methods", ["GA", "SLUG"])
    page.click(page.find("#compare-button"))
    page.wait(lambda: "Compared" in text_of(page, "#compare-status"), RUN_TIMEOUT_S, "the comparison", every=1.0)
    assert choose_model(page, "compare-model", "digits-mlp")
    page.wait(lambda: "digits-cnn" in text_of(page, "#compare-status .lab-stale"), 20, "the stale mark")
    assert sorted(checked_labels(page, "compare-methods")) == ["GA", "SLUG"]
    stale = text_of(page, "#compare-status")
    assert "The table and chart below are for digits-cnn" in stale and "not digits-mlp" in stale
    assert "press Compare" in stale
    assert input_value(page, "compare-forget") == "class:3"
    page.full_page_screenshot(SHOTS / "26-compare-stale.png")


def button_state(page, elem_id: str) -> tuple[str, bool]:
    return tuple(page.script("const b = document.querySelector('#' + arguments[0]);"
                             "return [b.innerText.trim(), b.disabled];", elem_id))


def watch_button(page, elem_id: str) -> None:
    """Record every (label, disabled) the button passes through (a comparison answered from the cache ends
    before a poll could see the button busy)."""
    page.script("const b = document.querySelector('#' + arguments[0]); window.buttonStates = [];"
                "new MutationObserver(() => window.buttonStates.push([b.innerText.trim(), b.disabled]))"
                ".observe(b, {attributes: true, childList: true, characterData: true, subtree: true});", elem_id)


def button_states(page) -> list[list]:
    return page.script("return window.buttonStates || [];")


def test_a_running_comparison_disables_its_button_and_clears_an_old_error(page):
    """A second Compare press while one ran was dropped in silence, and the new progress was drawn over the old
    red error: the button now says the comparison runs and cannot be pressed, and the error is gone."""
    set_text(page, "compare-forget", "class:99")
    page.click(page.find("#compare-button"))
    page.wait(lambda: text_of(page, "#compare-status .lab-error"), 60, "the red error")
    set_text(page, "compare-forget", "class:3")
    watch_button(page, "compare-button")
    page.click(page.find("#compare-button"))
    page.wait(lambda: ["Comparing… (Cancel stops it)", True] in button_states(page), 10,
              "the Compare button to say it runs")
    assert not text_of(page, "#compare-status .lab-error"), "the old error is still under the new progress"
    page.full_page_screenshot(SHOTS / "26-compare-busy.png")
    page.wait(lambda: "Compared" in text_of(page, "#compare-status"), RUN_TIMEOUT_S, "the comparison", every=1.0)
    assert "digits-mlp" in text_of(page, "#compare-status")
    assert page.wait(lambda: (lambda s: s if not s[1] else None)(button_state(page, "compare-button")), 10,
                     "the Compare button to be pressable again")[0] == "Compare"


def test_a_running_sweep_disables_its_button_until_cancelled(page):
    page.script("document.querySelector('#sweep-button').scrollIntoView();")
    watch_button(page, "sweep-button")
    page.click(page.find("#sweep-button"))
    page.wait(lambda: ["Sweeping… (Cancel stops it)", True] in button_states(page), 10,
              "the Run sweep button to say it runs")
    page.full_page_screenshot(SHOTS / "26-sweep-busy.png")
    page.click(page.find("#sweep-cancel-button"))
    # Cancel stops the sweep, or (pressed before the sweep left the queue) withdraws it: either way the button
    # comes back; a sweep the cancel missed ends by itself.
    assert page.wait(lambda: (lambda s: s if not s[1] else None)(button_state(page, "sweep-button")), RUN_TIMEOUT_S,
                     "the Run sweep button to be pressable again")[0] == "Run sweep"


def test_a_link_to_a_text_to_image_model_unticks_u_lira(page):
    """U-LiRA is for classifiers: after a shared link to shapes-t2i it is not ticked (the relearning attack is)."""
    page.get(shared_server().url + "?model=shapes-t2i&forget=concept:triangle&method=esd&seed=0")
    page.wait(lambda: (input_value(page, "model") or "").startswith("shapes-t2i"), 120, "the linked model")
    ticked = page.wait(lambda: (lambda t: t if t and not any("U-LiRA" in x for x in t) else None)(
        checked_labels(page, "audit-attacks")), 20, "the audit's attacks to follow the model")
    assert ticked == ["Relearning attack (every model)"], ticked
    page.script("document.querySelector('#audit-attacks').scrollIntoView();")
    page.full_page_screenshot(SHOTS / "26-link-audit-attacks.png")
