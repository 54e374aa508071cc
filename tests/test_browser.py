"""The app in a real headless browser (Debian's chromium + chromedriver, driven over WebDriver).

Select a method, press Run, and see the metrics table, the saliency heatmap, the Pareto plot and (when the
diffusion model is shipped) the before/after images; bad input shows a readable message in the page.
Skips only when chromium or chromedriver is not installed (`apt-get install -y chromium chromium-driver`).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import free_port, shared_server  # noqa: E402
from webdriver import Browser, find_browser  # noqa: E402

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium or chromedriver is not installed "
                                "(apt-get install -y chromium chromium-driver)")
WARMUP_TIMEOUT_S = float(os.environ.get("APP_WARMUP_TIMEOUT_S", "900"))
RUN_TIMEOUT_S = float(os.environ.get("APP_RUN_TIMEOUT_S", "300"))
GENERATIVE_TIMEOUT_S = float(os.environ.get("APP_GENERATIVE_TIMEOUT_S", "1500"))  # diffusion sampling on a CPU
SHOTS = Path(os.environ.get("APP_SCREENSHOTS", Path(os.environ.get("TMPDIR", "/tmp")) / "unlearning-lab-shots"))


@pytest.fixture(scope="module")
def page():
    server = shared_server()
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser = Browser(*BROWSER, port=free_port(), log_path=SHOTS / "chromedriver.log")
    try:
        browser.get(server.url)
        browser.wait(lambda: browser.find_all("#run-button"), 120, "the page to render")
        yield browser
    finally:
        browser.quit()


def text_of(browser: Browser, css: str) -> str:
    return browser.script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)


def plot_legend(browser: Browser, elem_id: str) -> list[str]:
    return browser.script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' .legendtext')).map(e => e.textContent);",
        elem_id)


def has_plot(browser: Browser, elem_id: str) -> bool:
    return bool(browser.script("return !!document.querySelector('#' + arguments[0] + ' .js-plotly-plot .main-svg');",
                               elem_id))


def wait_plots(browser: Browser, *elem_ids: str, timeout: float = 60) -> None:
    for elem_id in elem_ids:
        browser.wait(lambda: has_plot(browser, elem_id), timeout, f"the plot #{elem_id}")


def choose(browser: Browser, elem_id: str, label: str) -> None:
    """Pick an option of a gradio Dropdown by its visible label."""
    browser.click(browser.find(f"#{elem_id} input"))
    option = browser.wait(lambda: browser.find_all(f'#{elem_id} li[role="option"][aria-label="{label}"]'), 10,
                          f"option {label} of #{elem_id}")[0]
    browser.click(option)
    browser.wait(lambda: browser.script("return document.querySelector(arguments[0]).value;", f"#{elem_id} input")
                 == label, 10, f"#{elem_id} to show {label}")


def set_number(browser: Browser, elem_id: str, value: str) -> None:
    field = browser.wait(lambda: browser.find_all(f"#{elem_id} input"), 30, f"the control #{elem_id}")[0]
    browser.clear(field)
    browser.type(field, value)
    browser.script("document.querySelector(arguments[0]).blur();", f"#{elem_id} input")


def run_and_wait(browser: Browser, method_name: str, timeout: float = RUN_TIMEOUT_S) -> str:
    before = text_of(browser, "#status")
    browser.click(browser.find("#run-button"))
    return browser.wait(lambda: (lambda t: t if t != before and "Done" in t and method_name in t else None)(
        text_of(browser, "#status")), timeout, f"the {method_name} run to finish", every=1.0)


def metrics_text(browser: Browser) -> str:
    return text_of(browser, "#metrics-table")


def test_first_visit_shows_the_cached_example(page):
    page.wait(lambda: "Example" in text_of(page, "#status"), WARMUP_TIMEOUT_S, "the start-up example", every=2.0)
    table = page.wait(lambda: (lambda t: t if "UA: unlearning accuracy" in t else None)(metrics_text(page)), 30,
                      "the metrics table")
    assert "Avg. Gap to Retrain" in table
    wait_plots(page, "saliency-heatmap", "saliency-bars", "slug-pareto", "attributions")
    page.full_page_screenshot(SHOTS / "01-example.png")


def test_slug_run_shows_pareto_and_search(page):
    choose(page, "method", "SLUG")
    page.wait(lambda: page.script("return document.querySelector('#hp-slug-search_steps').offsetParent !== null;"),
              10, "the SLUG hyperparameters to show")
    set_number(page, "hp-slug-search_steps", "3")
    status = run_and_wait(page, "slug")
    assert "class:3" in status
    page.wait(lambda: any(t.startswith("edited:") for t in plot_legend(page, "slug-pareto")), 30, "the chosen layer")
    assert "Pareto front" in plot_legend(page, "slug-pareto")
    assert any(t.endswith("forget score") for t in plot_legend(page, "slug-trace"))
    assert "UA: unlearning accuracy" in metrics_text(page)
    page.full_page_screenshot(SHOTS / "02-slug.png")


def test_salun_run_shows_metrics_and_heatmap(page):
    choose(page, "method", "SalUn")
    set_number(page, "hp-salun-epochs", "1")
    status = run_and_wait(page, "salun")
    assert "computed" in status or "cache" in status
    assert "Avg. Gap to Retrain" in metrics_text(page)
    wait_plots(page, "saliency-heatmap", "saliency-bars", "slug-pareto", "attributions")
    assert page.script("return document.querySelectorAll('#saliency-heatmap .hm, #saliency-heatmap image').length") > 0
    assert page.script("return document.querySelector('#layer input').value;") == "fc1.weight"
    page.full_page_screenshot(SHOTS / "03-salun.png")


def test_bad_input_shows_a_readable_message(page):
    choose(page, "method", "SalUn")
    set_number(page, "hp-salun-lr", "-1")
    page.click(page.find("#run-button"))
    message = page.wait(lambda: text_of(page, ".toast-body"), 30, "an error message")
    assert "lr" in message and "Traceback" not in message
    page.full_page_screenshot(SHOTS / "04-error.png")
    set_number(page, "hp-salun-lr", "0.013")


def test_learn_tab_explains_the_metrics(page):
    tab = next(t for t in page.find_all('button[role="tab"]') if page.text(t).strip() == "Learn")
    page.click(tab)
    page.wait(lambda: "gold standard" in page.script("return document.body.innerText;"), 10, "the Learn tab")
    body = page.script("return document.body.innerText;")
    assert "MIA" in body and "Pareto" in body and "SalUn" in body
    lab = next(t for t in page.find_all('button[role="tab"]') if page.text(t).strip() == "Lab")
    page.click(lab)


def input_value(browser: Browser, elem_id: str) -> str:
    return browser.script("const e = document.querySelector(arguments[0]); return e ? e.value : null;",
                          f"#{elem_id} input, #{elem_id} textarea")


def test_memorising_classifier_shows_tuned_defaults_and_doing_nothing(page):
    """digits-mlp: the page says why there are two classifiers, shows the defaults tuned for each kind of
    target, and a random-forgetting run reads its gap against doing nothing."""
    import json

    tuned = json.loads((Path(__file__).resolve().parent.parent / "unlearn_core" / "methods" / "tuned" /
                        "digits-mlp.json").read_text())["defaults"]
    choose(page, "model", "digits-mlp (classification)")
    page.wait(lambda: "memorises" in text_of(page, "#model-info"), 30, "the model description")
    assert "Why two digit classifiers" in text_of(page, "#model-info")
    choose(page, "method", "SalUn")
    page.wait(lambda: float(input_value(page, "hp-salun-lr")) == tuned["class"]["salun"]["lr"], 30,
              "the class-tuned SalUn learning rate")
    page.click(page.find('#forget-kind input[value="random"]'))
    page.wait(lambda: float(input_value(page, "hp-salun-lr")) == tuned["random"]["salun"]["lr"], 30,
              "the random-tuned SalUn learning rate")
    page.wait(lambda: input_value(page, "forget-target") == "random:10", 10, "the forget target")
    page.click(page.find("#run-button"))
    # The status line may still show the previous run under the progress bar: wait for this run's summary.
    summary = page.wait(lambda: (lambda t: t if "digits-mlp" in t and "random:10" in t and "Unlearning took" in t
                                 else None)(text_of(page, "#summary")), RUN_TIMEOUT_S, "the digits-mlp run", every=1.0)
    assert "doing nothing" in summary
    page.full_page_screenshot(SHOTS / "045-memorising-random.png")


def test_audit_of_the_run_shows_membership_roc(page):
    """After the digits-mlp random:10 run above: audit it with U-LiRA (shipped shadow models) and read the ROC
    legend, the verdict line and the status; the plots of attacks not run say so."""
    page.script("document.querySelector('#audit-button').scrollIntoView();")
    checked = page.script("return Array.from(document.querySelectorAll('#audit-attacks input:checked'))"
                          ".map(e => e.closest('label').innerText.trim());")
    assert checked == ["Per-example membership inference (U-LiRA)"], checked
    page.click(page.find("#audit-button"))
    status = page.wait(lambda: (lambda t: t if "Audited" in t else None)(text_of(page, "#audit-status")),
                       RUN_TIMEOUT_S, "the audit", every=1.0)
    assert "digits-mlp" in status and "random:10" in status
    page.wait(lambda: any(t.startswith("unlearned: AUC") for t in plot_legend(page, "audit-roc")), 30, "the ROC")
    legend = plot_legend(page, "audit-roc")
    assert any(t.startswith("original (doing nothing): AUC") for t in legend)
    assert any(t.startswith("Retrain: AUC") for t in legend)
    assert "Membership (U-LiRA)" in text_of(page, "#audit-summary")
    assert "Not part of this audit" in text_of(page, "#audit-relearn")
    page.full_page_screenshot(SHOTS / "046-audit.png")


def test_generative_model_shows_before_after(page):
    page.click(page.find("#model input"))
    options = page.wait(lambda: page.script(
        "return Array.from(document.querySelectorAll('#model li[role=\"option\"]'))"
        ".map(o => o.getAttribute('aria-label'));"), 10, "the model options")
    label = next((o for o in options if "digits-ddpm" in o), None)
    if label is None:
        page.script("document.querySelector('#model input').blur();")
        pytest.skip("the diffusion model digits-ddpm is not shipped in this checkout yet")
    page.click(page.find(f'#model li[role="option"][aria-label="{label}"]'))
    page.wait(lambda: page.script("return document.querySelector('#model input').value;") == label, 10,
              "the model to switch")
    page.wait(lambda: "class-diffusion" in text_of(page, "#model-info"), 30, "the model description")
    choose(page, "method", "SLUG")
    set_number(page, "hp-slug-search_steps", "2")
    if page.script("return document.querySelector('#with-retrain input').checked;"):
        page.click(page.find("#with-retrain input"))  # keep the run short: no Retrain reference needed
    start = time.time()
    run_and_wait(page, "slug", GENERATIVE_TIMEOUT_S)
    page.wait(lambda: page.script("return document.querySelectorAll('#before-after-slider img').length") >= 1, 60,
              "the before/after slider")
    assert page.script("return document.querySelectorAll('#before-after-gallery img').length") >= 2
    assert "digits-ddpm" in text_of(page, "#summary")
    print(f"\ndiffusion SLUG run shown after {time.time() - start:.1f} s")
    page.full_page_screenshot(SHOTS / "05-generative.png")
