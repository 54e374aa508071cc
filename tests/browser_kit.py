"""What every browser test file shares: the headless browser on the one shared app (``page`` fixture, a fresh
browser per test module), and the helpers that read what a person sees (status line, plots, tables, controls).

A browser test module does ``from browser_kit import *`` names it uses, and ``pytestmark = BROWSER_ONLY``.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import free_port, shared_server  # noqa: E402
from webdriver import Browser, find_browser  # noqa: E402

BROWSER = find_browser()
BROWSER_ONLY = pytest.mark.skipif(BROWSER is None, reason="chromium or chromedriver is not installed "
                                "(apt-get install -y chromium chromium-driver)")
WARMUP_TIMEOUT_S = float(os.environ.get("APP_WARMUP_TIMEOUT_S", "900"))
RUN_TIMEOUT_S = float(os.environ.get("APP_RUN_TIMEOUT_S", "300"))
GENERATIVE_TIMEOUT_S = float(os.environ.get("APP_GENERATIVE_TIMEOUT_S", "1500"))  # diffusion sampling on a CPU
SHOTS = Path(os.environ.get("APP_SCREENSHOTS", Path(os.environ.get("TMPDIR", "/tmp")) / "unlearning-lab-shots"))


def open_page():
    """A browser on the shared app, its Lab rendered; quit when the generator closes (use as a fixture body)."""
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


def figure(browser: Browser, elem_id: str) -> dict:
    """The plotly figure the page draws in ``#elem_id``: its data and its full layout (ranges as plotly computed
    them, in axis units: log10 for log axes)."""
    return browser.script(
        "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "if (!gd || !gd._fullLayout) return null;"
        "const axes = {};"
        "for (const [k, v] of Object.entries(gd._fullLayout)) {"
        "  if (/^[xy]axis\\d*$/.test(k)) axes[k] = {range: v.range, type: v.type, title: v.title && v.title.text,"
        "    scaleanchor: v.scaleanchor, ticktext: v.ticktext};"
        "}"
        "return {data: gd.data.map(t => ({name: t.name, x: t.x, y: t.y, type: t.type, xaxis: t.xaxis})),"
        "        axes: axes, height: gd._fullLayout.height};", elem_id)


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


def dropdown_options(browser: Browser, elem_id: str) -> list[str]:
    """The labels a gradio Dropdown offers (opened and closed again)."""
    browser.click(browser.find(f"#{elem_id} input"))
    labels = browser.wait(lambda: browser.script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li[role=\"option\"]'))"
        ".map(o => o.getAttribute('aria-label'));", elem_id), 10, f"the options of #{elem_id}")
    browser.script("document.querySelector(arguments[0]).blur();", f"#{elem_id} input")
    return labels


def set_number(browser: Browser, elem_id: str, value: str) -> None:
    field = browser.wait(lambda: browser.find_all(f"#{elem_id} input:not([type=range])"), 30,
                         f"the control #{elem_id}")[0]
    browser.clear(field)
    browser.type(field, value)
    browser.script("document.querySelector(arguments[0]).blur();", f"#{elem_id} input")


def run_and_wait(browser: Browser, method_name: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Press Run and wait for its "Done" line; a red error in the status line ends the wait at once (a run the
    app refused or stopped never says "Done")."""
    before = text_of(browser, "#status")
    browser.click(browser.find("#run-button"))

    def finished() -> str | None:
        text = text_of(browser, "#status")
        error = text_of(browser, "#status .lab-error")
        # While a run computes, its progress is drawn over the previous status (which may be an old error); a
        # status line that is nothing but a new error is this run's end.
        if text != before and error and text.strip() == error.strip():
            raise AssertionError(f"the {method_name} run failed: {text}")
        return text if text != before and "Done" in text and method_name in text else None

    return browser.wait(finished, timeout, f"the {method_name} run to finish", every=1.0)


def metrics_text(browser: Browser) -> str:
    return text_of(browser, "#metrics-table")




