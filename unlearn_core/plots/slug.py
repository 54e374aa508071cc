"""SLUG's panels: the log-log Pareto plot of its layer selection (the front labelled, the edited layer starred)
and the trace of its step-size search."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import plotly.graph_objects as go

from .common import ACCENT, FRONT_COLOUR, message_figure
from .label_layout import layout_log_scatter, point_labels


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
