"""What the Lab's result panels show, from plain data: the GAN's "retained class that lost most" as information
(a class and its loss, no gap and no colour), and sample grids whose labels are drawn large and whole."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unlearn_core import plots
from unlearn_core.plots import sample_grids
from unlearn_core.spread import seed_summary

LOST_MOST = "Retained class that lost most"


def _gan_report(seed: int = 0, worst: float = 5.0, coverage: float = 87.0) -> dict:
    block = {"ua": 90.0, "forget_acc": 10.0, "retain_acc": coverage, "fid": 30.0, "confident": 80.0,
             "worst_retained_class": worst}
    original = {**block, "ua": 9.0, "forget_acc": 91.0, "retain_acc": 100.0, "worst_retained_class": 0.0}
    retrain = {**block, "ua": 99.0, "forget_acc": 1.0, "retain_acc": 95.0, "worst_retained_class": 8.0}
    return {"family": "gan", "method": "ga", "model": "digits-gan", "forget": "class:3", "seed": seed,
            "metrics": {"original": original, "unlearned": block, "retrain": retrain}}


def _row(frame, label: str) -> dict:
    return frame[frame["Metric"] == label].iloc[0].to_dict()


def test_lost_most_is_a_class_with_its_loss_not_a_metric_with_a_gap():
    report = _gan_report()
    row = _row(plots.metrics_frame(report), LOST_MOST)
    assert row["Unlearned"] == "class 5 (13.0% fewer samples)"
    assert row["Retrain"] == "class 8 (5.0% fewer samples)"
    assert row["Original"] == "none lost samples"  # the original against itself loses nothing
    assert pd.isna(row[plots.GAP_COLUMN]) and row[plots.EXPLANATION_COLUMN].startswith("Information")
    # No colour on its gap cell (the other gap cells keep theirs).
    styled = plots.styled_metrics(report)
    styled._compute()
    frame = plots.metrics_frame(report)
    gap_col = list(frame.columns).index(plots.GAP_COLUMN)
    lost_row = list(frame["Metric"]).index(LOST_MOST)
    ua_row = list(frame["Metric"]).index(plots.metric_label("ua", "gan"))
    colours = {(r, c): css for (r, c), css in styled.ctx.items()}
    assert not colours.get((lost_row, gap_col)) and colours.get((ua_row, gap_col))


@pytest.mark.parametrize("worsts, expected", [((5.0, 5.0), "class 5 (12.0% fewer samples, mean over seeds)"),
                                              ((5.0, 2.0), "class 5 / 2 (by seed)")])
def test_lost_most_over_seeds(worsts, expected):
    runs = [_gan_report(seed, worst, coverage) for seed, (worst, coverage) in enumerate(zip(worsts, (87.0, 89.0)))]
    result = {"runs": runs, "summary": seed_summary(runs)}
    row = _row(plots.metrics_frame(result), LOST_MOST)
    assert row["Unlearned"] == expected and pd.isna(row[plots.GAP_COLUMN])


def test_long_prompts_wrap_instead_of_being_cut():
    font = sample_grids._font(sample_grids.LABEL_FONT_PX)
    prompt = "a picture of a three sided shape that is red"
    lines = sample_grids.wrap_label(prompt, sample_grids.LABEL_WIDTH_PX - 8, font)
    assert " ".join(lines) == prompt and len(lines) == 2
    assert all(font.getlength(line) <= sample_grids.LABEL_WIDTH_PX - 8 for line in lines)


def test_large_view_shows_every_model_side_by_side():
    rng = np.random.default_rng(0)
    generated = {"classes": [0, 1, 2], "forget_class": 1, "per_class": 2, "seeds": [1, 2],
                 "before": rng.random((6, 1, 8, 8)), "after": rng.random((6, 1, 8, 8)),
                 "retrain": rng.random((6, 1, 8, 8))}
    large = sample_grids.large_view_image(generated, "salun")
    single = sample_grids.labelled_grid_image(generated, [("before", "before")])
    grid_width = 2 * (sample_grids.CELL_PX + 4) + 4
    assert large.shape == (single.shape[0], single.shape[1] + 2 * grid_width, 3)
    assert [caption for _, _, caption in sample_grids.grid_panels(generated, "salun")] == ["before", "after",
                                                                                             "Retrain"]