def visible_error_badges(browser: Browser) -> list[str]:
    """The red "Error" badges gradio draws on a component whose event failed (its status tracker's .error)."""
    return browser.script("return Array.from(document.querySelectorAll('.error'))"
                          ".filter(e => e.offsetParent !== null && !e.closest('.toast-body, .lab-error'))"
                          ".map(e => (e.closest('[id]') || {}).id || e.className);")


def click_tab(browser: Browser, name: str) -> None:
    tab = next(t for t in browser.find_all('button[role="tab"]') if browser.text(t).strip() == name)
    browser.click(tab)


def input_value(browser: Browser, elem_id: str) -> str:
    return browser.script("const e = document.querySelector(arguments[0]); return e ? e.value : null;",
                          f"#{elem_id} input, #{elem_id} textarea")


def gap_cell_colour(browser: Browser, metric_prefix: str) -> tuple[int, int, int] | None:
    """The background (r, g, b) of the gap-to-Retrain cell of the metrics table's row starting ``metric_prefix``."""
    colour = browser.script(
        "const heads = Array.from(document.querySelectorAll('#metrics-table th')).map(h => h.title || h.innerText);"
        "const col = heads.findIndex(h => h.trim().startsWith(arguments[1]));"
        "for (const row of document.querySelectorAll('#metrics-table [role=row]')) {"
        "  const cells = row.querySelectorAll('.body-cell, td');"
        "  if (col >= 0 && cells.length > col && cells[0].innerText.trim().startsWith(arguments[0]))"
        "    return getComputedStyle(cells[col]).backgroundColor;"
        "}"
        "return null;", metric_prefix, "Gap to Retrain")
    numbers = [int(v) for v in re.findall(r"\d+", colour or "")[:3]]
    return tuple(numbers) if len(numbers) == 3 else None


def gap_cell_fits(browser: Browser, metric_prefix: str) -> bool | None:
    """Whether the gap-to-Retrain cell of a metrics row is inside the table's box and shows its whole text (no
    sideways scrolling needed to read "mean ± std")."""
    return browser.script(
        "const box = document.querySelector('#metrics-table').getBoundingClientRect();"
        "const heads = Array.from(document.querySelectorAll('#metrics-table th')).map(h => h.title || h.innerText);"
        "const col = heads.findIndex(h => h.trim().startsWith(arguments[1]));"
        "for (const row of document.querySelectorAll('#metrics-table [role=row]')) {"
        "  const cells = row.querySelectorAll('.body-cell, td');"
        "  if (col >= 0 && cells.length > col && cells[0].innerText.trim().startsWith(arguments[0])) {"
        "    const cell = cells[col];"
        "    return cell.getBoundingClientRect().right <= box.right + 1 && cell.scrollWidth <= cell.clientWidth + 1;"
        "  }"
        "}"
        "return null;", metric_prefix, "Gap to Retrain")


def resource_hosts(browser: Browser) -> list[str]:
    return browser.script("return performance.getEntriesByType('resource').map(e => e.name)"
                          ".concat([location.href]).filter(n => /^https?:/.test(n)).map(n => new URL(n).host);")


def choose_model(browser: Browser, elem_id: str, model: str) -> bool:
    browser.click(browser.find(f"#{elem_id} input"))
    options = browser.wait(lambda: browser.script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li[role=\"option\"]'))"
        ".map(o => o.getAttribute('aria-label'));", elem_id), 10, "the model options")
    label = next((o for o in options if o.startswith(model + " ")), None)
    if label is None:
        browser.script("document.querySelector(arguments[0]).blur();", f"#{elem_id} input")
        return False
    choose(browser, elem_id, label)
    return True


def run_esd_on_shapes_t2i(browser: Browser) -> str:
    """The Lab's ESD run on shapes-t2i at its defaults (skips where the model is not shipped): a request several
    browser tests read, which the shared app computes once and then answers from its cache."""
    click_tab(browser, "Lab")
    if not choose_model(browser, "model", "shapes-t2i"):
        pytest.skip("shapes-t2i is not shipped in this checkout")
    browser.wait(lambda: "text-diffusion" in text_of(browser, "#model-info"), 30, "the model description")
    choose(browser, "method", "ESD")
    return run_and_wait(browser, "esd", GENERATIVE_TIMEOUT_S)
