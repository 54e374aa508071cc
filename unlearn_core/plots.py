"""Every figure and table the app shows, built from the plain data the core returns.

Nothing here trains or evaluates a model: inputs are reports (dicts of numbers), per-layer saliency arrays,
SLUG's layer scores and search trace, attribution arrays and sampled images. Outputs are plotly figures,
pandas tables (plain or styled) and uint8 images, so the app only wires them to components.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Metric rows of the report, in display order: key -> (label, higher-is-better note).
METRIC_LABELS: dict[str, str] = {
    "ua": "UA: unlearning accuracy (100 - forget acc.)",
    "ra": "RA: retain accuracy",
    "ta": "TA: test accuracy",
    "mia": "MIA-efficacy (confidence)",
    "mia_entropy": "MIA-efficacy (entropy feature)",
    "forget_class_ta": "Test accuracy on the forget class",
    "forget_acc": "Generated forget-class samples classified as it",
    "retain_acc": "Generated retained-class samples classified correctly",
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
COLUMNS = ("Original", "Unlearned", "Retrain")
GAP_COLUMN = "Gap to Retrain"
SALIENCY_TITLES = {"gradient": "|grad L_f| (SalUn)", "fisher_ratio": "Fisher ratio F_f / F_r (SFR-on)"}
FRONT_COLOUR = "#d62728"
ACCENT = "#1f77b4"
MAX_HEATMAP_ROWS = 96
MAX_HEATMAP_COLS = 192


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

def metrics_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Rows = metrics present in the report, columns = Original / Unlearned / Retrain and the gap."""
    metrics = report.get("metrics", {})
    keys = [k for k in METRIC_LABELS if any(k in metrics.get(c.lower(), {}) for c in COLUMNS)]
    keys += sorted({k for block in metrics.values() for k in block} - set(keys))
    rows = []
    for key in keys:
        row: dict[str, Any] = {"Metric": METRIC_LABELS.get(key, key)}
        for column in COLUMNS:
            value = metrics.get(column.lower(), {}).get(key)
            row[column] = None if value is None else round(float(value), 2)
        if row["Unlearned"] is not None and row["Retrain"] is not None:
            row[GAP_COLUMN] = round(abs(float(metrics["unlearned"][key]) - float(metrics["retrain"][key])), 2)
        else:
            row[GAP_COLUMN] = None
        rows.append(row)
    if "avg_gap" in report:
        rows.append({"Metric": "Avg. Gap to Retrain (UA, RA, TA, MIA)", "Original": round(report["avg_gap_original"], 2)
                     if "avg_gap_original" in report else None, "Unlearned": round(report["avg_gap"], 2),
                     "Retrain": 0.0, GAP_COLUMN: round(report["avg_gap"], 2)})
    return pd.DataFrame(rows, columns=["Metric", *COLUMNS, GAP_COLUMN])


