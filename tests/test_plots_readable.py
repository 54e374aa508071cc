"""Issue 14: what a person sees in the figures at any model size: axis ranges that hold the data, labels that are
present and distinct, true aspect ratios, metrics in words, and gaps for every family (plain inputs, no server)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn_core import plots
from unlearn_core.plots.label_layout import distinct_short_names


def _log_range_holds(figure, values) -> None:
    """The x axis (log type; plotly's range is in log10 units) holds every value and is not absurdly wider."""
    low, high = figure.layout.xaxis.range
    logs = [math.log10(v) for v in values]
    assert low <= min(logs) and max(logs) <= high
    assert (high - low) <= (max(logs) - min(logs)) + 1.0  # at most a decade of margin in all


# 1. SLUG's step-size search ----------------------------------------------------------------------------

def test_search_trace_x_range_holds_every_step_and_the_accepted_one():
    trace = [{"lambda": lam, "forget_score": score, "retain_score": 99.0 - i}
             for i, (lam, score) in enumerate([(64.0, 60.0), (128.0, 20.0), (256.0, 0.0), (96.0, 40.0)])]
    slug = {"layers": [], "chosen": "fc1.weight", "trace": trace, "lambda": 108.0, "target": 0.0,
            "base_retain": 99.0, "searches": {"fc2.weight": {"trace": [{"lambda": 8.0, "forget_score": 90.0}]}}}
    figure = plots.slug_search_trace(slug, retain_tolerance=3.0)
    xs = [x for trace_ in figure.data for x in trace_.x]
    assert 108.0 in xs and 8.0 in xs
    _log_range_holds(figure, xs)
    low, high = figure.layout.xaxis.range
    on_x = [a.x for a in figure.layout.annotations if a.xref == "x"]
    assert all(low <= x <= high for x in on_x)  # nothing placed in data units where log10 is expected
    assert any("accepted lambda = 108" in trace_.name for trace_ in figure.data)


# 2. Salient share per layer, 10 to 200 layers -----------------------------------------------------------

def _unet_layer_names(count: int) -> list[str]:
    names = [f"{part}.{block}.resnets.{res}.{conv}.{kind}" for part in ("down_blocks", "up_blocks")
             for block in range(4) for res in range(3) for conv in ("conv1", "conv2", "time_emb_proj")
             for kind in ("weight", "bias")]
    names += [f"mid_block.attentions.0.{p}.{kind}" for p in ("to_q", "to_k", "to_v", "to_out.0", "norm")
              for kind in ("weight", "bias")]
    names += [f"extra.{i}.proj.weight" for i in range(200)]
    return names[:count]


def _layers(names: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"name": name, "shape": (32,) if name.endswith("bias") else (32, 64), "salient_share": float(share)}
            for name, share in zip(names, rng.uniform(0.0, 1.0, len(names)))]


@pytest.mark.parametrize("count", [10, 60, 200])
def test_share_bars_show_one_distinct_readable_label_per_row(count):
    names = _unet_layer_names(count)
    figure = plots.salient_share_bars(_layers(names), overall=0.5)
    bars = figure.data[0]
    labels = list(bars.y)
    assert len(labels) <= plots.MAX_SHARE_ROWS
    assert all(labels) and len(set(labels)) == len(labels)  # every shown tick label present and distinct
    assert figure.layout.yaxis.type == "category"  # categorical: plotly draws every label, none skipped
    assert figure.layout.height >= 100 + 20 * len(labels)  # ~20 px per row at least: 11 px labels fit
    hover = " ".join(bars.customdata)
    assert all(name in hover for name in names)  # full names on hover
    assert all(0.0 <= x <= 100.0 for x in bars.x)


def test_share_bars_grow_with_the_layers_and_group_by_block():
    heights = {count: plots.salient_share_bars(_layers(_unet_layer_names(count))).layout.height
               for count in (10, 60, 200)}
    assert heights[10] < heights[60] and heights[10] < heights[200]
    grouped = plots.salient_share_bars(_layers(_unet_layer_names(60)))
    assert len(grouped.data[0].y) < 60 and "blocks" in grouped.layout.title.text
    assert any(label.startswith("down_blocks.0.resnets.") for label in grouped.data[0].y)
    # A block's share is weighted by its tensors' sizes.
    layers = [{"name": "a.0.weight", "shape": (30, 10), "salient_share": 1.0},
              {"name": "a.0.bias", "shape": (100,), "salient_share": 0.0}]
    block = plots.salient_share_bars(layers + _layers(_unet_layer_names(60))[2:], max_rows=40)
    assert block.data[0].x[0] == pytest.approx(75.0)


