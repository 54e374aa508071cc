"""The app's figures, tables and per-run data, from plain inputs (no server): fast checks of what they show."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn_core import plots
from unlearn_core.plots import sample_grids
from unlearn_core.saliency import layer_saliency


def test_downsample_keeps_the_largest_score_and_the_salient_share():
    scores = np.arange(12 * 8, dtype=float).reshape(12, 8)
    mask = np.zeros((12, 8), dtype=bool)
    mask[:2, :2] = True
    reduced, share, blocks = plots.downsample(scores, mask, max_rows=6, max_cols=4)
    assert blocks == (2, 2) and reduced.shape == (6, 4) and share.shape == (6, 4)
    assert reduced[0, 0] == scores[1, 1] and reduced[-1, -1] == scores.max()
    assert share[0, 0] == 1.0 and share[1:, :].sum() == 0.0
    small, small_share, none = plots.downsample(scores, mask)
    assert none == (1, 1) and small is not None and np.array_equal(small_share, mask.astype(float))


def test_saliency_heatmap_overlays_the_mask_and_reduces_big_layers():
    scores = {"fc.weight": torch.rand(300, 500), "fc.bias": torch.rand(300)}
    mask = {name: s > 0.5 for name, s in scores.items()}
    layers = layer_saliency(scores, mask)
    figure = plots.saliency_heatmap(layers[0], "gradient")
    base, overlay = figure.data
    assert base.type == overlay.type == "heatmap"
    rows, cols = np.asarray(base.z).shape
    assert rows <= plots.MAX_HEATMAP_ROWS and cols <= plots.MAX_HEATMAP_COLS
    assert "fc.weight" in figure.layout.title.text and "each cell = 4x3 weights" in figure.layout.title.text
    # The overlay washes out what is *not* salient: 1 - share of salient weights per cell.
    assert 0.0 <= float(np.min(overlay.z)) and float(np.max(overlay.z)) <= 1.0
    fisher = plots.saliency_heatmap(layers[1], "fisher_ratio", threshold=1.0)
    assert "Fisher ratio" in fisher.layout.title.text and "score >= 1" in fisher.layout.title.text
    bars = plots.salient_share_bars(layers, overall=0.5)
    assert list(bars.data[0].y) == ["fc.weight", "fc.bias"]
    assert all(0 <= x <= 100 for x in bars.data[0].x)


def _slug(chosen=None, trace=None):
    layers = [{"name": "a", "importance": 0.1, "alignment": 0.1}, {"name": "b", "importance": 0.05, "alignment": 0.05},
              {"name": "c", "importance": 0.01, "alignment": 0.5}]
    return {"layers": layers, "front": ["a", "b"], "chosen": chosen, "trace": trace or [], "lambda": 2.0,
            "target": 0.0, "base_retain": 100.0, "searches": {}}


def test_slug_pareto_labels_the_front_and_marks_the_chosen_layer():
    figure = plots.slug_pareto(_slug())
    names = [t.name for t in figure.data]
    assert names == ["dominated layers", "Pareto front"]
    front = figure.data[1]
    assert list(front.text) == ["b", "a"]  # sorted by alignment
    assert plots.short_layer_name("down_blocks.1.attentions.0.to_out.0.weight") == "...to_out.0.weight"
    assert figure.data[0].marker.symbol == "x" and list(figure.data[0].text) == ["c"]
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    chosen = plots.slug_pareto(_slug(chosen="a"))
    star = chosen.data[-1]
    assert star.marker.symbol == "star" and star.name.startswith("edited: a")


def test_slug_search_trace_plots_both_scores_against_lambda():
    trace = [{"lambda": 1.0, "forget_score": 80.0, "retain_score": 99.0, "reached": False},
             {"lambda": 4.0, "forget_score": 0.0, "retain_score": 90.0, "reached": True},
             {"lambda": 2.0, "forget_score": 10.0, "retain_score": 97.0, "reached": False}]
    figure = plots.slug_search_trace(_slug(chosen="a", trace=trace), retain_tolerance=3.0)
    forget = next(t for t in figure.data if t.name.endswith("forget score"))
    assert list(forget.x) == [1.0, 2.0, 4.0] and list(forget.text) == ["1", "3", "2"]
    assert figure.layout.xaxis.type == "log"
    empty = plots.slug_search_trace({})
    assert not empty.data and "only when the method is SLUG" in empty.layout.annotations[0].text


def _report(with_retrain=True):
    metrics = {"original": {"ua": 0.0, "ra": 100.0, "ta": 99.0, "mia": 1.0},
               "unlearned": {"ua": 90.0, "ra": 98.0, "ta": 97.0, "mia": 80.0}}
    report = {"model": "m", "method": "salun", "forget": "class:3", "seed": 0, "metrics": metrics,
              "runtime_s": {"unlearn": 1.5, "retrain": 20.0 if with_retrain else None}}
    if with_retrain:
        metrics["retrain"] = {"ua": 100.0, "ra": 100.0, "ta": 99.0, "mia": 100.0}
        report.update(avg_gap=8.5, avg_gap_original=50.0, kl_to_retrain=0.1)
    return report


def test_metrics_table_shows_the_gap_to_retrain():
    frame = plots.metrics_frame(_report())
    assert list(frame.columns) == ["Metric", "Original", "Unlearned", "Retrain", plots.GAP_COLUMN,
                                   plots.EXPLANATION_COLUMN]
    ua = frame[frame.Metric.str.startswith("UA")].iloc[0]
    assert ua[plots.GAP_COLUMN] == 10.0
    assert frame.iloc[-1]["Metric"].startswith("Avg. Gap") and frame.iloc[-1]["Unlearned"] == 8.5
    assert frame.iloc[-1]["Original"] == 50.0  # doing nothing's gap, beside the method's
    html = plots.styled_metrics(_report()).to_html()
    assert "background-color" in html
    no_retrain = plots.metrics_frame(_report(with_retrain=False))
    assert no_retrain[plots.GAP_COLUMN].isna().all()
    assert "No Retrain reference" in plots.summary_markdown(_report(with_retrain=False))
    assert "doing nothing" not in plots.summary_markdown(_report(with_retrain=False))
    summary = plots.summary_markdown(_report())
    assert "Avg. Gap to Retrain: **8.50** (doing nothing: 50.00" in summary
    assert "**beats doing nothing by 41.50 points**" in summary
    worse = plots.summary_markdown({**_report(), "avg_gap": 60.0})
    assert "does not beat doing nothing" in worse and "10.00 points closer to Retrain" in worse
    generative = plots.metrics_frame({"metrics": {"original": {"ua": 1.0, "fid": 3.0},
                                                  "unlearned": {"ua": 90.0, "fid": 4.0},
                                                  "retrain": {"ua": 95.0, "fid": 3.5}}})
    assert any(m.startswith("FID") for m in generative.Metric)


def test_compare_chart_orders_methods_by_gap_beside_doing_nothing():
    rows = [{"label": "A", "report": _report()}, {"label": "B", "report": {**_report(), "avg_gap": 2.0}}]
    frame = plots.compare_frame(rows)
    assert list(frame["Method"]) == [plots.DOING_NOTHING, "A", "B"] and list(frame["Avg. Gap"]) == [50.0, 8.5, 2.0]
    nothing = frame.iloc[0]
    assert nothing["UA"] == 0.0 and nothing["RA"] == 100.0 and nothing["Run time (s)"] == 0.0  # the original's
    figure = plots.compare_chart(rows)
    assert list(figure.data[0].x) == ["B", "A"]  # smallest gap first
    assert list(figure.data[1].y) == [1.5, 1.5]
    # Doing nothing as a dashed reference line on the gap panel, inside its y range.
    line = next(shape for shape in figure.layout.shapes if shape.yref == "y")
    assert line.y0 == line.y1 == 50.0 and line.line.dash == "dash"
    assert "doing nothing: 50.00" in [a.text for a in figure.layout.annotations]
    assert figure.layout.yaxis.range[1] > 50.0
    # Without an Avg. Gap (generative models) nothing is added.
    generative = {"method": "esd", "metrics": {"unlearned": {"fid": 3.0}},
                  "runtime_s": {"unlearn": 1.0, "retrain": None}}
    plain = plots.compare_frame([{"label": "A", "report": generative}])
    assert list(plain["Method"]) == ["A"]
    assert not plots.compare_chart([{"label": "A", "report": generative}]).layout.shapes


def test_sample_grid_frames_the_forget_class():
    samples = np.zeros((3 * 2, 1, 8, 8))
    generated = {"classes": [0, 1, 2], "forget_class": 1, "per_class": 2, "seeds": [0, 1], "before": samples}
    header, label = 10, 40  # the grid starts below the header, right of the row labels
    image = sample_grids.labelled_grid_image(generated, [("before", "before")], cell=8, pad=2, label_width=label,
                                      header=header)
    assert image.shape == (header + 3 * 10 + 2, 2 * label + 2 * 10 + 2, 3) and image.dtype == np.uint8
    row1_top = header + 2 + 1 * 10
    assert tuple(image[row1_top - 1, label]) == (214, 39, 40)          # red frame around class 1
    assert tuple(image[header + 2, label]) == (255, 255, 255)          # class 0 is not framed
    assert tuple(image[header + 2, label + 2]) == (255, 255, 255)      # blank sample = white paper (dark ink)


def test_attributions_leave_both_models_unchanged(digits_task_factory):
    from unlearn_core.attribution import forget_attributions
    from unlearn_core.zoo import fresh_copy

    task = digits_task_factory("class:3", 0)
    original, unlearned = fresh_copy("digits-cnn"), fresh_copy("digits-cnn")
    with torch.no_grad():
        unlearned.fc2.bias[3] -= 1000.0  # an "unlearned" model that no longer predicts 3
    before = {k: v.clone() for k, v in original.state_dict().items()}
    result = forget_attributions(original, unlearned, task, "integrated_gradients", count=3, seed=0)
    assert result["images"].shape == result["before"]["attributions"].shape == (3, 16, 16)
    assert result["labels"] == [3, 3, 3] and result["signed"]
    assert result["before"]["predicted"] == [3, 3, 3] and 3 not in result["after"]["predicted"]
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items())
    assert all(p.requires_grad for p in original.parameters())  # flags restored
    saliency = forget_attributions(original, unlearned, task, "Saliency", count=2, seed=1)
    assert (saliency["before"]["attributions"] >= 0).all() and not saliency["signed"]
    figure = plots.attribution_figure(result)
    assert len(figure.data) == 9


def test_attribution_rejects_unknown_methods(digits_task_factory):
    from unlearn_core.attribution import forget_attributions
    from unlearn_core.errors import UnlearningInputError
    from unlearn_core.zoo import fresh_copy

    model = fresh_copy("digits-cnn")
    with pytest.raises(UnlearningInputError, match="attribution method"):
        forget_attributions(model, model, digits_task_factory(), "shapley")


def test_layer_analysis_front_is_not_dominated(digits_task_factory):
    from unlearn_core.inspection import layer_analysis

    analysis = layer_analysis("digits-cnn", digits_task_factory("class:3", 0))
    layers = {l["name"]: l for l in analysis["layers"]}
    assert analysis["front"] and set(analysis["front"]) <= set(layers)
    for name in analysis["front"]:
        assert not any(o["alignment"] < layers[name]["alignment"] and o["importance"] > layers[name]["importance"]
                       for o in layers.values())
    assert all(not name.endswith("bias") for name in layers)


def _generated(prompts: bool):
    rng = np.random.default_rng(0)
    if prompts:
        return {"prompts": ["a red triangle", "a blue circle on white"], "marked": [True, False], "per_class": 3,
                "seeds": [30000, 30001, 30002], "before": rng.random((6, 3, 8, 8)), "after": rng.random((6, 3, 8, 8)),
                "retrain": None}
    return {"classes": [0, 1, 2], "forget_class": 1, "per_class": 4, "seeds": [30000, 30001, 30002, 30003],
            "before": rng.random((12, 1, 8, 8)), "after": rng.random((12, 1, 8, 8)), "retrain": None}


@pytest.mark.parametrize("prompts", [False, True])
def test_slider_opens_on_a_clean_before_after_split(prompts):
    """The handle starts at 50%: the left half of the 'before' image must be labels + the whole original grid,
    the right half of the 'after' image the whole unlearned grid + labels, split exactly between two grids
    (not through a sample or the prompt text)."""
    generated = _generated(prompts)
    before, after = sample_grids.before_after_slider(generated, "salun")
    assert before.shape == after.shape
    middle = before.shape[1] // 2
    single = sample_grids.labelled_grid_image(generated, [("before", "before: the original model")])
    label_width = (single.shape[1] - (before.shape[1] - single.shape[1])) // 2  # the two label columns
    grid_width = before.shape[1] - single.shape[1]
    assert middle == label_width + grid_width  # the middle is the boundary between the two copies
    assert np.array_equal(before[:, :middle], single[:, :middle])
    seam = before[:, middle - 2:middle + 2].reshape(-1, 3)
    # only the gap between grids (white, or the red frame of the forget rows): no sample is cut in two
    assert all(tuple(pixel) in {(255, 255, 255), (214, 39, 40)} for pixel in seam)
    assert not np.array_equal(before[:, middle:], after[:, middle:])


def test_grid_images_label_rows_and_seeds():
    generated = _generated(False)
    image = sample_grids.labelled_grid_image(generated, [("after", "after: salun")])
    red_rows = np.where(np.all(image == (214, 39, 40), axis=2).any(axis=1))[0]
    assert len(red_rows) > 0  # the forgotten class's row is framed
    assert image.shape[0] > 3 * 44  # a header above the rows for the title and seeds