def _gap_colour(value: Any, worst: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    share = min(float(value) / worst, 1.0) if worst > 0 else 0.0
    # green (small gap) -> amber -> red (large gap)
    red, green = int(80 + 175 * share), int(200 - 120 * share)
    return f"background-color: rgb({red}, {green}, 90); color: white; font-weight: bold"


def styled_metrics(report: Mapping[str, Any]):
    """The metrics table with the gap-to-Retrain column coloured by size (and its header marked)."""
    frame = metrics_frame(report)
    gaps = [g for g in frame[GAP_COLUMN] if g is not None and not (isinstance(g, float) and math.isnan(g))]
    worst = max([10.0, *gaps])
    styler = frame.style.format(precision=2, na_rep="-")
    return styler.map(lambda v: _gap_colour(v, worst), subset=[GAP_COLUMN])


def doing_nothing_verdict(gap: float, original_gap: float) -> str:
    """Whether a method's Avg. Gap beats doing nothing (the untouched original's gap to Retrain)."""
    if gap < original_gap:
        return f"beats doing nothing by {original_gap - gap:.2f} points"
    return (f"does not beat doing nothing: the untouched original is {gap - original_gap:.2f} points "
            "closer to Retrain")


def summary_markdown(report: Mapping[str, Any]) -> str:
    """One paragraph under the table: gap (and doing nothing's), KL to Retrain, run times."""
    parts = [f"**{report.get('method', '?')}** on **{report.get('model', '?')}**, "
             f"forget `{report.get('forget', '?')}`, seed {report.get('seed', '?')}."]
    if "avg_gap" in report and "avg_gap_original" in report:
        parts.append(f"Avg. Gap to Retrain: **{report['avg_gap']:.2f}** (doing nothing: "
                     f"{report['avg_gap_original']:.2f}; lower is better): it "
                     f"**{doing_nothing_verdict(report['avg_gap'], report['avg_gap_original'])}**.")
    elif "avg_gap" in report:
        parts.append(f"Avg. Gap to Retrain: **{report['avg_gap']:.2f}** points; lower is better.")
    if "kl_to_retrain" in report:
        parts.append(f"KL(Retrain || unlearned) on the forget set: {report['kl_to_retrain']:.3f}.")
    runtime = report.get("runtime_s", {})
    if runtime.get("unlearn") is not None:
        text = f"Unlearning took {runtime['unlearn']:.1f} s"
        if runtime.get("retrain") is not None:
            text += f"; Retrain took {runtime['retrain']:.1f} s"
        parts.append(text + ".")
    if "metrics" in report and "retrain" not in report["metrics"]:
        parts.append("No Retrain reference in this run, so there is no gap to show.")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------------
# Weight saliency

def downsample(scores: np.ndarray, mask: np.ndarray, max_rows: int = MAX_HEATMAP_ROWS,
               max_cols: int = MAX_HEATMAP_COLS) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Block-reduce a big layer: the block's largest score (so salient spots stay visible) and the share of
    salient entries in the block. Returns (scores, share, (row_block, col_block))."""
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


def saliency_heatmap(layer: Any, kind: str = "gradient", threshold: float | None = None) -> go.Figure:
    """One layer's saliency (log10 colour scale) with the mask laid over it: weights outside the mask are
    washed out, so the bright cells are the ones the method may change. Big layers are block-reduced."""
    name = _field(layer, "name")
    raw_scores = np.asarray(_field(layer, "scores"), dtype=np.float64)
    raw_mask = np.asarray(_field(layer, "mask"), dtype=bool)
    shape = tuple(_field(layer, "shape", raw_scores.shape))
    scores, share, (fr, fc) = downsample(raw_scores, raw_mask)
    positive = raw_scores[raw_scores > 0]
    floor = positive.min() if positive.size else 1e-12
    z = np.log10(np.maximum(scores, floor))
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=z, colorscale="Viridis", name="saliency",
        colorbar={"title": {"text": "log10 score"}, "x": 1.0},
        customdata=np.dstack([scores, share]),
        hovertemplate=("row block %{y}, col block %{x}<br>score %{customdata[0]:.3g}<br>"
                       "salient share %{customdata[1]:.0%}<extra></extra>") if (fr, fc) != (1, 1) else
        "out %{y}, in %{x}<br>score %{customdata[0]:.3g}<br>salient %{customdata[1]:.0f}<extra></extra>"))
    fig.add_trace(go.Heatmap(
        z=1.0 - share, zmin=0.0, zmax=1.0, showscale=False, hoverinfo="skip",
        name="mask overlay (non-salient washed out)",
        showlegend=True, colorscale=[[0.0, "rgba(255,255,255,0)"], [1.0, "rgba(255,255,255,0.78)"]]))
    rows, cols = raw_scores.shape
    note = f"{rows}x{cols}" + (f" in {fr}x{fc} blocks (max score, salient share)" if (fr, fc) != (1, 1) else "")
    share_total = _field(layer, "salient_share", float(raw_mask.mean()))
    rule = f"score >= {threshold:g}" if threshold is not None else "top share"
    fig.update_layout(
        title={"text": f"<b>{name}</b> {list(shape)}: {SALIENCY_TITLES.get(kind, kind)}<br>"
                       f"<sup>{share_total:.0%} salient ({rule}); {note}</sup>"},
        height=440, margin={"l": 60, "r": 20, "t": 80, "b": 70},
        legend={"orientation": "h", "y": -0.22, "x": 0}, xaxis_title="input x kernel position",
        yaxis_title="output unit", yaxis={"autorange": "reversed"}, plot_bgcolor="white")
    return fig


def salient_share_bars(layers: Sequence[Any], overall: float | None = None, kind: str = "gradient") -> go.Figure:
    """Share of salient weights in each parameter tensor, with the model-wide share as a line."""
    names = [_field(l, "name") for l in layers]
    shares = [100.0 * float(_field(l, "salient_share")) for l in layers]
    sizes = [int(np.prod(_field(l, "shape"))) for l in layers]
    colours = ["#7f7f7f" if n.endswith("bias") else ACCENT for n in names]
    fig = go.Figure(go.Bar(x=shares, y=names, orientation="h", marker_color=colours,
                           customdata=sizes, name="salient share",
                           hovertemplate="%{y}<br>%{x:.1f}% of %{customdata:,} weights<extra></extra>"))
    if overall is not None:
        fig.add_vline(x=100.0 * overall, line_dash="dash", line_color=FRONT_COLOUR,
                      annotation_text=f"whole model {100.0 * overall:.0f}%", annotation_position="top")
    source = SALIENCY_TITLES.get(kind, kind)
    fig.update_layout(title={"text": f"Salient weights per layer<br><sup>mask from {source}</sup>"},
                      xaxis={"title": "% of the layer's weights in the mask", "range": [0, 100]},
                      yaxis={"autorange": "reversed"}, height=420,
                      margin={"l": 110, "r": 20, "t": 60, "b": 40}, plot_bgcolor="white")
    return fig


# ------------------------------------------------------------------------------------------------------
# SLUG

def short_layer_name(name: str, keep: int = 3) -> str:
    """The last ``keep`` dotted parts of a long parameter name (labels on crowded plots; hover has the full)."""
    parts = name.split(".")
    return name if len(parts) <= keep + 1 else "..." + ".".join(parts[-keep:])


def slug_pareto(slug: Mapping[str, Any]) -> go.Figure:
    """Log-log alignment (x) vs importance (y) per layer: Pareto-front layers coloured, labelled and joined;
    the others as grey crosses; the layer SLUG edited marked with a star."""
    layers = list(slug.get("layers", []))
    if not layers:
        return message_figure("No layer scores to plot.")
    front = set(slug.get("front", [l["name"] for l in layers if l.get("on_front")]))
    chosen = slug.get("chosen")
    tiny = 1e-12
    fig = go.Figure()
    others = [l for l in layers if l["name"] not in front]
    on = sorted([l for l in layers if l["name"] in front], key=lambda l: l["alignment"])
    fig.add_trace(go.Scatter(
        x=[max(l["alignment"], tiny) for l in others], y=[max(l["importance"], tiny) for l in others],
        mode="markers", name="dominated layers", marker={"symbol": "x", "size": 9, "color": "#9e9e9e"},
        text=[l["name"] for l in others],
        hovertemplate="%{text}<br>alignment %{x:.3g}<br>importance %{y:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[max(l["alignment"], tiny) for l in on], y=[max(l["importance"], tiny) for l in on],
        mode="markers+lines+text", name="Pareto front", line={"shape": "hv", "dash": "dot", "color": FRONT_COLOUR},
        marker={"size": 11, "color": FRONT_COLOUR}, text=[short_layer_name(l["name"]) for l in on],
        textposition="top right", customdata=[l["name"] for l in on],
        hovertemplate="%{customdata}<br>alignment %{x:.3g}<br>importance %{y:.3g}<extra></extra>"))
    if chosen:
        pick = next((l for l in layers if l["name"] == chosen), None)
        if pick is not None:
            label = f"edited: {chosen}"
            if slug.get("lambda") is not None:
                label += f" (lambda = {slug['lambda']:.3g})"
            fig.add_trace(go.Scatter(
                x=[max(pick["alignment"], tiny)], y=[max(pick["importance"], tiny)], mode="markers",
                name=label, marker={"symbol": "star", "size": 22, "color": "#ffbf00",
                                    "line": {"width": 1.5, "color": "black"}},
                hovertemplate=f"{chosen}<br>the layer SLUG changed<extra></extra>"))
    subtitle = ("on the original model, for this forget target" if not slug.get("trace")
                else "star = the one layer SLUG edited")
    fig.update_layout(
        title={"text": f"SLUG layer selection (Pareto front)<br><sup>{subtitle}</sup>"},
        xaxis={"type": "log", "title": "alignment |cos(g_forget, g_retain)| (lower is better)"},
        yaxis={"type": "log", "title": "importance ||g_forget|| / ||theta|| (higher is better)"},
        height=440, margin={"l": 70, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


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
    if slug.get("lambda") is not None:
        fig.add_vline(x=slug["lambda"], line_color="#333", line_width=1,
                      annotation_text=f"accepted lambda {slug['lambda']:.3g}", annotation_position="top left")
    fig.update_layout(
        title={"text": f"SLUG step-size search: {chosen}<br><sup>binary search over lambda "
                       "(numbers = order)</sup>"},
        xaxis={"type": "log", "title": "step size lambda"}, yaxis={"title": "score (%)", "range": [-5, 105]},
        height=440, margin={"l": 60, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


# ------------------------------------------------------------------------------------------------------
# Compare

COMPARE_METRICS = (("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia", "MIA"), ("forget_acc", "Forget acc."),
                   ("retain_acc", "Retain acc."), ("fid", "FID"))
DOING_NOTHING = "Doing nothing (original)"   # the reference row of the compare and sweep tables
SWEEP_REFERENCE = "doing nothing (original model)"  # ... and the dashed line of the sweep plot


def _metric_cells(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {label: round(float(metrics[key]), 2) for key, label in COMPARE_METRICS if key in metrics}


def _original_gap(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Doing nothing's Avg. Gap to Retrain (the same for every row: one model, target and seed), if reported."""
    return next((float(row["report"]["avg_gap_original"]) for row in rows if "avg_gap_original" in row["report"]),
                None)


def compare_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per method: its metrics, gap to Retrain and run time; first, where the reports have an Avg. Gap,
    a row for doing nothing (the original model's metrics and gap, no run time)."""
    rows = list(rows)
    out = []
    for row in rows:
        report = row["report"]
        entry = {"Method": row.get("label", report.get("method")),
                 **_metric_cells(report["metrics"].get("unlearned", {}))}
        entry["Avg. Gap"] = round(float(report["avg_gap"]), 2) if "avg_gap" in report else None
        entry["KL to Retrain"] = round(float(report["kl_to_retrain"]), 3) if "kl_to_retrain" in report else None
        entry["Run time (s)"] = round(float(report["runtime_s"]["unlearn"]), 2)
        out.append(entry)
    original_gap = _original_gap(rows)
    if original_gap is not None:
        # KL to Retrain is not measured for the original, so that one cell stays empty.
        out.insert(0, {"Method": DOING_NOTHING, **_metric_cells(rows[0]["report"]["metrics"].get("original", {})),
                       "Avg. Gap": round(original_gap, 2), "KL to Retrain": None, "Run time (s)": 0.0})
    return pd.DataFrame(out)


def compare_chart(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Two panels: each method's Avg. Gap to Retrain (lower is better) and its unlearning run time, with
    Retrain's own run time as the reference line."""
    if not rows:
        return message_figure("Pick at least one method and press Compare.")
    labels = [row.get("label", row["report"]["method"]) for row in rows]
    gaps = [row["report"].get("avg_gap") for row in rows]
    times = [row["report"]["runtime_s"]["unlearn"] for row in rows]
    retrain_time = next((row["report"]["runtime_s"].get("retrain") for row in rows
                         if row["report"]["runtime_s"].get("retrain") is not None), None)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Avg. Gap to Retrain (points, lower is better)",
                                                       "Unlearning run time (s)"))
    order = np.argsort([g if g is not None else math.inf for g in gaps])
    fig.add_trace(go.Bar(x=[labels[i] for i in order], y=[gaps[i] for i in order], marker_color=FRONT_COLOUR,
                         name="Avg. Gap", text=[f"{gaps[i]:.2f}" if gaps[i] is not None else "n/a" for i in order],
                         textposition="outside"), row=1, col=1)
    fig.add_trace(go.Bar(x=[labels[i] for i in order], y=[times[i] for i in order], marker_color=ACCENT,
                         name="run time", text=[f"{times[i]:.1f}" for i in order], textposition="outside"),
                  row=1, col=2)
    if retrain_time is not None:
        fig.add_hline(y=retrain_time, line_dash="dash", line_color="#333", row=1, col=2,
                      annotation_text=f"Retrain {retrain_time:.1f} s", annotation_position="top left")
    original_gap = _original_gap(rows)
    if original_gap is not None:
        fig.add_hline(y=original_gap, line_dash="dash", line_color="#333", row=1, col=1,
                      annotation_text=f"doing nothing: {original_gap:.2f}", annotation_position="top right")
        # Room for the reference line and the bar labels above the tallest bar.
        tallest = max([original_gap, *[g for g in gaps if g is not None]])
        fig.update_yaxes(range=[0, 1.2 * tallest if tallest > 0 else 1.0], row=1, col=1)
    fig.update_layout(height=420, showlegend=False, margin={"l": 50, "r": 20, "t": 60, "b": 60},
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
    """Which methods beat doing nothing (a smaller mean Avg. Gap than the original's) at every share."""
    nothing = sweep["original"]["mean"]
    winners = [entry["label"] for entry in sweep["methods"].values()
               if all(gap < reference for gap, reference in zip(entry["mean"], nothing))]
    if len(winners) == len(sweep["methods"]):
        return "Every method beats doing nothing at every share."
    if not winners:
        return "No method beats doing nothing at every share."
    return f"Beat doing nothing at every share: {', '.join(winners)}."


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
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_annotations(font_size=11)
    fig.update_layout(
        title={"text": f"{attr.get('method_label', 'Attribution')} for the true label, before and after "
                       "unlearning<br><sup>where the model finds evidence for the forgotten class</sup>"},
        height=max(260, 190 * n + 90), margin={"l": 10, "r": 10, "t": 90, "b": 10}, plot_bgcolor="white")
    return fig


# ------------------------------------------------------------------------------------------------------
# Generated images

def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def sample_grid_image(samples: np.ndarray, classes: Sequence[int], per_class: int, forget_class: int | None,
                      cell: int = 40, pad: int = 4, dark_ink: bool = True) -> np.ndarray:
    """Rows = classes, columns = seeds; ``samples`` in [0, 1] ordered class-major (1 = ink, drawn dark on
    white). The forget class's row is framed in red. Returns an RGB uint8 array (nearest-neighbour
    upscaling keeps pixels crisp)."""
    samples = np.asarray(samples)
    rows = len(classes)
    height, width = rows * (cell + pad) + pad, per_class * (cell + pad) + pad
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, cls in enumerate(classes):
        top = pad + r * (cell + pad)
        if forget_class is not None and cls == forget_class:
            canvas[top - pad:top + cell + pad, :] = (214, 39, 40)
        for c in range(per_class):
            image = _to_uint8(1.0 - np.asarray(samples[r * per_class + c]) if dark_ink else samples[r * per_class + c])
            ys = np.arange(cell) * image.shape[0] // cell
            xs = np.arange(cell) * image.shape[1] // cell
            left = pad + c * (cell + pad)
            canvas[top:top + cell, left:left + cell] = image[ys][:, xs]
    return canvas


def prompt_grid_image(samples: np.ndarray, prompts: Sequence[str], per_prompt: int, marked: Sequence[bool],
                      cell: int = 40, pad: int = 4, label_width: int = 250) -> np.ndarray:
    """Text-to-image grid: one row per prompt (its text on the left; rows asking for the erased concept
    framed and labelled in red), one column per seed. ``samples`` (N, 3, H, W) in [0, 1], prompt-major."""
    from PIL import Image, ImageDraw, ImageFont

    samples = np.asarray(samples)
    rows = len(prompts)
    height, width = rows * (cell + pad) + pad, label_width + per_prompt * (cell + pad) + pad
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for r in range(rows):
        top = pad + r * (cell + pad)
        if marked[r]:
            canvas[top - pad:top + cell + pad, label_width:] = (214, 39, 40)
        for c in range(per_prompt):
            image = _to_uint8(samples[r * per_prompt + c])
            ys = np.arange(cell) * image.shape[0] // cell
            xs = np.arange(cell) * image.shape[1] // cell
            left = label_width + pad + c * (cell + pad)
            canvas[top:top + cell, left:left + cell] = image[ys][:, xs]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    for r, prompt in enumerate(prompts):
        text = prompt if len(prompt) <= 40 else prompt[:39] + "..."
        draw.text((4, pad + r * (cell + pad) + cell // 2 - 6), text, fill=(214, 39, 40) if marked[r] else (0, 0, 0),
                  font=font)
    return np.asarray(picture)


def generated_grid_image(generated: dict, which: str) -> np.ndarray:
    """The before/after/retrain grid of ``inspection.before_after_samples`` for either kind of generative
    model: class rows (class-conditional) or prompt rows (text-to-image)."""
    if generated.get("prompts") is not None:
        return prompt_grid_image(generated[which], generated["prompts"], generated["per_class"], generated["marked"])
    return sample_grid_image(generated[which], generated["classes"], generated["per_class"], generated["forget_class"])


# ------------------------------------------------------------------------------------------------------
# Audits (unlearn_core/audit): membership inference, relearning, concept inversion
AUDIT_MODELS = (("unlearned", "unlearned", ACCENT), ("original", "original (doing nothing)", "#333333"),
                ("retrain", "Retrain", "#2ca02c"))


def _audit_layout(fig: go.Figure, title: str, subtitle: str, xaxis: dict, yaxis: dict) -> go.Figure:
    fig.update_layout(title={"text": f"{title}<br><sup>{subtitle}</sup>"}, xaxis=xaxis, yaxis=yaxis, height=420,
                      margin={"l": 60, "r": 20, "t": 80, "b": 50}, legend={"orientation": "h", "y": -0.22},
                      plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    return fig


def ulira_roc_figure(ulira: Mapping[str, Any]) -> go.Figure:
    """ROC of the per-example attack (forget samples vs never-seen ones) on the unlearned model, the original
    and Retrain, with each AUC in its legend entry and the chance diagonal."""
    roc = ulira.get("roc") or {}
    if not roc:
        return message_figure("No membership-inference result to plot.")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                             line={"dash": "dot", "color": "#999"}, hoverinfo="skip"))
    for key, label, colour in AUDIT_MODELS:
        curve = roc.get(key)
        if not curve:
            continue
        auc = ulira.get("auc") if key == "unlearned" else (ulira.get(key) or {}).get("auc")
        name = f"{label}: AUC {auc:.3f}" if auc is not None else label
        fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=name,
                                 line={"color": colour, "width": 3 if key == "unlearned" else 2},
                                 hovertemplate=f"{label}<br>FPR %{{x:.3f}}<br>TPR %{{y:.3f}}<extra></extra>"))
    subtitle = (f"{ulira.get('members', '?')} forgotten vs {ulira.get('non_members', '?')} never-seen samples, "
                f"{ulira.get('shadows', '?')} shadows")
    return _audit_layout(fig, "Per-example membership inference (U-LiRA)", subtitle,
                         {"title": "false positive rate (never-seen called member)", "range": [0, 1]},
                         {"title": "true positive rate (forgotten sample caught)", "range": [0, 1.02]})