# 3. Pareto labels ---------------------------------------------------------------------------------------

def test_pareto_labels_are_distinct_and_not_stacked():
    names = ["down_blocks.0.resnets.0.conv1.weight", "down_blocks.1.resnets.0.conv1.weight",
             "up_blocks.0.resnets.0.conv1.weight", "mid_block.resnets.0.conv1.weight"]
    layers = [{"name": name, "importance": 0.1 * (i + 1), "alignment": 0.01 * (i + 1)} for i, name in enumerate(names)]
    figure = plots.slug_pareto({"layers": layers, "front": names, "chosen": None, "trace": []})
    front = next(trace for trace in figure.data if trace.name == "Pareto front")
    labels = list(front.text)
    assert len(set(labels)) == len(labels)
    assert all(label.removeprefix("...") in full for full, label in zip(front.customdata, labels))
    assert distinct_short_names(names[:2]) == ["...0.resnets.0.conv1.weight", "...1.resnets.0.conv1.weight"]


# 4. Saliency heatmap axes -------------------------------------------------------------------------------

def _layer(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.0, 1.0, shape).reshape(shape[0], -1)
    return {"name": name, "shape": shape, "scores": scores, "mask": scores > 0.5, "salient_share": 0.5}


def test_linear_heatmap_axes_are_output_unit_by_input_feature_in_real_indices():
    figure = plots.saliency_heatmap(_layer("fc.weight", (128, 64)))
    assert "input feature" in figure.layout.xaxis.title.text
    assert "output unit" in figure.layout.yaxis.title.text
    low, high = figure.layout.xaxis.range
    assert low <= 0 and 63 <= high <= 64
    assert max(figure.layout.yaxis.range) >= 127 and min(figure.layout.yaxis.range) <= 0
    heat = figure.data[0]
    assert min(heat.x) == 0 and max(heat.x) == 63


def test_reduced_heatmap_keeps_real_indices_and_states_the_reduction():
    figure = plots.saliency_heatmap(_layer("fc.weight", (300, 500)))
    heat = figure.data[0]
    assert len(heat.x) <= plots.MAX_HEATMAP_COLS and len(heat.y) <= plots.MAX_HEATMAP_ROWS
    low, high = figure.layout.xaxis.range
    assert low <= 0 and 499 <= high < 500 and max(heat.x) > 490  # cells sit at their weights' indices
    assert all(low <= x <= high for x in heat.x)
    assert "each cell = 4x3 weights" in figure.layout.title.text


def test_conv_heatmap_axes_are_channels_and_kernel_positions():
    figure = plots.saliency_heatmap(_layer("conv.weight", (16, 8, 3, 3)))
    xaxis = figure.layout.xaxis
    assert "input channel" in xaxis.title.text and "kernel position" in xaxis.title.text
    assert "output channel" in figure.layout.yaxis.title.text
    assert list(xaxis.ticktext) == [str(c) for c in range(8)]
    assert all(xaxis.range[0] <= v <= xaxis.range[1] for v in xaxis.tickvals) and xaxis.range[1] >= 8 * 9 - 1


# 5. Attribution images keep their aspect ratio ----------------------------------------------------------

def test_attribution_subplots_keep_square_pixels():
    n = 2
    images = np.zeros((n, 16, 16))
    side = {"attributions": np.ones((n, 16, 16)), "predicted": [3, 3], "probability": [0.9, 0.8]}
    figure = plots.attribution_figure({"images": images, "labels": [3, 3], "before": side, "after": side,
                                       "signed": False})
    for row in range(1, n + 1):
        for col in range(1, 4):
            subplot = figure.get_subplot(row, col)
            x_name = subplot.xaxis.plotly_name.replace("axis", "")
            assert subplot.yaxis.scaleanchor == x_name and subplot.yaxis.scaleratio == 1
            assert subplot.yaxis.constrain == subplot.xaxis.constrain == "domain"
            assert subplot.xaxis.range[1] - subplot.xaxis.range[0] == 16
            assert abs(subplot.yaxis.range[0] - subplot.yaxis.range[1]) == 16


# 6. Metrics in the user's words -------------------------------------------------------------------------

