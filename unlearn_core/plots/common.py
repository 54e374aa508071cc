"""What every panel of the plots package shares: the Lab's two colours, the figure that says why there is
nothing to plot, and the readers of a report (its seeds' runs, their summary, a number or "mean ± std" cell)."""
from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go

from ..spread import seed_summary

FRONT_COLOUR = "#d62728"
ACCENT = "#1f77b4"


def message_figure(text: str, height: int = 320) -> go.Figure:
    """An empty figure that says why there is nothing to plot (keeps every panel's layout stable)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#555"})
    fig.update_layout(height=height, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, plot_bgcolor="white")
    return fig


def runs_of(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The per-seed reports of a result: ``runs`` of a request repeated over seeds, else the report itself."""
    return list(report["runs"]) if "runs" in report else [report]


def summary_of(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """The summary over seeds of a result (:func:`unlearn_core.spread.seed_summary`; one seed: n = 1)."""
    return report["summary"] if "summary" in report else seed_summary([report])


def spread_cell(spread: Mapping[str, Any] | None) -> Any:
    """A table cell: the number (one seed) or "mean ± std" (several)."""
    if spread is None:
        return None
    if spread["n"] == 1:
        return round(float(spread["mean"]), 2)
    return f"{spread['mean']:.2f} ± {spread['std']:.2f}"