def relearn_figure(relearn: Mapping[str, Any]) -> go.Figure:
    """Forget score against attack steps from the unlearned model, the original and Retrain; the dashed line
    is the recovery threshold (half the original's score)."""
    curves = [(key, label, colour, relearn[key]["curve"]) for key, label, colour in AUDIT_MODELS
              if relearn.get(key) and relearn[key].get("curve")]
    if not curves:
        return message_figure("No relearning result to plot.")
    fig = go.Figure()
    for key, label, colour, curve in curves:
        steps = relearn[key].get("steps_to_recover")
        suffix = f": recovers at step {steps}" if steps is not None else f": not within {relearn.get('steps')} steps"
        fig.add_trace(go.Scatter(x=[p[0] for p in curve], y=[p[1] for p in curve], mode="lines+markers",
                                 name=label + suffix, line={"color": colour, "width": 3 if key == "unlearned" else 2},
                                 hovertemplate=f"{label}<br>step %{{x}}<br>score %{{y:.1f}}<extra></extra>"))
    threshold = relearn.get("threshold")
    if threshold is not None:
        fig.add_hline(y=threshold, line={"dash": "dash", "color": FRONT_COLOUR},
                      annotation_text=f"recovered: {threshold:.1f}", annotation_position="top left")
    last = max(p[0] for _, _, _, c in curves for p in c)
    top = max([p[1] for _, _, _, c in curves for p in c] + [threshold or 0.0])
    subtitle = f"fine-tuning on {relearn.get('samples', '?')} forget samples; Retrain learns the target from scratch"
    return _audit_layout(fig, "Relearning attack", subtitle,
                         {"title": "attack step", "range": [-0.5, last + 0.5]},
                         {"title": relearn.get("score_name", "forget score (%)"), "range": [-2, max(105.0, top + 5)]})


