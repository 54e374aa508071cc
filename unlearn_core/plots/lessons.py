"""The Learn tab's figures, one per lesson, drawn from the plain data in ``learn_figures.json``
(``lesson_data``) with the Lab's own plot builders where the Lab has one (salient shares, SLUG's Pareto
plot, attributions) and grouped bars in the Lab's colours for the rest."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .attribution import attribution_figure
from .common import ACCENT, FRONT_COLOUR, message_figure
from .saliency import salient_share_bars
from .slug import slug_pareto

ORIGINAL_COLOUR, RETRAIN_COLOUR, FORGET_COLOUR = "#333333", ACCENT, FRONT_COLOUR
LESSON_HEIGHT = 300  # small: a figure illustrates a lesson, it is not a result panel


def _titled(fig: go.Figure, title: str, subtitle: str, height: int | None = None) -> go.Figure:
    fig.update_layout(title={"text": f"{title}<br><sup>{subtitle}</sup>"}, height=height or LESSON_HEIGHT)
    return fig


def grouped_bars(categories: Sequence[Any], series: Sequence[tuple[str, Sequence[float], str]], title: str,
                 subtitle: str, x_title: str, y_title: str, y_max: float | None = None,
                 stacked: bool = False) -> go.Figure:
    """Bars of each (name, values, colour) series over ``categories``, side by side (or stacked); the y axis
    runs from 0 to ``y_max`` (default: a tenth above the largest bar or stack), so every bar is inside it."""
    labels = [str(c) for c in categories]
    fig = go.Figure([go.Bar(x=labels, y=list(values), name=name, marker_color=colour,
                            hovertemplate=f"{name}<br>%{{x}}: %{{y:.3g}}<extra></extra>")
                     for name, values, colour in series])
    tallest = (max(map(sum, zip(*(values for _, values, _ in series)))) if stacked
               else max(max(values) for _, values, _ in series))
    fig.update_layout(barmode="stack" if stacked else "group", plot_bgcolor="white",
                      xaxis={"title": x_title, "type": "category"},
                      yaxis={"title": y_title, "range": [0, y_max or 1.1 * max(tallest, 1e-9)], "gridcolor": "#eee"},
                      legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
                      margin={"l": 60, "r": 20, "t": 90, "b": 50})
    return _titled(fig, title, subtitle)


def split_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["classes"], [("retain set D_r", data["retain"], RETRAIN_COLOUR),
                                          ("forget set D_f", data["forget"], FORGET_COLOUR)],
                        "Forget set and retain set (digits-cnn, forget class 3)",
                        "training images of each class; D_f is every 3", "digit class", "training images",
                        stacked=True)


def class_accuracy_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["classes"], [("original", data["original"], ORIGINAL_COLOUR),
                                          ("Retrain (never saw a 3)", data["retrain"], RETRAIN_COLOUR)],
                        "Retrain: test accuracy per class", "digits-cnn; Retrain scores 0% on the forgotten class 3",
                        "digit class", "test accuracy (%)", y_max=110)


def metrics_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["metrics"], [("original", data["original"], ORIGINAL_COLOUR),
                                          ("Retrain", data["retrain"], RETRAIN_COLOUR)],
                        "UA, RA, TA and MIA of the original and of Retrain",
                        "digits-cnn, forget class 3: a method should land on the Retrain bars", "metric", "%",
                        y_max=110)


def _share_figure(data: Mapping[str, Any], kind: str, title: str, subtitle: str) -> go.Figure:
    layers = data["layers"]
    total = sum(np.prod(l["shape"]) for l in layers)
    overall = sum(l["salient_share"] * np.prod(l["shape"]) for l in layers) / max(total, 1)
    fig = salient_share_bars(layers, float(overall), kind)
    return _titled(fig, title, subtitle, fig.layout.height)


def saliency_figure(data: Mapping[str, Any]) -> go.Figure:
    return _share_figure(data, "gradient", "SalUn's mask per layer (digits-cnn, forget class 3)",
                         f"top {100 * data['ratio']:.0f}% of |grad of the forget loss| over the whole model")


def fisher_figure(data: Mapping[str, Any]) -> go.Figure:
    return _share_figure(data, "fisher_ratio", "SFR-on's mask per layer (digits-cnn, forget class 3)",
                         f"weights whose Fisher ratio F_f / F_r is at least gamma = {data['gamma']:g}")


def slug_figure(data: Mapping[str, Any]) -> go.Figure:
    fig = slug_pareto(data)
    return _titled(fig, "SLUG's candidate layers (digits-cnn, forget class 3)",
                   "Pareto front: no other layer is both more important and less aligned", 400)


def generalisation_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["models"], [("training images", data["train"], ORIGINAL_COLOUR),
                                         ("test images (never seen)", data["test"], RETRAIN_COLOUR)],
                        "Generalising against memorising", "accuracy of the two shipped digit classifiers",
                        "model", "accuracy (%)", y_max=110)


def membership_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["bins"], [("training images (members)", data["members"], ORIGINAL_COLOUR),
                                       ("test images (non-members)", data["non_members"], RETRAIN_COLOUR)],
                        "What a membership attack reads (digits-mlp)",
                        "confidence in the true label: members pile up near 1", "confidence in the true label",
                        "% of the images")


def gan_figure(data: Mapping[str, Any]) -> go.Figure:
    return grouped_bars(data["classes"], [("original GAN", data["original"], ORIGINAL_COLOUR),
                                          ("Retrain GAN (trained without 3s)", data["retrain"], RETRAIN_COLOUR)],
                        "What digits-gan draws from the same latents",
                        f"class of {data['samples']} samples, as the digits classifier reads them", "digit class",
                        "% of the samples")


def attributions_figure(data: Mapping[str, Any]) -> go.Figure:
    fig = attribution_figure(data)
    return _titled(fig, "Integrated Gradients on a forgotten 3 (digits-cnn)",
                   "evidence for the true label: the original, then Retrain in the unlearned column", 330)


FIGURE_BUILDERS: dict[str, Callable[[Mapping[str, Any]], go.Figure]] = {
    "split": split_figure, "class-accuracy": class_accuracy_figure, "metrics": metrics_figure,
    "saliency": saliency_figure, "fisher": fisher_figure, "slug": slug_figure,
    "generalisation": generalisation_figure, "membership": membership_figure, "gan": gan_figure,
    "attributions": attributions_figure,
}


def lesson_figure(name: str, lesson_data: Mapping[str, Any]) -> go.Figure:
    """The figure ``name`` (a key of ``FIGURE_BUILDERS``) from the data ``lesson_data.lesson_data`` wrote."""
    if name not in FIGURE_BUILDERS:
        raise KeyError(f"no lesson figure named {name!r}; known: {', '.join(FIGURE_BUILDERS)}")
    figures = lesson_data["figures"]
    if name not in figures:
        return message_figure(f"No data for this figure: run {lesson_data['provenance']['command']}.", 200)
    return FIGURE_BUILDERS[name](figures[name])