T2I_REPORT = {"model": "shapes-t2i", "forget": "concept:triangle", "method": "salun", "seed": 0,
              "metrics": {"original": {"erasure": 100.0, "preservation": 89.06, "fid": 1362.89,
                                       "erasure_paraphrase": 100.0},
                          "unlearned": {"erasure": 0.0, "preservation": 89.06, "fid": 1881.79,
                                        "erasure_paraphrase": 0.0}},
              "runtime_s": {"unlearn": 47.2, "retrain": None}}

DDPM_METRICS = {"original": {"ua": 0.0, "forget_acc": 100.0, "retain_acc": 100.0, "fid": 59.9},
                "retrain": {"ua": 100.0, "forget_acc": 0.0, "retain_acc": 100.0, "fid": 55.9}}


def _ddpm_report(method: str, ua: float, retain_acc: float, fid: float, seconds: float) -> dict:
    unlearned = {"ua": ua, "forget_acc": 100.0 - ua, "retain_acc": retain_acc, "fid": fid}
    return {"model": "digits-ddpm", "forget": "class:3", "method": method, "seed": 0,
            "metrics": {**DDPM_METRICS, "unlearned": unlearned}, "runtime_s": {"unlearn": seconds, "retrain": 2786.2}}


def test_text_diffusion_metrics_are_in_words_with_an_explanation():
    frame = plots.metrics_frame(T2I_REPORT)
    keys = {key for block in T2I_REPORT["metrics"].values() for key in block}
    assert not set(frame.Metric) & keys and not any("_" in label for label in frame.Metric)
    assert all(text for text in frame[plots.EXPLANATION_COLUMN])
    fid = next(label for label in frame.Metric if label.startswith("FID"))
    assert "class" not in fid and "prompt" in fid
    ddpm_fid = next(label for label in plots.metrics_frame(_ddpm_report("ga", 14.0, 98.0, 436.0, 7.4)).Metric
                    if label.startswith("FID"))
    assert "retained classes" in ddpm_fid
    assert all(plots.METRIC_EXPLANATIONS.get(key) for key in plots.METRIC_LABELS)


def test_summary_flags_a_fid_much_worse_than_the_originals():
    summary = plots.summary_markdown(T2I_REPORT)
    assert "FID is 38% worse than the original's" in summary and "prompts without the concept" in summary
    slightly = {**T2I_REPORT, "metrics": {**T2I_REPORT["metrics"],
                                          "unlearned": {**T2I_REPORT["metrics"]["unlearned"], "fid": 1450.0}}}
    assert "FID is" not in plots.summary_markdown(slightly)  # 6% worse: within the flag's 20%


# 7. Compare on a generative model -----------------------------------------------------------------------

def _ddpm_rows() -> list[dict]:
    return [{"label": "GA", "report": _ddpm_report("ga", 14.0, 98.3, 436.3, 7.4)},
            {"label": "SalUn", "report": _ddpm_report("salun", 98.0, 100.0, 57.1, 36.3)},
            {"label": "ESD", "report": _ddpm_report("esd", 100.0, 99.7, 88.4, 14.5)}]


def test_compare_on_class_diffusion_shows_the_generation_gap():
    frame = plots.compare_frame(_ddpm_rows())
    assert not frame.isna().all().any()  # no blank column
    assert plots.GENERATION_GAP in frame.columns and not frame[plots.GENERATION_GAP].isna().any()
    assert plots.KL_COLUMN not in frame.columns  # not measured for generators
    assert list(frame.Method) == [plots.DOING_NOTHING, "GA", "SalUn", "ESD"]
    assert frame.iloc[0][plots.GENERATION_GAP] == pytest.approx(33.33, abs=0.01)  # |0-100|, 0, FID not worse
    figure = plots.compare_chart(_ddpm_rows())
    texts = [text for trace in figure.data for text in (trace.text or ())]
    assert "n/a" not in texts
    gaps = figure.data[0]
    assert list(gaps.x) == ["SalUn", "ESD", "GA"] and all(isinstance(y, float) for y in gaps.y)
    captions = " ".join(a.text for a in figure.layout.annotations)
    assert "cache" in captions and "not comparable" in captions


def test_compare_without_retrain_draws_only_what_exists():
    rows = [{"label": "SalUn", "report": T2I_REPORT}, {"label": "ESD", "report": T2I_REPORT}]
    frame = plots.compare_frame(rows)
    assert not frame.isna().all().any()
    assert "Concept drawn (%)" in frame.columns
    figure = plots.compare_chart(rows)
    assert [trace.name for trace in figure.data] == ["run time"]
    assert "n/a" not in [text for trace in figure.data for text in (trace.text or ())]