def inversion_figure(inversion: Mapping[str, Any]) -> go.Figure:
    """The forget score without and with the learned embedding: the unlearned model, the original (the positive
    control: the attack must find the concept there) and Retrain where one exists."""
    groups = [("unlearned", "unlearned", inversion)] + [
        (key, label, inversion[key]) for key, label, _ in AUDIT_MODELS[1:] if inversion.get(key)]
    if "erasure" not in inversion:
        return message_figure("No concept-inversion result to plot.")
    labels = [label for _, label, _ in groups]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[g["erasure"] for _, _, g in groups], name="plain prompt",
                         marker_color="#9ecae1", text=[f"{g['erasure']:.0f}%" for _, _, g in groups],
                         textposition="outside"))
    fig.add_trace(go.Bar(x=labels, y=[g["erasure_under_attack"] for _, _, g in groups], name="learned embedding",
                         marker_color=FRONT_COLOUR, text=[f"{g['erasure_under_attack']:.0f}%" for _, _, g in groups],
                         textposition="outside"))
    fig.update_layout(barmode="group")
    score = inversion.get("score_name", "samples showing the concept")
    return _audit_layout(fig, "Concept inversion", "a new embedding learned against each frozen model",
                         {"title": "model"}, {"title": f"{score} (%)", "range": [0, 115]})


