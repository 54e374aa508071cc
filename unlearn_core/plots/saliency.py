"""The weight-saliency panels: one layer's saliency heatmap with its mask laid over it, and the salient share
of every layer (grouped by module when there are many)."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .common import ACCENT, FRONT_COLOUR, message_figure
from .label_layout import distinct_short_names, fit_labels

SALIENCY_TITLES = {"gradient": "|grad L_f| (SalUn)", "fisher_ratio": "Fisher ratio F_f / F_r (SFR-on)"}
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
