"""The Learn tab in a real headless browser: lessons that do not scroll, a readable figure under each lesson,
and "Try it" that lands on the Lab's status line (issue 26, item 10)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_kit import BROWSER_ONLY, SHOTS, WARMUP_TIMEOUT_S, choose, click_tab, input_value, text_of  # noqa: E402

pytestmark = BROWSER_ONLY

TEST_WINDOW = (1500, 2200)  # tests/webdriver.py's window
DESKTOP = (1280, 900)
# Each lesson's text block and every element inside a lesson that may scroll (overflow auto/scroll): what it
# holds and shows, and how wide a scrollbar it draws (offset size minus client size minus borders).
SCROLLERS = """
return Array.from(document.querySelectorAll('.lesson')).flatMap((lesson, i) =>
  [lesson, ...lesson.querySelectorAll('*')].filter(e => {
    const s = getComputedStyle(e);
    return e.offsetParent !== null && (/^lesson-\\d+$/.test(e.id) ||
      [s.overflowX, s.overflowY].some(o => o === 'auto' || o === 'scroll'));
  }).map(e => {
    const s = getComputedStyle(e), px = v => parseFloat(v) || 0;
    return {lesson: i, id: e.id || (e.closest('[id]') || {}).id, tag: e.tagName,
            scrollHeight: e.scrollHeight, clientHeight: e.clientHeight,
            scrollWidth: e.scrollWidth, clientWidth: e.clientWidth,
            vertical_bar: e.offsetWidth - e.clientWidth - px(s.borderLeftWidth) - px(s.borderRightWidth),
            horizontal_bar: e.offsetHeight - e.clientHeight - px(s.borderTopWidth) - px(s.borderBottomWidth)};
  }));
