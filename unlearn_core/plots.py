"""Every figure and table the app shows, built from the plain data the core returns.

Nothing here trains or evaluates a model: inputs are reports (dicts of numbers), per-layer saliency arrays,
SLUG's layer scores and search trace and attribution arrays. Outputs are plotly figures and pandas tables
(plain or styled), so the app only wires them to components; the sampled images' labelled grids are drawn in
``sample_grids``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .label_layout import distinct_short_names, fit_labels, layout_log_scatter, point_labels
from .metrics import fid_worsening
from .spread import beats_line, gap_pair, indistinguishable, interval, seed_summary

# Metric rows of the report, in display order: key -> the words a person reads (``FAMILY_METRIC_LABELS`` has
# a family's own wording where it differs).
METRIC_LABELS: dict[str, str] = {
    "ua": "UA: unlearning accuracy (100 - forget acc.)",
    "ra": "RA: retain accuracy",
    "ta": "TA: test accuracy",
    "mia": "MIA-efficacy (confidence)",
    "mia_entropy": "MIA-efficacy (entropy feature)",
    "forget_class_ta": "Test accuracy on the forget class",
    "forget_acc": "Generated forget-class samples classified as it",
    "retain_acc": "Generated retained-class samples classified correctly",
    "erasure": "Concept still drawn (% of concept-prompt images)",
    "erasure_paraphrase": "Concept still drawn for reworded prompts (%)",
    "preservation": "Other prompts drawn as asked (%)",
    "fid": "FID on retained classes (lower is better)",
    "zero_shot_forget": "CLIP zero-shot accuracy on the forget name's images",
    "zero_shot_forget_top5": "CLIP zero-shot top-5 accuracy on the forget name's images",
    "zero_shot_retain": "CLIP zero-shot accuracy on the other names' images",
    "forget_cosine": "Mean cosine of forget images to their name's prompt",
    "forget_alignment": "Guidance towards the concept kept (% of the original's)",
    "retain_alignment": "Guidance towards retain prompts kept (% of the original's)",
    "forget_change": "Pixel change of concept-prompt images (x100, same seeds)",
    "retain_change": "Pixel change of retain-prompt images (x100, same seeds)",
    "forget_clip_score": "CLIP-score of concept-prompt images",
    "retain_clip_score": "CLIP-score of retain-prompt images",
}
FAMILY_METRIC_LABELS: dict[str, dict[str, str]] = {
    "class-diffusion": {"ua": "UA: generated forget-class samples not classified as it (%)"},
    "text-diffusion": {"fid": "FID of other-prompt images vs real ones (lower is better)"},
    "gan": {"ua": "UA: samples not drawn as the forget class (%)",
            "forget_acc": "Samples drawn as the forget class (%)",
            "retain_acc": "Smallest retained class's share (% of the original's)",
            "fid": "Frechet distance of retained samples to real images (lower is better)",
            "confident": "Samples recognised with confidence >= 0.9 (%)",
            "worst_retained_class": "Retained class that lost most"},
}
# One line per metric: what it measures and which way is good (the table's last column).
METRIC_EXPLANATIONS: dict[str, str] = {
    "ua": "100 minus the accuracy on the forget set; Retrain shows how high it should be.",
    "ra": "Accuracy on the data kept for training; should stay near Retrain's.",
    "ta": "Accuracy on unseen test data; should stay near Retrain's.",
    "mia": "Share of forget samples a membership attack (confidence) calls unseen; Retrain is the target.",
    "mia_entropy": "The same membership attack on the prediction entropy instead of the confidence.",
    "forget_class_ta": "Accuracy on unseen test images of the forgotten class; Retrain shows the target.",
    "forget_acc": "Share of images generated for the forgotten class that a classifier still recognises.",
    "retain_acc": "Share of images generated for the other classes that a classifier recognises; keep it high.",
    "erasure": "Share of images for prompts naming the concept in which a classifier still finds it; 0 = erased.",
    "erasure_paraphrase": "The same for held-out rewordings of the concept: does the erasure generalise?",
    "preservation": "Share of images for prompts without the concept that show what they ask for; keep it high.",
    "fid": "Frechet distance of generated images of the retained classes to real ones; a rise = worse images.",
    "zero_shot_forget": "How often CLIP still names the forgotten images correctly; lower = forgotten.",
    "zero_shot_forget_top5": "The same, counting a hit when the name is among CLIP's five best guesses.",
    "zero_shot_retain": "How often CLIP names the other images correctly; keep it high.",
    "forget_cosine": "How close the forgotten images' embeddings stay to their name's prompt; lower = forgotten.",
    "forget_alignment": "How much of the original's pull towards the concept remains; 0 = none, below 0 = away.",
    "retain_alignment": "How much of the original's pull towards other prompts remains; keep it near 100.",
    "forget_change": "How much the concept-prompt images changed from the original's; larger = more changed.",
    "retain_change": "How much the other prompts' images changed from the original's; keep it small.",
    "forget_clip_score": "How well concept-prompt images match their prompt per CLIP; lower = erased.",
    "retain_clip_score": "How well the other prompts' images match their prompt per CLIP; keep it high.",
}
FAMILY_METRIC_EXPLANATIONS: dict[str, dict[str, str]] = {
    "class-diffusion": {"ua": "100 minus the share of forget-class images a classifier still recognises."},
    "text-diffusion": {"fid": "Frechet distance of images for prompts without the concept to real images; "
                              "a rise = worse images."},
    "gan": {"ua": "100 minus the share of samples (fixed latents) the judging classifier calls the forgotten class "
                  "(digits-cnn for digits, the shapes classifier for shapes).",
            "forget_acc": "Share of samples (fixed latents) the judging classifier calls the forgotten class.",
            "retain_acc": "Each retained class's share of samples against the original's; the smallest is shown. "
                          "100 = no class lost ground (mode coverage).",
            "confident": "Share of samples the classifier recognises with confidence >= 0.9: clear images.",
            "worst_retained_class": "Information, not a score: the retained class the generator draws least often "
                                    "against the original, and how many fewer samples it gets."},
}
AVG_GAP_EXPLANATION = "Mean distance to Retrain (the gold standard) over UA, RA, TA and MIA; lower is better."
GENERATION_GAP_LABEL = "Gap to Retrain (UA, retained-class acc., FID worsening)"
GENERATION_GAP_EXPLANATION = ("Mean of the UA and retained-class accuracy distances to Retrain and the FID's "
                              "worsening in % (capped at 100); lower is better.")
FID_WORSENING_FLAG_PERCENT = 20.0  # the summary warns when the FID worsens more than this over the original's
COLUMNS = ("Original", "Unlearned", "Retrain")
GAP_COLUMN = "Gap to Retrain"
EXPLANATION_COLUMN = "What it means"
SALIENCY_TITLES = {"gradient": "|grad L_f| (SalUn)", "fisher_ratio": "Fisher ratio F_f / F_r (SFR-on)"}
FRONT_COLOUR = "#d62728"
ACCENT = "#1f77b4"
MAX_HEATMAP_ROWS = 96
MAX_HEATMAP_COLS = 192
MAX_SHARE_ROWS = 40   # more layers than this: the share chart groups them by module
BAR_ROW_PX = 32       # pixels per row of the share chart: an 11 px label line above a 16 px bar
SHARE_LABEL_PX = 11   # font size of the share chart's row labels
SHARE_LABEL_CHARS = 56  # longer row labels lose middle parts, so one line spans a ~320 px column at most
SHARE_TITLE_PX, SHARE_NOTE_PX, SHARE_AXIS_PX = 60, 15, 50  # toolbar and title; a note line; the axis below
MAX_HOVER_NAMES = 24  # full tensor names listed in one bar's hover


def _field(item: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a dataclass-like object or a dict (LayerSaliency or its ``to_dict()``)."""
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def message_figure(text: str, height: int = 320) -> go.Figure:
    """An empty figure that says why there is nothing to plot (keeps every panel's layout stable)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#555"})
    fig.update_layout(height=height, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, plot_bgcolor="white")
    return fig


# ------------------------------------------------------------------------------------------------------
# Metrics

def report_family(report: Mapping[str, Any]) -> str:
    """The model family a report comes from ("classification", "class-diffusion", "text-diffusion", "gan" or
    "zero-shot"): the report's own ``family`` if it has one, else read from the metrics it holds."""
    if report.get("family"):
        return str(report["family"])
    keys = {key for block in report.get("metrics", {}).values() for key in block}
    if keys & {"erasure", "preservation", "forget_alignment", "forget_clip_score"}:
        return "text-diffusion"
    if keys & {"zero_shot_forget", "zero_shot_retain"}:
        return "zero-shot"
    if keys & {"confident", "worst_retained_class"}:
        return "gan"
    if keys & {"forget_acc", "retain_acc"}:
        return "class-diffusion"
    return "classification"


