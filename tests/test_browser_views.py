"""Issue 26, defects 6 and 7, measured in the page as a person sees it: the metrics table fits its column with
every header (no sideways scrolling to "What it means", "Gap to Retrain" shown on a GAN), the GAN's "retained
class that lost most" is information (a class and its loss, no coloured gap), and the before/after grids read
(labels 12 px or more as displayed, whole thumbnails, a full-page view for a projector)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_kit import (  # noqa: E402
    BROWSER_ONLY,
    GENERATIVE_TIMEOUT_S,
    SHOTS,
    WARMUP_TIMEOUT_S,
    choose,
    choose_model,
    click_tab,
    metrics_text,
    run_and_wait,
    set_number,
    text_of,
)
from unlearn_core.plots.sample_grids import LABEL_FONT_PX  # noqa: E402

pytestmark = BROWSER_ONLY
HEADERS = ["Metric", "Original", "Unlearned", "Retrain", "Gap to Retrain", "What it means"]
DESKTOP = (1280, 900)  # a common laptop/projector width, narrower than the test browser's own window
READABLE_PX = 12


def table_layout(page) -> dict:
    """The metrics table as drawn: its box, how far it scrolls sideways (any scrolling box inside it) or cuts a
    cell's text (a shown cell narrower than its words; gradio's hidden sizing row has no text), and each header's
    text and horizontal extent."""
    return page.script(
        "const table = document.querySelector('#metrics-table');"
        "const box = table.getBoundingClientRect();"
        "const scrolls = Array.from(table.querySelectorAll('*')).filter(e => e.clientWidth > 0 &&"
        "  ['auto', 'scroll'].includes(getComputedStyle(e).overflowX));"
        "const cells = Array.from(table.querySelectorAll('td, th')).filter(e => e.clientWidth > 0 &&"
        "  (e.innerText || '').trim());"
        "const overflow = Math.max(0, ...scrolls.concat(cells).map(e => e.scrollWidth - e.clientWidth));"
        "const broken = h => { const walker = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);"
        "  for (let node = walker.nextNode(); node; node = walker.nextNode()) {"
        "    for (const m of node.textContent.matchAll(/\\S+/g)) { const range = document.createRange();"
        "      range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);"
        "      if (range.getClientRects().length > 1) return m[0]; } }"
        "  return null; };"
        "const heads = Array.from(table.querySelectorAll('th')).filter(h => h.offsetParent !== null).map(h => {"
        "  const r = h.getBoundingClientRect();"
        "  return {text: (h.innerText || '').trim(), left: r.left, right: r.right, width: r.width, broken: broken(h)};"
        "});"
        "return {left: box.left, right: box.right, overflow: overflow, heads: heads};")


def assert_table_fits(page, where: str) -> None:
    layout = table_layout(page)
    texts = [head["text"] for head in layout["heads"]]
    assert all(any(text.startswith(name) for text in texts) for name in HEADERS), (where, texts)
    assert layout["overflow"] <= 1, f"{where}: the table scrolls sideways by {layout['overflow']} px"
    for head in layout["heads"]:
        assert head["broken"] is None, f"{where}: the header {head['text']!r} breaks {head['broken']!r} across lines"
        assert head["width"] >= 40 and layout["left"] - 1 <= head["left"] and head["right"] <= layout["right"] + 1, (
            where, head, layout["left"], layout["right"])


def images_shown(page, css: str) -> list[dict]:
    """Each visible picture under ``css``: natural and displayed size, its object-fit, and the scale at which
    its content is drawn (object-fit contain: the smaller of the two ratios)."""
    return page.script(
        "return Array.from(document.querySelectorAll(arguments[0])).filter(i => i.offsetParent !== null"
        "  && i.naturalWidth > 0).map(i => { const r = i.getBoundingClientRect(); const fit = getComputedStyle(i)"
        "  .objectFit; const sx = r.width / i.naturalWidth, sy = r.height / i.naturalHeight;"
        "  return {natural: [i.naturalWidth, i.naturalHeight], shown: [r.width, r.height], fit: fit,"
        "          scale: fit === 'cover' ? Math.max(sx, sy) : Math.min(sx, sy)}; });", css)


def assert_labels_readable(images: list[dict], what: str) -> None:
    assert images, f"no {what} on the page"
    for image in images:
        assert LABEL_FONT_PX * image["scale"] >= READABLE_PX, (what, image)


def test_metrics_table_fits_for_a_classifier(page):
    page.wait(lambda: "Example" in text_of(page, "#status") or "Done" in text_of(page, "#status"), WARMUP_TIMEOUT_S,
              "the start-up example", every=2.0)
    page.wait(lambda: "UA: unlearning accuracy" in metrics_text(page), 30, "the metrics table")
    try:
        for width, height in ((1500, 2200), DESKTOP):
            page.resize(width, height)
            page.wait(lambda: table_layout(page)["heads"], 10, "the table headers")
            assert_table_fits(page, f"digits-cnn at {width} px")
        page.screenshot(SHOTS / "views-01-table-1280.png")
    finally:
        page.resize(1500, 2200)


def test_gan_table_information_row_and_readable_grids(page):
    """A short GA run on digits-gan: its table fits with "Gap to Retrain", the lost-most row is a class without a
    coloured gap, the grids' labels read at 12 px or more, thumbnails are whole, "View large" fills the page."""
    click_tab(page, "Lab")
    assert choose_model(page, "model", "digits-gan")
    page.wait(lambda: "gan" in text_of(page, "#model-info"), 30, "the model description")
    choose(page, "method", "GA")
    set_number(page, "hp-ga-epochs", "1")
    run_and_wait(page, "ga", GENERATIVE_TIMEOUT_S)
    page.wait(lambda: images_shown(page, "#before-after-slider img"), 60, "the before/after slider")
    assert "Samples drawn as the forget class" in metrics_text(page)
    try:
        for width, height in ((1500, 2200), DESKTOP):
            page.resize(width, height)
            page.wait(lambda: table_layout(page)["heads"], 10, "the table headers")
            assert_table_fits(page, f"digits-gan at {width} px")
            assert_labels_readable(images_shown(page, "#before-after-slider img"), f"slider at {width} px")
        # "Retained class that lost most": a class and how many samples it lost; no gap, no colour.
        row = page.script(
            "for (const row of document.querySelectorAll('#metrics-table [role=row], #metrics-table tr')) {"
            "  const cells = Array.from(row.querySelectorAll('.body-cell, td')).map(c => c.innerText.trim());"
            "  if (cells.length && cells[0].startsWith('Retained class that lost most')) return cells; }"
            "return null;")
        assert row is not None and row[2].startswith(("class ", "none")) and row[4] in ("-", ""), row
        colour = page.script(
            "const heads = Array.from(document.querySelectorAll('#metrics-table th')).map(h => h.innerText.trim());"
            "const col = heads.findIndex(h => h.startsWith('Gap to Retrain'));"
            "for (const row of document.querySelectorAll('#metrics-table [role=row], #metrics-table tr')) {"
            "  const cells = row.querySelectorAll('.body-cell, td');"
            "  if (cells.length > col && cells[0].innerText.trim().startsWith('Retained class that lost most'))"
            "    return [getComputedStyle(cells[col]).backgroundColor, getComputedStyle(cells[0]).backgroundColor]; }"
            "return null;")
        assert colour is not None and colour[0] == colour[1], colour  # the gap cell looks like its row
        page.screenshot(SHOTS / "views-02-gan-table-1280.png")
        # Gallery thumbnails show whole pictures (their row labels are inside them).
        thumbnails = images_shown(page, "#before-after-gallery img")
        assert len(thumbnails) >= 2 and all(t["fit"] in ("contain", "scale-down") for t in thumbnails), thumbnails
        # The full-page view, for a projector.
        page.click(page.find("#view-large-button"))
        large = page.wait(lambda: images_shown(page, "#large-view-image img"), 30, "the large view")
        drawn_width = large[0]["natural"][0] * large[0]["scale"]  # the picture itself, not its box
        assert drawn_width > 900 and large[0]["natural"][0] > thumbnails[0]["natural"][0], large
        assert_labels_readable(large, "large view at 1280 px")
        page.screenshot(SHOTS / "views-03-large-view-1280.png")
        page.click(page.find("#large-view-close"))
        page.wait(lambda: not images_shown(page, "#large-view-image img"), 10, "the large view to close")
    finally:
        page.resize(1500, 2200)
    page.full_page_screenshot(SHOTS / "views-04-gan.png")
