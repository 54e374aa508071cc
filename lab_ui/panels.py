"""Turning an inspection view into the values of the Lab's result panels; every figure comes from
``unlearn_core.plots``. Values are named after the panels; ``RUN_PANELS`` gives their order in the ``/run`` API."""
from __future__ import annotations

from typing import Any

import gradio as gr

from unlearn_core import plots
from unlearn_core.plots import sample_grids

# The /run API's outputs, in order (new panels go at the end, so an API client's earlier outputs keep their places);
# the view itself follows them, into the session's state.
RUN_PANELS = ("status", "metrics", "summary", "layer", "heatmap", "share_bars", "pareto", "trace", "generative_group",
              "slider", "gallery", "attribution_group", "attribution_plot", "weights_file", "report_file",
              "large_view")
RUN_OUTPUTS = len(RUN_PANELS) + 1


def layer_heatmap(view: dict[str, Any], layer: str):
    """The weight-saliency heatmap of one layer of a view (SFR-on's Fisher-ratio threshold gamma drawn in)."""
    layers = view["saliency"]["layers"]
    names = [item.name for item in layers]
    kind = view["saliency"]["kind"]
    threshold = view["report"]["hyperparameters"].get("gamma") if kind == "fisher_ratio" else None
    return plots.saliency_heatmap(layers[names.index(layer)], kind, threshold)


def panel_values(view: dict[str, Any], status: str) -> list[Any]:
    """Values for the outputs of a run (``tabs.ResultPanels.outputs``): one per panel of ``tabs.RUN_PANELS``,
    then the view itself, which goes into the session's ``gr.State``."""
    values = named_panel_values(view, status)
    return [*(values[name] for name in RUN_PANELS), view]


def named_panel_values(view: dict[str, Any], status: str) -> dict[str, Any]:
    """The value of each result panel for ``view``, by panel name."""
    report = view["report"]
    saliency = view.get("saliency")
    if saliency and saliency.get("layers"):
        layers = saliency["layers"]
        names = [layer.name for layer in layers]
        first = _default_layer(layers)
        heatmap = layer_heatmap(view, first)
        bars = plots.salient_share_bars(layers, saliency.get("salient_share"), saliency["kind"])
        layer_update = gr.Dropdown(choices=names, value=first, interactive=True)
    else:
        note = (f"{report['method']} computes no weight saliency.<br>"
                "SalUn, SalUn-soft and SFR-on do: pick one of them to see the heatmap.")
        heatmap, bars = plots.message_figure(note), plots.message_figure("No saliency mask in this run.")
        layer_update = gr.Dropdown(choices=[], value=None, interactive=False)
    slug = view.get("slug")
    hyper = report.get("hyperparameters", {})
    if slug:
        pareto = plots.slug_pareto(slug)
        trace = plots.slug_search_trace(slug, hyper.get("retain_tolerance"), hyper.get("target_slack"))
    else:
        pareto = plots.message_figure("No layer analysis for this model.")
        trace = plots.slug_search_trace({})
    generated = view.get("generated")
    if generated:
        slider = sample_grids.before_after_slider(generated, report["method"])
        # One labelled image per model (titles, seeds and rows inside the picture); captions one word long, so
        # the gallery never cuts them off.
        gallery = [(sample_grids.labelled_grid_image(generated, [(which, title)]), caption)
                   for which, title, caption in sample_grids.grid_panels(generated, report["method"])]
        large = sample_grids.large_view_image(generated, report["method"])
        generative_group = gr.Column(visible=True)
    else:
        slider, gallery, large, generative_group = None, [], None, gr.Column(visible=False)
    attribution = view.get("attribution")
    attribution_fig = (plots.attribution_figure(attribution) if attribution else plots.message_figure(
        "Input attributions are shown for classifiers (choose Integrated Gradients or Saliency)."))
    attribution_group = gr.Column(visible=view.get("family", "classification") == "classification")
    files = view.get("files", {})
    result = view.get("seeds") or report  # a request repeated over seeds: the table shows their spread
    return {"status": status, "metrics": plots.styled_metrics(result), "summary": plots.summary_markdown(result),
            "layer": layer_update, "heatmap": heatmap, "share_bars": bars, "pareto": pareto, "trace": trace,
            "generative_group": generative_group, "slider": slider, "gallery": gallery,
            "attribution_group": attribution_group, "attribution_plot": attribution_fig,
            "weights_file": files.get("weights"), "report_file": files.get("report"), "large_view": large}


def _default_layer(layers: list[Any]) -> str:
    """Show the largest weight tensor first (the most informative heatmap)."""
    weights = [layer for layer in layers if not layer.name.endswith("bias")] or layers
    return max(weights, key=lambda layer: layer.scores.size).name


def timing_text(elapsed_s: float, queued_s: float) -> str:
    """How long a request took, its time computing apart from its time waiting in the queue (a slow answer on a
    busy app is mostly waiting, which the request's own settings do not change)."""
    computed = max(elapsed_s - queued_s, 0.0)
    return f"computed in {computed:.1f} s after {queued_s:.1f} s in the queue"


def partial_text(partial: dict[str, Any] | None) -> str:
    """The status line's opening for a request a limit stopped after some of its parts (the core's
    ``runner.partial_record``): why, what is shown and what was not finished; "" for a whole request."""
    if not partial:
        return ""
    parts = ", ".join(f"{part:g}" for part in partial["finished"])
    missing = ", ".join(f"{part:g}" for part in partial["not_finished"])
    return (f"**Partial**: {partial['reason']}; shown: the {partial['what']} it finished ({parts}); not finished: "
            f"{missing}. ")


def done_status(view: dict[str, Any], cached: bool, elapsed: float, queued_s: float = 0.0) -> str:
    """The status line of a finished run: ``elapsed`` seconds in all, ``queued_s`` of them in the queue."""
    report = view["report"]
    where = "answered from the cache of identical runs" if cached else timing_text(elapsed, queued_s)
    seeds = (view.get("seeds") or {}).get("seeds") or [report["seed"]]
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} runs)"
    return (f"{partial_text(view.get('partial'))}**Done**: {report['method']} on {report['model']}, forget "
            f"`{report['forget']}`, {which} ({where}).")

