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


def choose(browser: Browser, elem_id: str, label: str) -> None:
    """Pick an option of a gradio Dropdown by its visible label."""
    browser.click(browser.find(f"#{elem_id} input"))
    option = browser.wait(lambda: browser.find_all(f'#{elem_id} li[role="option"][aria-label="{label}"]'), 10,
                          f"option {label} of #{elem_id}")[0]
    browser.click(option)
    browser.wait(lambda: browser.script("return document.querySelector(arguments[0]).value;", f"#{elem_id} input")
                 == label, 10, f"#{elem_id} to show {label}")


def set_number(browser: Browser, elem_id: str, value: str) -> None:
    field = browser.find(f"#{elem_id} input")
    browser.clear(field)
    browser.type(field, value)
    browser.script("arguments[0].blur();", field)


def run_and_wait(browser: Browser, method_name: str) -> str:
    before = text_of(browser, "#status")
    browser.click(browser.find("#run-button"))
    return browser.wait(lambda: (lambda t: t if t != before and "Done" in t and method_name in t else None)(
        text_of(browser, "#status")), RUN_TIMEOUT_S, f"the {method_name} run to finish", every=1.0)


def metrics_rows(browser: Browser) -> list[str]:
    return browser.script(
        "return Array.from(document.querySelectorAll('#metrics-table tbody tr')).map(r => r.innerText);")


def test_first_visit_shows_the_cached_example(page):
    page.wait(lambda: "Example" in text_of(page, "#status"), WARMUP_TIMEOUT_S, "the start-up example", every=2.0)
    rows = page.wait(lambda: metrics_rows(page), 30, "the metrics table")
    assert any(row.startswith("UA") for row in rows)
    assert has_plot(page, "saliency-heatmap") and has_plot(page, "slug-pareto")
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
    assert any(row.startswith("UA") for row in metrics_rows(page))
    page.full_page_screenshot(SHOTS / "02-slug.png")


def test_salun_run_shows_metrics_and_heatmap(page):
    choose(page, "method", "SalUn")
    set_number(page, "hp-salun-epochs", "1")
    status = run_and_wait(page, "salun")
    assert "computed" in status or "cache" in status
    rows = metrics_rows(page)
    assert any(row.startswith("Avg. Gap") for row in rows)
    assert has_plot(page, "saliency-heatmap") and has_plot(page, "saliency-bars") and has_plot(page, "slug-pareto")
    assert page.script("return document.querySelectorAll('#saliency-heatmap .hm, #saliency-heatmap image').length") > 0
    assert page.script("return document.querySelector('#layer input').value;") == "fc1.weight"
    assert has_plot(page, "attributions")
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


def test_generative_model_shows_before_after(page):
    options = page.script("const i = document.querySelector('#model input'); i.click(); return "
                          "Array.from(document.querySelectorAll('#model li[role=\"option\"]')).map(o => o.innerText);")
    page.script("document.querySelector('#model input').blur();")
    if not any("digits-ddpm" in o for o in options):
        pytest.skip("the diffusion model digits-ddpm is not shipped in this checkout yet")
    label = next(o.strip() for o in options if "digits-ddpm" in o)
    choose(page, "model", label)
    choose(page, "method", "SLUG")
    start = time.time()
    run_and_wait(page, "slug")
    page.wait(lambda: page.script("return document.querySelectorAll('#before-after-slider img').length") >= 1, 60,
              "the before/after slider")
    assert page.script("return document.querySelectorAll('#before-after-gallery img').length") >= 2
    print(f"\ndiffusion SLUG run shown after {time.time() - start:.1f} s")
    page.full_page_screenshot(SHOTS / "05-generative.png")