def metric_label(key: str, family: str = "classification") -> str:
    """The words a person reads for a metric key (the family's own wording where it differs)."""
    label = FAMILY_METRIC_LABELS.get(family, {}).get(key) or METRIC_LABELS.get(key)
    return label if label else key.replace("_", " ").capitalize()


def metric_explanation(key: str, family: str = "classification") -> str:
    """One line on what a metric measures and which way is good."""
    return FAMILY_METRIC_EXPLANATIONS.get(family, {}).get(key) or METRIC_EXPLANATIONS.get(key, "")


def runs_of(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed reports of a result: ``runs`` of a request repeated over seeds, else the report itself."""
    return list(report["runs"]) if "runs" in report else [report]


def summary_of(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """The summary over seeds of a result (:func:`unlearn_core.spread.seed_summary`; one seed: n = 1)."""
    return report["summary"] if "summary" in report else seed_summary([report])


def _spread_cell(spread: Mapping[str, Any] | None) -> Any:
    """A table cell: the number (one seed) or "mean ± std" (several)."""
    if spread is None:
        return None
    if spread["n"] == 1:
        return round(float(spread["mean"]), 2)
    return f"{spread['mean']:.2f} ± {spread['std']:.2f}"


def lost_most_cell(blocks: Sequence[Mapping[str, Any]]) -> str | None:
    """The "retained class that lost most" of one model over its seeds' metric blocks, in words: the class and
    how many fewer samples it gets than from the original (``retain_acc`` is its share in % of the original's)."""
    if not blocks or any("worst_retained_class" not in block for block in blocks):
        return None
    classes = [int(block["worst_retained_class"]) for block in blocks]
    drops = [100.0 - float(block.get("retain_acc", 100.0)) for block in blocks]
    if max(drops) <= 0:
        return "none lost samples"
    if len(set(classes)) > 1:
        return f"class {' / '.join(map(str, classes))} (by seed)"
    mean = "" if len(drops) == 1 else ", mean over seeds"
    return f"class {classes[0]} ({sum(drops) / len(drops):.1f}% fewer samples{mean})"


# Rows that name something rather than measure it: a sentence in each model's column, no gap to Retrain and no
# colour (a class number has no distance to Retrain's).
INFORMATION_CELLS = {"worst_retained_class": lost_most_cell}


def metrics_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Rows = metrics present in the report (in the user's words), columns = Original / Unlearned / Retrain,
    the gap and a one-line explanation of the metric. A result repeated over seeds shows "mean ± std" (sample
    std over the seeds) in every cell."""
    first = runs_of(report)[0]
    summary = summary_of(report)
    spreads = summary["metrics"]
    gaps = summary.get("metric_gaps", {})
    family = report_family(first)
    metrics = first.get("metrics", {})
    keys = [k for k in METRIC_LABELS if any(k in metrics.get(c.lower(), {}) for c in COLUMNS)]
    keys += sorted({k for block in metrics.values() for k in block} - set(keys))
    rows = []
    for key in keys:
        row: dict[str, Any] = {"Metric": metric_label(key, family)}
        for column in COLUMNS:
            if key in INFORMATION_CELLS:
                blocks = [run.get("metrics", {}).get(column.lower()) for run in runs_of(report)]
                row[column] = None if None in blocks else INFORMATION_CELLS[key](blocks)
            else:
                row[column] = _spread_cell(spreads.get(column.lower(), {}).get(key))
        measured = key in gaps and key not in INFORMATION_CELLS
        row[GAP_COLUMN] = _spread_cell(gaps[key]["unlearned"]) if measured else None
        row[EXPLANATION_COLUMN] = metric_explanation(key, family)
        rows.append(row)
    if "gap" in summary:
        label, explanation = (("Avg. Gap to Retrain (UA, RA, TA, MIA)", AVG_GAP_EXPLANATION)
                              if summary["gap_name"] == "avg_gap" else
                              (GENERATION_GAP_LABEL, GENERATION_GAP_EXPLANATION))
        rows.append({"Metric": label, "Original": _spread_cell(summary["gap_original"]),
                     "Unlearned": _spread_cell(summary["gap"]), "Retrain": 0.0,
                     GAP_COLUMN: _spread_cell(summary["gap"]), EXPLANATION_COLUMN: explanation})
    return pd.DataFrame(rows, columns=["Metric", *COLUMNS, GAP_COLUMN, EXPLANATION_COLUMN])


def comparison_strength(comparison: Mapping[str, Any]) -> float:
    """How clearly a paired comparison with doing nothing (``{k, n, difference}``) is decided, in [0, 1]: the
    mean difference against its 95% half-interval (at the interval's edge 0.5, twice as far 1). One seed has no
    spread to judge by: a pale 0.25, whatever the difference."""
    difference = comparison["difference"]
    if difference["ci95"] is None:
        return 0.25
    half = (difference["ci95"][1] - difference["ci95"][0]) / 2
    if half <= 0:
        return 1.0 if difference["mean"] != 0 else 0.0
    return min(abs(difference["mean"]) / half, 2.0) / 2


def comparison_colour(comparison: Mapping[str, Any] | None) -> str:
    """A gap cell's colour: green only when the method is closer to Retrain than doing nothing on the mean and
    in most seeds, red when it is farther on the mean, amber when the seeds disagree; the stronger the colour,
    the clearer the difference against its spread (:func:`comparison_strength`)."""
    if comparison is None or comparison["difference"]["mean"] == 0:
        return ""
    mean, wins, n = comparison["difference"]["mean"], comparison["k"], comparison["n"]
    if mean < 0 and 2 * wins > n:
        base = (46, 160, 67)
    elif mean > 0:
        base = (214, 39, 40)
    else:
        base = (230, 150, 30)
    strength = 0.35 + 0.65 * comparison_strength(comparison)
    red, green, blue = (int(255 + (c - 255) * strength) for c in base)
    text = "white" if strength > 0.6 else "#222"
    return f"background-color: rgb({red}, {green}, {blue}); color: {text}; font-weight: bold"


def styled_metrics(report: Mapping[str, Any]):
    """The metrics table with each gap-to-Retrain cell coloured by whether the method beats doing nothing on
    that metric (:func:`comparison_colour`), the Avg. Gap row by the run's verdict."""
    frame = metrics_frame(report)
    summary = summary_of(report)
    gaps = summary.get("metric_gaps", {})
    first = runs_of(report)[0]
    family = report_family(first)
    by_label = {metric_label(key, family): comparison for key, comparison in gaps.items()
                if key not in INFORMATION_CELLS}
    colours = [comparison_colour(by_label.get(label)) for label in frame["Metric"]]
    if "beats_doing_nothing" in summary:
        colours[-1] = comparison_colour(summary["beats_doing_nothing"])
    styler = frame.style.format(precision=2, na_rep="-")
    return styler.apply(lambda column: colours, subset=[GAP_COLUMN])


def doing_nothing_verdict(gap: float, original_gap: float) -> str:
    """Whether a method's Avg. Gap beats doing nothing (the untouched original's gap to Retrain)."""
    if gap < original_gap:
        return f"beats doing nothing by {original_gap - gap:.2f} points"
    return (f"does not beat doing nothing: the untouched original is {gap - original_gap:.2f} points "
            "closer to Retrain")


def fid_warning(report: Mapping[str, Any], limit_percent: float = FID_WORSENING_FLAG_PERCENT) -> str | None:
    """A warning when the unlearned model's FID is worse than the original's by more than ``limit_percent``."""
    metrics = report.get("metrics", {})
    original, unlearned = metrics.get("original", {}).get("fid"), metrics.get("unlearned", {}).get("fid")
    if original is None or unlearned is None:
        return None
    worse = fid_worsening(float(unlearned), float(original))
    if worse <= limit_percent:
        return None
    kept = "prompts without the concept" if report_family(report) == "text-diffusion" else "retained classes"
    return (f"**Warning: FID is {worse:.0f}% worse than the original's** ({original:.1f} -> {unlearned:.1f}): "
            f"the images of the {kept} lost quality (flagged above {limit_percent:.0f}%).")


def _seeds_text(seeds: Sequence[Any]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))} ({len(seeds)} runs)"


def summary_markdown(report: Mapping[str, Any]) -> str:
    """One paragraph under the table: gap (and doing nothing's), in how many seeds the method beats doing
    nothing, KL to Retrain, an FID warning, run times; over several seeds each number is a mean."""
    runs = runs_of(report)
    first = runs[0]
    summary = summary_of(report)
    several = len(runs) > 1
    parts = [f"**{first.get('method', '?')}** on **{first.get('model', '?')}**, "
             f"forget `{first.get('forget', '?')}`, {_seeds_text([r.get('seed', '?') for r in runs])}."]
    if "gap" in summary:
        name = "Avg. Gap to Retrain" if summary["gap_name"] == "avg_gap" else GENERATION_GAP_LABEL
        gap, nothing = summary["gap"], summary["gap_original"]
        if several:
            parts.append(f"{name}: **{gap['mean']:.2f} ± {gap['std']:.2f}** (doing nothing: {nothing['mean']:.2f} ± "
                         f"{nothing['std']:.2f}; mean ± std over the seeds, lower is better): it "
                         f"**{beats_line(summary)}**.")
        else:
            parts.append(f"{name}: **{gap['mean']:.2f}** (doing nothing: {nothing['mean']:.2f}; lower is better): it "
                         f"**{doing_nothing_verdict(gap['mean'], nothing['mean'])}**. One seed: run several to see "
                         "the spread (Repeat over N seeds).")
    elif "avg_gap" in first:
        parts.append(f"Avg. Gap to Retrain: **{first['avg_gap']:.2f}** points; lower is better.")
    if "kl_to_retrain" in first and not several:
        parts.append(f"KL(Retrain || unlearned) on the forget set: {first['kl_to_retrain']:.3f}.")
    for run in runs:
        warning = fid_warning(run)
        if warning:
            parts.append(warning if not several else f"Seed {run.get('seed')}: {warning}")
    runtime = summary.get("runtime_s", {}).get("unlearn")
    if runtime is not None:
        text = f"Unlearning took {runtime['mean']:.1f} s" + (" per seed on average" if several else "")
        retrain = first.get("runtime_s", {}).get("retrain")
        if retrain is not None and not several:
            text += f"; Retrain took {retrain:.1f} s"
        parts.append(text + ".")
    if "metrics" in first and "retrain" not in first["metrics"]:
        parts.append("No Retrain reference in this run, so there is no gap to show.")
    if several:
        parts.append(f"The panels below show seed {first.get('seed')}'s run.")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------------
# Weight saliency

def downsample(scores: np.ndarray, mask: np.ndarray, max_rows: int = MAX_HEATMAP_ROWS,
               max_cols: int = MAX_HEATMAP_COLS) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Block-reduce a big layer: the block's largest score (so salient spots stay visible) and the share of
    salient entries in the block. Returns (scores, share, (row_block, col_block)): each output cell covers
    ``row_block`` x ``col_block`` weights (the last row/column of cells may cover fewer)."""
    scores = np.asarray(scores, dtype=np.float64)
    share = np.asarray(mask, dtype=np.float64)
    rows, cols = scores.shape
    fr, fc = max(1, math.ceil(rows / max_rows)), max(1, math.ceil(cols / max_cols))
    if fr == 1 and fc == 1:
        return scores, share, (1, 1)
    pad_r, pad_c = (-rows) % fr, (-cols) % fc
    padded_scores = np.pad(scores, ((0, pad_r), (0, pad_c)), constant_values=np.nan)
    padded_share = np.pad(share, ((0, pad_r), (0, pad_c)), constant_values=np.nan)
    shape = (padded_scores.shape[0] // fr, fr, padded_scores.shape[1] // fc, fc)
    return (np.nanmax(padded_scores.reshape(shape), axis=(1, 3)), np.nanmean(padded_share.reshape(shape), axis=(1, 3)),
            (fr, fc))


def heatmap_axes(shape: Sequence[int]) -> dict[str, Any]:
    """What the rows and columns of a layer's 2-D heatmap are, in the layer's own units: a linear layer's
    [out, in] is output unit x input feature; a conv's [out, in, k...] is output channel x (input channel,
    kernel position), flattened channel-major; a bias is one row of output units."""
    shape = tuple(int(s) for s in shape)
    if len(shape) <= 1:
        return {"row": "bias", "col": "output unit", "kernel": 1, "row_unit": "bias", "col_unit": "unit"}
    if len(shape) == 2:
        return {"row": "output unit", "col": "input feature", "kernel": 1, "row_unit": "output",
                "col_unit": "input"}
    kernel = int(np.prod(shape[2:]))
    size = "x".join(str(s) for s in shape[2:])
    return {"row": "output channel", "col": f"input channel x kernel position ({size} per channel)",
            "kernel": kernel, "row_unit": "output channel", "col_unit": "input channel"}


def _channel_ticks(cols: int, kernel: int, most: int = 16) -> dict[str, Any]:
    """x ticks of a conv heatmap: the input channel numbers at the middle of each channel's kernel positions."""
    channels = max(1, cols // kernel)
    step = max(1, math.ceil(channels / most))
    picked = list(range(0, channels, step))
    return {"tickmode": "array", "tickvals": [c * kernel + (kernel - 1) / 2 for c in picked],
            "ticktext": [str(c) for c in picked]}


def saliency_heatmap(layer: Any, kind: str = "gradient", threshold: float | None = None) -> go.Figure:
    """One layer's saliency (log10 colour scale) with the mask laid over it: weights outside the mask are
    washed out, so the bright cells are the ones the method may change. Axes are in the layer's own index
    units (output unit / input feature, or output channel / input channel x kernel position); big layers are
    block-reduced, each cell covering a block of weights as the title says."""
    name = _field(layer, "name")
    raw_scores = np.asarray(_field(layer, "scores"), dtype=np.float64)
    raw_mask = np.asarray(_field(layer, "mask"), dtype=bool)
    shape = tuple(_field(layer, "shape", raw_scores.shape))
    axes = heatmap_axes(shape)
    scores, share, (fr, fc) = downsample(raw_scores, raw_mask)
    rows, cols = raw_scores.shape
    positive = raw_scores[raw_scores > 0]
    floor = positive.min() if positive.size else 1e-12
    z = np.log10(np.maximum(scores, floor))
    # Cell centres in real indices: cell i covers weights i*block .. (i+1)*block - 1.
    xs = np.arange(scores.shape[1]) * fc + (fc - 1) / 2
    ys = np.arange(scores.shape[0]) * fr + (fr - 1) / 2
    first_row = np.arange(scores.shape[0]) * fr
    first_col = np.arange(scores.shape[1]) * fc
    grid_rows, grid_cols = np.meshgrid(first_row, first_col, indexing="ij")
    last_rows, last_cols = np.minimum(grid_rows + fr, rows) - 1, np.minimum(grid_cols + fc, cols) - 1
    kernel = axes["kernel"]
    customdata = np.dstack([scores, share, grid_rows, last_rows, grid_cols, last_cols,
                            grid_cols // kernel, grid_cols % kernel])
    if (fr, fc) != (1, 1):
        hover = (f"{axes['row_unit']}s %{{customdata[2]}}-%{{customdata[3]}}, columns %{{customdata[4]}}-"
                 "%{customdata[5]}<br>largest score %{customdata[0]:.3g}<br>salient share %{customdata[1]:.0%}")
    elif kernel > 1:
        hover = (f"{axes['row_unit']} %{{customdata[2]}}, input channel %{{customdata[6]}}, kernel position "
                 "%{customdata[7]}<br>score %{customdata[0]:.3g}<br>salient %{customdata[1]:.0f}")
    else:
        hover = (f"{axes['row_unit']} %{{customdata[2]}}, {axes['col_unit']} %{{customdata[4]}}<br>"
                 "score %{customdata[0]:.3g}<br>salient %{customdata[1]:.0f}")
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z, x=xs, y=ys, colorscale="Viridis", name="saliency", colorbar={"title": {"text": "log10 score"}, "x": 1.0},
        customdata=customdata, hovertemplate=hover + "<extra></extra>"))
    fig.add_trace(go.Heatmap(
        z=1.0 - share, x=xs, y=ys, zmin=0.0, zmax=1.0, showscale=False, hoverinfo="skip",
        name="mask overlay (non-salient washed out)",
        showlegend=True, colorscale=[[0.0, "rgba(255,255,255,0)"], [1.0, "rgba(255,255,255,0.78)"]]))
    note = (f"{rows}x{cols} weights, each cell = {fr}x{fc} weights (colour: their largest score; "
            "wash: their non-salient share)" if (fr, fc) != (1, 1) else f"{rows}x{cols} weights, one cell each")
    share_total = _field(layer, "salient_share", float(raw_mask.mean()))
    rule = f"score >= {threshold:g}" if threshold is not None else "top share"
    xaxis: dict[str, Any] = {"title": axes["col"], "range": [-0.5, cols - 0.5], "constrain": "domain"}
    if kernel > 1:
        xaxis.update(_channel_ticks(cols, kernel))
    fig.update_layout(
        title={"text": f"<b>{name}</b> {list(shape)}: {SALIENCY_TITLES.get(kind, kind)}<br>"
                       f"<sup>{share_total:.0%} salient ({rule}); {note}</sup>"},
        height=440, margin={"l": 60, "r": 20, "t": 80, "b": 70},
        legend={"orientation": "h", "y": -0.22, "x": 0}, xaxis=xaxis,
        yaxis={"title": axes["row"], "range": [rows - 0.5, -0.5]}, plot_bgcolor="white")
    return fig


def _split_by_prefix(indices: Sequence[int], parts: Sequence[Sequence[str]], depth: int) -> list[list[int]]:
    """``indices`` grouped by their first ``depth`` name parts, in model order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index in indices:
        groups.setdefault(tuple(parts[index][:depth]), []).append(index)
    return list(groups.values())


def _common_prefix(indices: Sequence[int], parts: Sequence[Sequence[str]]) -> list[str]:
    common: list[str] = []
    for column in zip(*(parts[i] for i in indices)):
        if len(set(column)) > 1:
            break
        common.append(column[0])
    return common


def layer_rows(names: Sequence[str], max_rows: int = MAX_SHARE_ROWS) -> list[tuple[str, list[int]]]:
    """The rows of a per-layer chart with at most ``max_rows`` rows, as (label, layer indices), in model order.
    One row per layer (its shortest unique name) when they fit; else blocks by module prefix, splitting the
    biggest blocks into their sub-modules while the rows still fit ("down_blocks.1.* (12)"); a block that cannot
    split within the budget (a flat list of many layers) becomes runs of consecutive layers ("a - b")."""
    short = distinct_short_names(names, keep=3)
    if len(names) <= max_rows:
        return [(label, [index]) for index, label in enumerate(short)]
    parts = [name.split(".") for name in names]
    blocks = [list(range(len(names)))]
    stuck: list[list[int]] = []
    while True:
        open_blocks = [block for block in blocks if len(block) > 1 and block not in stuck]
        if not open_blocks:
            break
        # The biggest blocks split together, so blocks of one size share one level of detail.
        biggest = max(len(block) for block in open_blocks)
        level = [block for block in open_blocks if len(block) == biggest]
        splits = [_split_by_prefix(block, parts, len(_common_prefix(block, parts)) + 1) for block in level]
        if len(blocks) + sum(len(split) - 1 for split in splits) > max_rows:
            stuck.extend(level)
            continue
        for block, split in zip(level, splits):
            position = blocks.index(block)
            blocks[position:position + 1] = split
    rows: list[tuple[str, list[int]]] = []
    spare = max_rows - len(blocks)
    for block in blocks:
        if len(block) == 1:
            rows.append((short[block[0]], block))
        elif block in stuck and spare > 0 and len(block) > MAX_HOVER_NAMES:
            runs = min(len(block), spare + 1)
            spare -= runs - 1
            size = math.ceil(len(block) / runs)
            for start in range(0, len(block), size):
                run = block[start:start + size]
                rows.append((short[run[0]] if len(run) == 1 else f"{short[run[0]]} - {short[run[-1]]}", run))
        else:
            rows.append((f"{'.'.join(_common_prefix(block, parts))}.* ({len(block)})", block))
    return rows


def _group_hover(indices: Sequence[int], names: Sequence[str], shares: Sequence[float], sizes: Sequence[int],
                 share: float, size: int) -> str:
    lines = [f"{names[i]}: {shares[i]:.1f}% of {sizes[i]:,}" for i in indices[:MAX_HOVER_NAMES]]
    if len(indices) > MAX_HOVER_NAMES:
        lines.append(f"... and {len(indices) - MAX_HOVER_NAMES} more")
    head = f"<b>{share:.1f}% of {size:,} weights</b>" + (f" in {len(indices)} tensors" if len(indices) > 1 else "")
    return "<br>".join([head, *lines])


def salient_share_bars(layers: Sequence[Any], overall: float | None = None, kind: str = "gradient",
                       max_rows: int = MAX_SHARE_ROWS) -> go.Figure:
    """Share of salient weights in each parameter tensor (weighted over a block's tensors where there are more
    than ``max_rows``, grouped by module), with the model-wide share as a line. One readable row per bar (the
    figure grows with its rows); full names and sizes on hover."""
    names = [_field(l, "name") for l in layers]
    shares = [100.0 * float(_field(l, "salient_share")) for l in layers]
    sizes = [int(np.prod(_field(l, "shape"))) for l in layers]
    if not names:
        return message_figure("No layers to plot.")
    rows = layer_rows(names, max_rows)
    labels, values, hovers, colours = [], [], [], []
    for label, indices in rows:
        total = sum(sizes[i] for i in indices)
        share = sum(shares[i] * sizes[i] for i in indices) / max(total, 1)
        labels.append(label)
        values.append(share)
        hovers.append(_group_hover(indices, names, shares, sizes, share, total))
        colours.append("#7f7f7f" if all(names[i].endswith("bias") for i in indices) else ACCENT)
    labels = fit_labels(labels, SHARE_LABEL_CHARS)
    # Each row's name on its own line above its bar, across the chart's width: beside the bars, long block
    # names in a narrow column left the bars ~60 px and were cut at the left (shapes-t2i).
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", width=0.5, offset=0.0, marker_color=colours,
                           customdata=hovers, name="salient share",
                           hovertemplate="%{y}<br>%{customdata}<extra></extra>"))
    for label in labels:
        fig.add_annotation(x=0, xref="paper", y=label, yref="y", text=label, showarrow=False, xanchor="left",
                           yanchor="bottom", font={"size": SHARE_LABEL_PX}, name="row label")
    if overall is not None:
        fig.add_vline(x=100.0 * overall, line_dash="dash", line_color=FRONT_COLOUR,
                      annotation_text=f"whole model {100.0 * overall:.0f}%", annotation_position="bottom right")
    source = SALIENCY_TITLES.get(kind, kind)
    grouped = len(rows) < len(names)
    notes = [f"mask from {source}"] + (["share weighted by size; hover lists each"] if grouped else [])
    # Title and notes sit fixed distances above the plot area, clear of the x axis's ticks and title (on top, by
    # the first rows) below them and of the toolbar above; the notes are short lines, so none runs off a narrow
    # chart. (A two-line plotly title anchors by its first line, so the notes are an annotation.)
    fig.add_annotation(text="<br>".join(notes), x=0, xref="paper", xanchor="left", y=1, yref="paper",
                       yanchor="bottom", yshift=SHARE_AXIS_PX, align="left", showarrow=False,
                       font={"size": SHARE_LABEL_PX + 1}, name="notes")
    top = SHARE_TITLE_PX + SHARE_NOTE_PX * len(notes) + SHARE_AXIS_PX
    fig.update_layout(title={"text": f"Salient weights in {len(rows)} blocks of {len(names)} tensors" if grouped
                             else f"Salient weights per layer ({len(names)} tensors)",
                             "x": 0, "xref": "paper", "xanchor": "left", "y": 1, "yref": "paper",
                             "yanchor": "bottom", "pad": {"b": SHARE_AXIS_PX + SHARE_NOTE_PX * len(notes) + 4}},
                      xaxis={"title": "% of the weights in the mask", "range": [0, 100], "side": "top"},
                      yaxis={"autorange": "reversed", "showticklabels": False, "type": "category"},
                      height=share_bars_height(len(rows), top), margin={"l": 10, "r": 20, "t": top, "b": 20},
                      plot_bgcolor="white")
    return fig


def share_bars_height(rows: int, top: int = 0) -> int:
    """Pixel height of the salient-share chart with ``rows`` bars below a ``top`` margin: ``BAR_ROW_PX`` per row."""
    return max(300, top + 20 + BAR_ROW_PX * rows)


# ------------------------------------------------------------------------------------------------------
# SLUG

def short_layer_name(name: str, keep: int = 3) -> str:
    """The last ``keep`` dotted parts of a long parameter name (labels on crowded plots; hover has the full)."""
    parts = name.split(".")
    return name if len(parts) <= keep + 1 else "..." + ".".join(parts[-keep:])


PARETO_HEIGHT = 480
PARETO_MARGIN = {"l": 70, "r": 20, "t": 80, "b": 120}  # the legend's rows (up to three) go under the axis title
# The plot area's size is the page's to choose (its width; the legend's rows take from its height); labels are
# placed for a small one (a larger one only spreads the points apart, so what fits here fits there).
PARETO_PLOT_WIDTH_PX, PARETO_PLOT_HEIGHT_PX = 300, 260
FRONT_MARKER_PX, OTHER_MARKER_PX, STAR_MARKER_PX = 11, 9, 22
TINY_SCORE = 1e-12  # zero scores drawn here on the log axes


def slug_pareto(slug: Mapping[str, Any]) -> go.Figure:
    """Log-log alignment (x) vs importance (y) per layer: Pareto-front layers coloured, labelled and joined;
    the others as grey crosses; the layer SLUG edited marked with a star. Front labels are short distinct
    names (full names on hover), each on the side of its point where it stays inside the plot and clear of
    the other labels."""
    layers = list(slug.get("layers", []))
    if not layers:
        return message_figure("No layer scores to plot.")
    front = set(slug.get("front", [l["name"] for l in layers if l.get("on_front")]))
    chosen = slug.get("chosen")
    pick = next((l for l in layers if l["name"] == chosen), None) if chosen else None

    def point(layer: Mapping[str, Any]) -> tuple[float, float]:
        return max(layer["alignment"], TINY_SCORE), max(layer["importance"], TINY_SCORE)

    fig = go.Figure()
    others = [l for l in layers if l["name"] not in front]
    on = sorted([l for l in layers if l["name"] in front], key=lambda l: l["alignment"])
    labels = point_labels([l["name"] for l in on])
    markers = ([(*point(l), OTHER_MARKER_PX) for l in others] + [(*point(l), FRONT_MARKER_PX) for l in on]
               + ([(*point(pick), STAR_MARKER_PX)] if pick is not None else []))
    layout = layout_log_scatter([point(l) for l in on], labels, markers, PARETO_PLOT_WIDTH_PX, PARETO_PLOT_HEIGHT_PX)
    fig.add_trace(go.Scatter(
        x=[point(l)[0] for l in others], y=[point(l)[1] for l in others],
        mode="markers", name="dominated layers", marker={"symbol": "x", "size": OTHER_MARKER_PX, "color": "#9e9e9e"},
        text=[l["name"] for l in others],
        hovertemplate="%{text}<br>alignment %{x:.3g}<br>importance %{y:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[point(l)[0] for l in on], y=[point(l)[1] for l in on],
        mode="markers+lines+text", name="Pareto front", line={"shape": "hv", "dash": "dot", "color": FRONT_COLOUR},
        marker={"size": FRONT_MARKER_PX, "color": FRONT_COLOUR}, text=labels, textposition=layout.positions,
        customdata=[l["name"] for l in on],
        hovertemplate="%{customdata}<br>alignment %{x:.3g}<br>importance %{y:.3g}<extra></extra>"))
    if pick is not None:
        # Short, so the legend keeps to its rows under the plot (the star's hover has the full name).
        label = f"edited: {labels[on.index(pick)] if pick in on else short_layer_name(chosen)}"
        if slug.get("lambda") is not None:
            label += f" (lambda = {slug['lambda']:.3g})"
        fig.add_trace(go.Scatter(
            x=[point(pick)[0]], y=[point(pick)[1]], mode="markers",
            name=label, marker={"symbol": "star", "size": STAR_MARKER_PX, "color": "#ffbf00",
                                "line": {"width": 1.5, "color": "black"}},
            hovertemplate=f"{chosen}<br>the layer SLUG changed<extra></extra>"))
    subtitle = ("on the original model, for this forget target" if not slug.get("trace")
                else "star = the one layer SLUG edited")
    fig.update_layout(
        title={"text": f"SLUG layer selection (Pareto front)<br><sup>{subtitle}</sup>"},
        xaxis={"type": "log", "title": "alignment |cos(g_forget, g_retain)| (lower is better)",
               "range": layout.x_range},
        yaxis={"type": "log", "title": "importance ||g_forget|| / ||theta|| (higher is better)",
               "range": layout.y_range},
        height=PARETO_HEIGHT, margin=PARETO_MARGIN, legend={"orientation": "h", "y": -0.2, "yanchor": "top"},
        plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def log_axis_range(values: Iterable[float], margin_decades: float = 0.15) -> list[float] | None:
    """A log axis's range, in plotly's units for log axes (log10 of the data), holding every positive value
    with a margin; None (plotly's autorange) when there is none."""
    logs = [math.log10(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not logs:
        return None
    return [min(logs) - margin_decades, max(logs) + margin_decades]


def _trace_xs(fig: go.Figure) -> list[float]:
    return [float(x) for trace in fig.data for x in (trace.x or ()) if x is not None]


def slug_search_trace(slug: Mapping[str, Any], retain_tolerance: float | None = None,
                      target_slack: float | None = None) -> go.Figure:
    """Forget and retain score at each step size the binary search tried on the chosen layer (numbers =
    evaluation order), other searched layers faint; the accepted step as a vertical line."""
    trace = list(slug.get("trace") or [])
    if not trace:
        return message_figure("The step-size search runs only when the method is SLUG.<br>"
                              "Run SLUG to see forget and retain scores<br>against the step size.")
    chosen = slug.get("chosen", "chosen layer")
    fig = go.Figure()
    for name, search in (slug.get("searches") or {}).items():
        if name == chosen:
            continue
        pts = sorted(search.get("trace", []), key=lambda t: t["lambda"])
        fig.add_trace(go.Scatter(x=[t["lambda"] for t in pts], y=[t["forget_score"] for t in pts],
                                 mode="lines+markers", name=f"{name}: forget", opacity=0.35,
                                 line={"dash": "dot"}, marker={"size": 5}))
    order = list(range(1, len(trace) + 1))
    by_lambda = sorted(zip(order, trace), key=lambda p: p[1]["lambda"])
    xs = [t["lambda"] for _, t in by_lambda]
    fig.add_trace(go.Scatter(x=xs, y=[t["forget_score"] for _, t in by_lambda], mode="lines+markers+text",
                             name=f"{chosen}: forget score", text=[str(i) for i, _ in by_lambda],
                             textposition="top center", marker={"size": 9, "color": FRONT_COLOUR},
                             line={"color": FRONT_COLOUR}))
    fig.add_trace(go.Scatter(x=xs, y=[t["retain_score"] for _, t in by_lambda], mode="lines+markers",
                             name=f"{chosen}: retain score", marker={"size": 9, "color": ACCENT},
                             line={"color": ACCENT}))
    target = slug.get("target")
    if target is not None:
        level = target + (target_slack or 0.0)
        fig.add_hline(y=level, line_dash="dash", line_color=FRONT_COLOUR,
                      annotation_text=f"forget target {level:.1f}", annotation_position="bottom right")
    base = slug.get("base_retain")
    if base is not None and retain_tolerance is not None:
        fig.add_hline(y=base - retain_tolerance, line_dash="dash", line_color=ACCENT,
                      annotation_text=f"retain floor {base - retain_tolerance:.1f}", annotation_position="top right")
    accepted = slug.get("lambda")
    if accepted is not None and accepted > 0:
        # A vertical line drawn as a trace: its x is a data value like every point's (an add_vline annotation's x
        # on a log axis would be read as log10 and stretch the axis to 10**lambda).
        fig.add_trace(go.Scatter(x=[accepted, accepted], y=[-5, 105], mode="lines", line={"color": "#333", "width": 1},
                                 name=f"accepted lambda = {accepted:.3g}",
                                 hovertemplate=f"accepted lambda {accepted:.3g}<extra></extra>"))
    fig.update_layout(
        title={"text": f"SLUG step-size search: {chosen}<br><sup>binary search over lambda "
                       "(numbers = order)</sup>"},
        xaxis={"type": "log", "title": "step size lambda", "range": log_axis_range(_trace_xs(fig))},
        yaxis={"title": "score (%)", "range": [-5, 105]},
        height=440, margin={"l": 60, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


# ------------------------------------------------------------------------------------------------------
# Compare

COMPARE_METRICS = (("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia", "MIA"), ("forget_acc", "Forget acc."),
                   ("retain_acc", "Retain acc."), ("erasure", "Concept drawn (%)"),
                   ("erasure_paraphrase", "Reworded concept drawn (%)"), ("preservation", "Other prompts as asked (%)"),
                   ("fid", "FID"))
DOING_NOTHING = "Doing nothing (original)"   # the reference row of the compare and sweep tables
SWEEP_REFERENCE = "doing nothing (original model)"  # ... and the dashed line of the sweep plot
AVG_GAP = "Avg. Gap"                     # classifiers' gap column (SalUn's Avg. Gap)
GENERATION_GAP = "Gap to Retrain (gen.)"  # class-conditional generation's gap column (metrics.generation_gap)
KL_COLUMN = "KL to Retrain"
RUNTIME_COLUMN = "Run time (s)"
RUNTIME_NOTE_LINES = ("Run times are those measured when each run was computed.",
                      "A run answered from the cache keeps its old time, measured under another machine load: "
                      "such times are not comparable.")
RUNTIME_NOTE = " ".join(RUNTIME_NOTE_LINES)


def _metric_cells(spreads: Mapping[str, Any]) -> dict[str, Any]:
    return {label: _spread_cell(spreads[key]) for key, label in COMPARE_METRICS if key in spreads}


def _gap_name(rows: Sequence[Mapping[str, Any]]) -> str:
    """The gap the rows' family reports: SalUn's Avg. Gap (classifiers) or the generation gap."""
    return AVG_GAP if any("avg_gap" in runs_of(row["report"])[0] for row in rows) else GENERATION_GAP


def _gap_spreads(report: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(the method's gap to Retrain, doing nothing's) over the result's seeds; None without a Retrain reference."""
    summary = summary_of(report)
    return (summary["gap"], summary["gap_original"]) if "gap" in summary else None


def _original_gap(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Doing nothing's gap to Retrain over the seeds (the same for every row: one model, target and seeds)."""
    for row in rows:
        gaps = _gap_spreads(row["report"])
        if gaps is not None:
            return gaps[1]
    return None


def compare_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per method: its metrics, gap to Retrain (Avg. Gap for classifiers, the generation gap for
    class-conditional generators), KL to Retrain and run time; first, where there is a gap, a row for doing
    nothing (the original model's metrics and gap, no run time). Results over several seeds show "mean ± std".
    Columns that no row fills are left out."""
    rows = list(rows)
    gap_name = _gap_name(rows)
    out = []
    for row in rows:
        report = row["report"]
        summary = summary_of(report)
        gaps = _gap_spreads(report)
        kl = [r["kl_to_retrain"] for r in runs_of(report) if "kl_to_retrain" in r]
        out.append({"Method": row.get("label", runs_of(report)[0].get("method")),
                    **_metric_cells(summary["metrics"].get("unlearned", {})),
                    gap_name: None if gaps is None else _spread_cell(gaps[0]),
                    KL_COLUMN: _spread_cell(interval(kl)) if kl else None,
                    RUNTIME_COLUMN: _spread_cell(summary["runtime_s"]["unlearn"])})
    original_gap = _original_gap(rows)
    if original_gap is not None:
        # KL to Retrain is not measured for the original, so that one cell stays empty.
        out.insert(0, {"Method": DOING_NOTHING, **_metric_cells(summary_of(rows[0]["report"])["metrics"].get(
            "original", {})), gap_name: _spread_cell(original_gap), KL_COLUMN: None, RUNTIME_COLUMN: 0.0})
    frame = pd.DataFrame(out)
    return frame.dropna(axis="columns", how="all")


def compare_verdict(rows: Sequence[Mapping[str, Any]]) -> str:
    """Which methods beat doing nothing in how many seeds, and which the seeds cannot tell apart (their paired
    differences' 95% intervals contain 0); one seed tells no method apart."""
    with_gap = [row for row in rows if _gap_spreads(row["report"]) is not None]
    if not with_gap:
        return ""
    labels = [row.get("label", runs_of(row["report"])[0].get("method")) for row in with_gap]
    n = len(runs_of(with_gap[0]["report"]))
    beats = [f"{label} {summary_of(row['report'])['beats_doing_nothing']['k']}/{n}"
             for label, row in zip(labels, with_gap)]
    text = f"Beats doing nothing in k of {n} seed{'s' if n != 1 else ''}: {', '.join(beats)}."
    if n == 1:
        return text + " One seed cannot tell methods apart: raise Seeds to see the spread."
    gaps = {label: [float(gap_pair(r)[0]) for r in runs_of(row["report"])] for label, row in zip(labels, with_gap)}
    tied = indistinguishable(gaps)
    if not tied:
        return text + " Every pair of methods differs (paired 95% intervals over the seeds exclude 0)."
    return text + " Cannot tell apart over these seeds (paired 95% interval of the gap difference contains 0): " + \
        "; ".join(f"{a} and {b}" for a, b in tied) + "."


def _spread_bars(fig: go.Figure, labels: Sequence[str], means: Sequence[float], stds: Sequence[float], n: int,
                 colour: str, name: str, number: str, cell: Mapping[str, int]) -> None:
    """Bars of means; over several seeds with error bars of one std, each bar's number written above its error
    bar (a number drawn at the bar's top would sit under the error bar)."""
    fig.add_trace(go.Bar(x=list(labels), y=list(means), marker_color=colour, name=name,
                         error_y={"type": "data", "array": list(stds), "visible": n > 1},
                         text=None if n > 1 else [number.format(m) for m in means],
                         textposition="outside"), **cell)
    if n > 1:
        for label, mean, std in zip(labels, means, stds):
            fig.add_annotation(x=label, y=mean + std, text=number.format(mean), showarrow=False, yanchor="bottom",
                               yshift=2, font={"size": 12}, **cell)


def compare_chart(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Each method's gap to Retrain (lower is better; methods without one are left out of that panel) and its
    unlearning run time, with Retrain's own run time as the reference line and a caption on cached times.
    Over several seeds the bars are means with error bars of one std. Without any gap (no Retrain reference)
    only the run-time panel is drawn."""
    if not rows:
        return message_figure("Pick at least one method and press Compare.")
    labels = [row.get("label", runs_of(row["report"])[0]["method"]) for row in rows]
    spreads = [_gap_spreads(row["report"]) for row in rows]
    gaps = [None if spread is None else spread[0]["mean"] for spread in spreads]
    gap_errors = [None if spread is None else spread[0]["std"] for spread in spreads]
    time_spreads = [summary_of(row["report"])["runtime_s"]["unlearn"] for row in rows]
    times = [spread["mean"] for spread in time_spreads]
    n = len(runs_of(rows[0]["report"]))
    retrain_time = next((r["runtime_s"].get("retrain") for row in rows for r in runs_of(row["report"])
                         if r["runtime_s"].get("retrain") is not None), None)
    with_gap = sorted((i for i, gap in enumerate(gaps) if gap is not None), key=lambda i: gaps[i])
    over = f"; mean ± std, {n} seeds" if n > 1 else ""
    time_title = f"Unlearning run time (s, as measured{over})"
    gap_name = _gap_name(rows)
    if with_gap:
        gap_title = (f"Avg. Gap to Retrain (lower is better{over})" if gap_name == AVG_GAP
                     else f"Gap to Retrain: UA, retained acc., FID (lower is better{over})")
        fig = make_subplots(rows=1, cols=2, subplot_titles=(gap_title, time_title))
        _spread_bars(fig, [labels[i] for i in with_gap], [gaps[i] for i in with_gap],
                     [gap_errors[i] for i in with_gap], n, FRONT_COLOUR,
                     gap_name if gap_name == AVG_GAP else "generation gap", "{:.2f}", {"row": 1, "col": 1})
        time_cell = {"row": 1, "col": 2}
    else:
        fig = make_subplots(rows=1, cols=1, subplot_titles=(time_title,))
        time_cell = {"row": 1, "col": 1}
    order = with_gap + [i for i in range(len(rows)) if gaps[i] is None]
    _spread_bars(fig, [labels[i] for i in order], [times[i] for i in order], [time_spreads[i]["std"] for i in order],
                 n, ACCENT, "run time", "{:.1f}", time_cell)
    if retrain_time is not None:
        fig.add_hline(y=retrain_time, line_dash="dash", line_color="#333", **time_cell,
                      annotation_text=f"Retrain {retrain_time:.1f} s", annotation_position="top left")
    original = _original_gap(rows)
    if with_gap and original is not None:
        fig.add_hline(y=original["mean"], line_dash="dash", line_color="#333", row=1, col=1,
                      annotation_text=f"doing nothing: {original['mean']:.2f}", annotation_position="top right")
    if with_gap:
        # Room for the reference line, the error bars and the bar labels above the tallest bar.
        tallest = max([original["mean"] if original else 0.0,
                       *[gaps[i] + (gap_errors[i] if n > 1 else 0.0) for i in with_gap]])
        fig.update_yaxes(range=[0, 1.2 * tallest if tallest > 0 else 1.0], row=1, col=1)
    fig.add_annotation(text="<i>" + "<br>".join(RUNTIME_NOTE_LINES) + "</i>", x=0, y=-0.2, xref="paper",
                       yref="paper", showarrow=False,
                       xanchor="left", yanchor="top", font={"size": 11, "color": "#555"})
    fig.update_layout(height=450, showlegend=False, margin={"l": 50, "r": 20, "t": 60, "b": 100},
                      plot_bgcolor="white")
    return fig


# ------------------------------------------------------------------------------------------------------
# Forget-amount sweep

def _sweep_lines(sweep: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lines of the sweep plot: one per method, then doing nothing (``reference``), from
    ``unlearn_core.sweep.forget_amount_sweep``'s data."""
    lines = [{"label": entry["label"], "mean": list(entry["mean"]), "std": list(entry["std"]), "reference": False}
             for entry in sweep["methods"].values()]
    original = sweep["original"]
    lines.append({"label": SWEEP_REFERENCE, "mean": list(original["mean"]), "std": list(original["std"]),
                  "reference": True})
    return lines


def _sweep_y_range(lines: Sequence[Mapping[str, Any]]) -> list[float]:
    """From 0 (or the lowest error bar, if below) to the highest error bar, with a margin on both sides."""
    low = min([0.0, *[m - s for line in lines for m, s in zip(line["mean"], line["std"])]])
    high = max(m + s for line in lines for m, s in zip(line["mean"], line["std"]))
    margin = 0.06 * ((high - low) or 1.0)
    return [low - margin, high + margin]


def _sweep_subtitle(sweep: Mapping[str, Any]) -> str:
    seeds = sweep["seeds"]
    spread = f"mean ± std over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return f"forget random:P of the training set; {spread}; lower is better"


def sweep_verdict(sweep: Mapping[str, Any]) -> str:
    """Which methods beat doing nothing (a smaller Avg. Gap than the original's, seed against seed) at every
    share, judged on the worst seed (``sweep.share_judgement``); with several seeds the sentence says so."""
    from .sweep import share_judgement

    judged = share_judgement(dict(sweep))
    winners = [entry["label"] for name, entry in sweep["methods"].items()
               if all(share["methods"][name]["beats_nothing"] for share in judged)]
    where = "at every share" + (" on every seed" if len(sweep["seeds"]) > 1 else "")
    if len(winners) == len(sweep["methods"]):
        return f"Every method beats doing nothing {where}."
    if not winners:
        return f"No method beats doing nothing {where}."
    return f"Beat doing nothing {where}: {', '.join(winners)}."


def sweep_figure(sweep: Mapping[str, Any]) -> go.Figure:
    """SalUn's Figure 1: each method's Avg. Gap to Retrain against the share forgotten (error bars = std over
    seeds), and doing nothing (the original model) as a dashed line."""
    lines = _sweep_lines(sweep)
    fig = go.Figure()
    for line in lines:
        style = {"dash": "dash", "color": "#333"} if line["reference"] else {}
        fig.add_trace(go.Scatter(
            x=list(sweep["shares"]), y=line["mean"], mode="lines+markers", name=line["label"], line=style,
            error_y={"type": "data", "array": line["std"], "visible": True},
            hovertemplate=f"{line['label']}<br>%{{x:g}}% forgotten<br>Avg. Gap %{{y:.2f}}<extra></extra>"))
    fig.update_layout(
        title={"text": f"Forget-amount sweep on {sweep['model']}<br><sup>{_sweep_subtitle(sweep)}</sup>"},
        xaxis={"title": "share of the training set forgotten (%)", "tickvals": list(sweep["shares"])},
        yaxis={"title": "Avg. Gap to Retrain (points)", "range": _sweep_y_range(lines)},
        height=440, margin={"l": 60, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def sweep_png(sweep: Mapping[str, Any], path) -> None:
    """The same plot as :func:`sweep_figure`, drawn with matplotlib into a PNG (offline; no kaleido needed)."""
    from matplotlib.figure import Figure  # the object API: no pyplot, so no global backend to set

    from matplotlib import colormaps

    lines = _sweep_lines(sweep)
    figure = Figure(figsize=(8.5, 5.0), dpi=120)
    axes = figure.subplots()
    # A dozen methods: 20 distinct colours and a marker cycle, so no two lines look alike; the paper's methods
    # drawn thicker. A log axis, because one collapsing baseline (gap 70) would flatten the rest (gaps 1-5).
    palette, markers = colormaps["tab20"].colors, "osD^v<>phX*"
    methods = [line for line in lines if not line["reference"]]
    for index, line in enumerate(lines):
        if line["reference"]:
            style = {"linestyle": "--", "color": "#222", "marker": "s", "linewidth": 2.2}
        else:
            position = methods.index(line)
            ours = line["label"] in ("SalUn", "SalUn-soft", "SFR-on", "SLUG")
            style = {"color": palette[(2 * position) % 20 + (position * 2 // 20) % 2], "marker": markers[position % 11],
                     "linewidth": 2.2 if ours else 1.1}
        means = np.maximum(np.asarray(line["mean"], dtype=float), 1e-2)
        stds = np.asarray(line["std"], dtype=float)
        lower = np.minimum(stds, 0.9 * means)  # error bars stay above zero on the log axis
        axes.errorbar(sweep["shares"], means, yerr=[lower, stds], capsize=3, label=line["label"], **style)
    axes.set_xticks(list(sweep["shares"]))
    axes.set_yscale("log")
    smallest = min(float(np.min(np.maximum(line["mean"], 1e-2))) for line in lines)
    largest = max(float(np.max(np.asarray(line["mean"]) + np.asarray(line["std"]))) for line in lines)
    axes.set_ylim(0.08 * smallest, 1.3 * largest)  # contains every point and error bar
    axes.set_xlabel("share of the training set forgotten (%)")
    axes.set_ylabel("Avg. Gap to Retrain (points, log scale)")
    axes.set_title(f"Forget-amount sweep on {sweep['model']}\n{_sweep_subtitle(sweep)}", fontsize=10)
    axes.grid(color="#eee", which="both")
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path)


# ------------------------------------------------------------------------------------------------------
# Attributions

def keep_square_pixels(fig: go.Figure, row: int, col: int, width: int, height: int) -> None:
    """Give one image subplot its true aspect ratio: its y axis is scaled to its own x axis (1 pixel = 1 pixel,
    whatever the figure's width), the picture shrinks within its cell rather than stretching, axes hidden,
    row 0 at the top."""
    subplot = fig.get_subplot(row, col)
    x_name = subplot.xaxis.plotly_name.replace("axis", "")  # "xaxis3" -> "x3", as scaleanchor wants it
    subplot.xaxis.update(visible=False, range=[-0.5, width - 0.5], constrain="domain")
    subplot.yaxis.update(visible=False, range=[height - 0.5, -0.5], scaleanchor=x_name, scaleratio=1,
                         constrain="domain")


def attribution_figure(attr: Mapping[str, Any]) -> go.Figure:
    """Rows = forget samples; columns = the input, the original model's attribution and the unlearned
    model's, both for the sample's true (forgotten) label, on one colour scale per row."""
    images = np.asarray(attr["images"])
    before, after = np.asarray(attr["before"]["attributions"]), np.asarray(attr["after"]["attributions"])
    n = len(images)
    signed = bool(attr.get("signed", False))
    titles = []
    for i in range(n):
        label = attr["labels"][i]
        titles += [f"forget sample, label {label}",
                   f"original: predicts {attr['before']['predicted'][i]} (p={attr['before']['probability'][i]:.2f})",
                   f"unlearned: predicts {attr['after']['predicted'][i]} (p={attr['after']['probability'][i]:.2f})"]
    fig = make_subplots(rows=n, cols=3, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.06)
    scale = "RdBu_r" if signed else "Inferno"
    for i in range(n):
        bound = float(max(np.abs(before[i]).max(), np.abs(after[i]).max(), 1e-12))
        zmin = -bound if signed else 0.0
        fig.add_trace(go.Heatmap(z=images[i], colorscale="Greys", reversescale=True, showscale=False,
                                 hovertemplate="pixel %{x},%{y}: %{z:.2f}<extra></extra>"), row=i + 1, col=1)
        for col, data in ((2, before[i]), (3, after[i])):
            fig.add_trace(go.Heatmap(z=data, colorscale=scale, zmin=zmin, zmax=bound, zmid=0.0 if signed else None,
                                     showscale=(i == 0 and col == 3),
                                     colorbar={"title": {"text": "attribution"}, "len": 1.0 / max(n, 1), "y": 1.0,
                                               "yanchor": "top"},
                                     hovertemplate="pixel %{x},%{y}: %{z:.3g}<extra></extra>"), row=i + 1, col=col)
    height, width = images.shape[1:3]
    for row in range(1, n + 1):
        for col in range(1, 4):
            keep_square_pixels(fig, row, col, width, height)
    fig.update_annotations(font_size=11)
    fig.update_layout(
        title={"text": f"{attr.get('method_label', 'Attribution')} for the true label, before and after "
                       "unlearning<br><sup>where the model finds evidence for the forgotten class</sup>"},
        height=max(260, 190 * n + 90), margin={"l": 10, "r": 10, "t": 90, "b": 10}, plot_bgcolor="white")
    return fig

