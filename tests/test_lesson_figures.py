"""The Learn tab's figures: the data shipped in ``unlearn_core/learn_figures.json`` is what
``unlearn_core.lesson_data`` computes from the shipped models (the cheap classifier figures are recomputed
here), and every figure built from it is readable (a title of its own, named axes, ranges that hold the data)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn_core import lesson_data
from unlearn_core.plots.lessons import FIGURE_BUILDERS, lesson_figure

SHIPPED = lesson_data.load_lesson_data()
# Recomputing these takes a few seconds in all (SFR-on's Fisher, the metrics' MIA and the GAN take longer).
CHEAP = ("split", "class-accuracy", "saliency", "generalisation", "membership")


def test_shipped_data_says_where_it_comes_from():
    provenance = SHIPPED["provenance"]
    assert provenance["command"] == lesson_data.COMMAND and provenance["seed"] == lesson_data.SEED
    assert set(provenance["models"]) >= {"digits-cnn", "digits-mlp"} and provenance["forget"] == "class:3"
    assert set(SHIPPED["figures"]) == set(lesson_data.FIGURES) == set(FIGURE_BUILDERS)


def _close(shipped, computed, path="") -> None:
    if isinstance(shipped, dict):
        assert set(shipped) == set(computed), path
        for key in shipped:
            _close(shipped[key], computed[key], f"{path}.{key}")
    elif isinstance(shipped, list):
        assert len(shipped) == len(computed), path
        for i, (a, b) in enumerate(zip(shipped, computed)):
            _close(a, b, f"{path}[{i}]")
    elif isinstance(shipped, float):
        assert math.isclose(shipped, computed, rel_tol=1e-4, abs_tol=1e-6), f"{path}: {shipped} != {computed}"
    else:
        assert shipped == computed, path


def test_shipped_data_matches_the_shipped_models():
    computed = lesson_data.lesson_data(list(CHEAP))["figures"]
    for name in CHEAP:
        _close(SHIPPED["figures"][name], computed[name], name)


def test_a_changed_model_would_be_caught():
    """The comparison is not vacuous: a shipped number off by a tenth of a point fails it."""
    tampered = [v + 0.1 for v in SHIPPED["figures"]["class-accuracy"]["retrain"]]
    with pytest.raises(AssertionError):
        _close(tampered, SHIPPED["figures"]["class-accuracy"]["retrain"])


def _in_range(values, axis) -> bool:
    low, high = sorted(axis.range)
    numbers = [float(v) for v in values if isinstance(v, (int, float, np.number))]
    if axis.type == "log":
        numbers = [math.log10(v) for v in numbers if v > 0]
    return all(low <= v <= high for v in numbers)


@pytest.mark.parametrize("name", sorted(FIGURE_BUILDERS))
def test_every_figure_is_readable(name):
    fig = lesson_figure(name, SHIPPED)
    # the share charts name each layer above its bar (issue 26), so they stand taller than the others
    assert fig.layout.title.text and fig.layout.height <= 560, "a figure with a title that fits a screen"
    for trace in fig.data:
        if trace.type != "bar" or trace.orientation == "h":
            continue
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
        if fig.layout.barmode != "stack":
            assert _in_range(trace.y, fig.layout.yaxis), f"{trace.name} outside {fig.layout.yaxis.range}"
    if fig.layout.barmode == "stack":
        totals = np.sum([trace.y for trace in fig.data], axis=0)
        assert _in_range(totals, fig.layout.yaxis)


def test_figure_titles_are_distinct():
    titles = [lesson_figure(name, SHIPPED).layout.title.text.split("<br>")[0] for name in FIGURE_BUILDERS]
    assert len(set(titles)) == len(titles), titles