def audit_summary_markdown(audit: Mapping[str, Any]) -> str:
    """One line per attack with its verdict numbers, read against the original and Retrain."""
    lines = []
    if "ulira" in audit:
        u = audit["ulira"]
        original, retrain = u.get("original") or {}, u.get("retrain") or {}
        lines.append(f"**Membership (U-LiRA):** AUC {u['auc']:.3f} (original {original.get('auc', float('nan')):.3f}, "
                     f"Retrain {retrain.get('auc', float('nan')):.3f}); TPR at 1% FPR {u['tpr_at_1pct_fpr']:.1f}%. "
                     f"The population attack's MIA-efficacy: {u.get('mia_efficacy', {}).get('unlearned', float('nan')):.1f}.")
    if "relearn" in audit:
        r = audit["relearn"]
        steps = lambda part: ("not shipped" if part is None else  # noqa: E731
                              f"step {part['steps_to_recover']}" if part["steps_to_recover"] is not None
                              else f"not within {r['steps']} steps")
        lines.append(f"**Relearning:** the unlearned model recovers half the original's score at "
                     f"{steps(r['unlearned'])}; Retrain at {steps(r.get('retrain'))}.")
    if "inversion" in audit:
        i = audit["inversion"]
        control = i.get("original") or {}
        lines.append(f"**Concept inversion:** {i['erasure']:.0f}% of samples show it plainly, "
                     f"{i['erasure_under_attack']:.0f}% with the learned embedding (control on the original: "
                     f"{control.get('erasure_under_attack', float('nan')):.0f}%).")
    seconds = audit.get("seconds") or {}
    if seconds:
        lines.append("Audit time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ".")
    return "\n\n".join(lines) or "No audit yet."
