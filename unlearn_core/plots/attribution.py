"""The attributions panel: each forget sample beside the original and the unlearned model's attribution for
its true label, pixels kept square."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


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