"""
# Each lesson's title and its plotly figure as the page drew it: title, axes (ranges in axis units, log10 on
# log axes), and each trace's data.
LESSON_FIGURES = """
return Array.from(document.querySelectorAll('.lesson')).map((lesson, i) => {
  const heading = lesson.querySelector('h2');
  const gd = lesson.querySelector('.js-plotly-plot');
  const out = {lesson: i, heading: heading ? heading.innerText : ''};
  if (!gd || !gd._fullLayout) return out;
  const axes = {};
  for (const [k, v] of Object.entries(gd._fullLayout))
    if (/^[xy]axis\\d*$/.test(k)) axes[k] = {range: v.range, type: v.type, title: v.title && v.title.text};
  out.title = gd._fullLayout.title && gd._fullLayout.title.text;
  out.axes = axes;
  out.data = gd.data.map(t => ({type: t.type, x: t.x, y: t.y, xaxis: t.xaxis || 'x', yaxis: t.yaxis || 'y',
                               orientation: t.orientation, barmode: gd._fullLayout.barmode}));
  const box = gd.getBoundingClientRect(), column = lesson.getBoundingClientRect();
  out.inside = box.left >= column.left - 1 && box.right <= column.right + 1;
  return out;
});
"""


def open_learn(page, size) -> None:
    page.resize(*size)
    click_tab(page, "Learn")
    page.wait(lambda: page.script("return document.querySelectorAll('.lesson .js-plotly-plot .main-svg').length")
              >= 10, 60, "the lessons' figures")


def test_learn_tab_explains_the_metrics(page):
    click_tab(page, "Learn")
    page.wait(lambda: all(words in page.script("return document.body.innerText;") for words in (
        "gold standard", "departs from the official code", "Why random forgetting", "Audits")), 30, "the Learn tab")
    body = page.script("return document.body.innerText;")
    assert "MIA" in body and "Pareto" in body and "SalUn" in body
    # Maths is rendered (KaTeX), not ASCII; no family that no model here has.
    assert page.script("return document.querySelectorAll('#lesson-3 .katex').length;") > 0
    assert "grad_theta" not in body and "zero-shot" not in body
    assert len(page.find_all(".try-it")) >= 6
    page.full_page_screenshot(SHOTS / "06-learn.png")
    click_tab(page, "Lab")


@pytest.mark.parametrize("size", [TEST_WINDOW, DESKTOP], ids=["test-window", "desktop"])
def test_no_lesson_shows_a_scrollbar(page, size):
    """Issue 26: lessons 0 and 3 drew a scrollbar with nothing to scroll (a KaTeX box a fraction of a pixel
    taller than the line, in a block gradio makes overflow:auto)."""
    open_learn(page, size)
    scrollers = page.script(SCROLLERS)
    assert {s["lesson"] for s in scrollers} >= set(range(10)), "every lesson's text block is measured"
    for s in scrollers:
        assert s["scrollHeight"] <= s["clientHeight"] + 1 and s["scrollWidth"] <= s["clientWidth"] + 1, s
        assert s["vertical_bar"] < 1 and s["horizontal_bar"] < 1, f"a scrollbar is drawn: {s}"
    page.script("document.querySelector('#lesson-3').scrollIntoView();")
    page.screenshot(SHOTS / f"062-learn-lesson3-{size[0]}x{size[1]}.png")


def _inside(values, axis) -> bool:
    low, high = sorted(axis["range"])
    numbers = [v for v in values if isinstance(v, (int, float))]
    if axis["type"] == "log":
        numbers = [math.log10(v) for v in numbers if v > 0]
    return all(low <= v <= high for v in numbers)


def test_every_lesson_has_a_readable_figure(page):
    """Issue 26: one small figure per lesson, drawn by the lab's plot code from the shipped models' data:
    a title of its own, named axes, and ranges that hold every bar and point."""
    open_learn(page, TEST_WINDOW)
    lessons = [lesson for lesson in page.script(LESSON_FIGURES) if lesson["heading"] != "References"]
    assert len(lessons) >= 10
    titles = []
    for lesson in lessons:
        assert lesson.get("title"), f"lesson {lesson['heading']!r} has no figure with a title"
        assert lesson["inside"], f"the figure of {lesson['heading']!r} spills out of its lesson"
        titles.append(lesson["title"].split("<br>")[0])
        for trace in lesson["data"]:
            if trace["type"] not in ("bar", "scatter"):
                continue
            xaxis = lesson["axes"]["xaxis" + trace["xaxis"][1:]]
            yaxis = lesson["axes"]["yaxis" + trace["yaxis"][1:]]
            assert xaxis["title"] and yaxis["title"], f"unnamed axis in {lesson['title']!r}"
            if xaxis["type"] != "category":
                assert _inside(trace["x"], xaxis), f"x outside {xaxis['range']} in {lesson['title']!r}"
            if yaxis["type"] != "category" and trace.get("barmode") != "stack":
                assert _inside(trace["y"], yaxis), f"y outside {yaxis['range']} in {lesson['title']!r}"
    assert len(set(titles)) == len(titles), f"repeated figure titles: {titles}"
    page.full_page_screenshot(SHOTS / "063-learn-figures.png")


def test_learn_try_it_loads_the_lesson_into_the_lab(page):
    """Issue 14: a lesson's "Try it" loads its configuration into the Lab's controls, switches to the Lab and
    shows the cached result (the start-up example: SalUn on digits-cnn, class 3). Issue 26: the Lab opens
    with its status line in view, not where the Learn page was scrolled to."""
    page.resize(*DESKTOP)
    click_tab(page, "Lab")
    # the start-up example, shown when it is ready, would replace the status line Try it writes
    page.wait(lambda: "Example" in text_of(page, "#status"), WARMUP_TIMEOUT_S, "the start-up example", every=2.0)
    choose(page, "method", "SLUG")
    click_tab(page, "Learn")
    button = page.wait(lambda: page.find_all("#try-3"), 10, "the weight-saliency lesson's Try it")[0]
    page.script("document.querySelector('#try-3').scrollIntoView({block: 'center'});")
    assert page.script("return window.scrollY;") > 900, "the Learn page is scrolled down before Try it"
    page.click(button)
    status = page.wait(lambda: (lambda t: t if "From the cache" in t else None)(text_of(page, "#status")), 30,
                       "the cached result")
    assert "salun on digits-cnn" in status and "class:3" in status
    assert page.script("return document.querySelector('#run-button').offsetParent !== null;")  # the Lab tab
    in_view = ("const r = document.querySelector('#status').getBoundingClientRect();"
               "return r.top >= 0 && r.bottom <= window.innerHeight;")
    page.wait(lambda: page.script(in_view), 5, "the status line in the viewport")
    page.screenshot(SHOTS / "061-try-it-viewport.png")
    assert page.script("return document.querySelector('#method input').value;") == "SalUn"
    assert input_value(page, "forget-target") == "class:3"
    assert page.script("return document.querySelector('#hp-salun-lr').offsetParent !== null;")
    page.full_page_screenshot(SHOTS / "061-try-it.png")
