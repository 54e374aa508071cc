"""Every figure and table the app shows, built from the plain data the core returns.

Nothing here trains or evaluates a model: inputs are reports (dicts of numbers), per-layer saliency arrays,
SLUG's layer scores and search trace and attribution arrays. Outputs are plotly figures and pandas tables
(plain or styled), so the app only wires them to components. One module per panel:

- ``common``: the Lab's colours, the "nothing to plot" figure, the readers of a report over seeds;
- ``metrics_table``: the metrics table, its colours and the summary paragraph under it;
- ``saliency``: a layer's saliency heatmap and the salient share per layer;
- ``slug``: SLUG's Pareto plot and its step-size search trace;
- ``compare``: the Compare tab's table, chart and verdict;
- ``sweep``: the forget-amount sweep's figure, PNG and verdict;
- ``attribution``: the attributions before and after;
- ``audit``: the audits' figures and verdict lines;
- ``lessons``: the Learn tab's figures, from ``learn_figures.json``;
- ``sample_grids``: the labelled before/after sample grids of generative models;
- ``label_layout``: where crowded labels go (short distinct names, each point's label inside the plot).

The names of the first seven are re-exported here, so callers write ``plots.slug_pareto(...)``; the last four
are imported by module (``from unlearn_core.plots import audit``).
"""
from __future__ import annotations

from .attribution import attribution_figure, keep_square_pixels
from .common import ACCENT, FRONT_COLOUR, message_figure, runs_of, summary_of
from .compare import (AVG_GAP, COMPARE_METRICS, DOING_NOTHING, GENERATION_GAP, KL_COLUMN, RUNTIME_COLUMN,
                      RUNTIME_NOTE, RUNTIME_NOTE_LINES, compare_chart, compare_frame, compare_verdict)
from .metrics_table import (AVG_GAP_EXPLANATION, COLUMNS, EXPLANATION_COLUMN, FAMILY_METRIC_EXPLANATIONS,
                            FAMILY_METRIC_LABELS, FID_WORSENING_FLAG_PERCENT, GAP_COLUMN, GENERATION_GAP_EXPLANATION,
                            GENERATION_GAP_LABEL, INFORMATION_CELLS, METRIC_EXPLANATIONS, METRIC_LABELS,
                            comparison_colour, comparison_strength, doing_nothing_verdict, fid_warning,
                            lost_most_cell, metric_explanation, metric_label, metrics_frame, report_family,
                            styled_metrics, summary_markdown)
from .saliency import (BAR_ROW_PX, MAX_HEATMAP_COLS, MAX_HEATMAP_ROWS, MAX_HOVER_NAMES, MAX_SHARE_ROWS,
                       SALIENCY_TITLES, SHARE_AXIS_PX, SHARE_LABEL_CHARS, SHARE_LABEL_PX, SHARE_NOTE_PX,
                       SHARE_TITLE_PX, downsample, heatmap_axes, layer_rows, saliency_heatmap, salient_share_bars,
                       share_bars_height)
from .slug import (FRONT_MARKER_PX, OTHER_MARKER_PX, PARETO_HEIGHT, PARETO_MARGIN, PARETO_PLOT_HEIGHT_PX,
                   PARETO_PLOT_WIDTH_PX, STAR_MARKER_PX, TINY_SCORE, log_axis_range, short_layer_name,
                   slug_pareto, slug_search_trace)
from .sweep import SWEEP_REFERENCE, sweep_figure, sweep_png, sweep_verdict
