"""The Compare tab's panels: one row per method (metrics, gap to Retrain, KL, run time) beside doing nothing,
the bar chart of gaps and run times, and the verdict over seeds."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..spread import gap_pair, indistinguishable, interval
from .common import ACCENT, FRONT_COLOUR, message_figure, runs_of, spread_cell, summary_of

COMPARE_METRICS = (("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia", "MIA"), ("forget_acc", "Forget acc."),
                   ("retain_acc", "Retain acc."), ("erasure", "Concept drawn (%)"),
                   ("erasure_paraphrase", "Reworded concept drawn (%)"), ("preservation", "Other prompts as asked (%)"),
                   ("fid", "FID"))
DOING_NOTHING = "Doing nothing (original)"   # the reference row of the compare and sweep tables
AVG_GAP = "Avg. Gap"                     # classifiers' gap column (SalUn's Avg. Gap)
GENERATION_GAP = "Gap to Retrain (gen.)"  # class-conditional generation's gap column (metrics.generation_gap)
KL_COLUMN = "KL to Retrain"
RUNTIME_COLUMN = "Run time (s)"
RUNTIME_NOTE_LINES = ("Run times are those measured when each run was computed.",
                      "A run answered from the cache keeps its old time, measured under another machine load: "
                      "such times are not comparable.")
RUNTIME_NOTE = " ".join(RUNTIME_NOTE_LINES)


def _metric_cells(spreads: Mapping[str, Any]) -> dict[str, Any]:
    return {label: spread_cell(spreads[key]) for key, label in COMPARE_METRICS if key in spreads}


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
                    gap_name: None if gaps is None else spread_cell(gaps[0]),
                    KL_COLUMN: spread_cell(interval(kl)) if kl else None,
                    RUNTIME_COLUMN: spread_cell(summary["runtime_s"]["unlearn"])})
    original_gap = _original_gap(rows)
    if original_gap is not None:
        # KL to Retrain is not measured for the original, so that one cell stays empty.
        out.insert(0, {"Method": DOING_NOTHING, **_metric_cells(summary_of(rows[0]["report"])["metrics"].get(
            "original", {})), gap_name: spread_cell(original_gap), KL_COLUMN: None, RUNTIME_COLUMN: 0.0})
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
