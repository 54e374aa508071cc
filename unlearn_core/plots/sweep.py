"""The forget-amount sweep's panels (SalUn's Figure 1): each method's Avg. Gap to Retrain against the share
forgotten, beside doing nothing, as a plotly figure or a PNG, and the verdict line."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

SWEEP_REFERENCE = "doing nothing (original model)"  # the dashed line of the sweep plot


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
    from ..sweep import share_judgement

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
