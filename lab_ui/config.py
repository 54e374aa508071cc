"""Defaults of the page and the examples computed at start-up (plain constants, no imports)."""
from __future__ import annotations

DEFAULT_MODEL = "digits-cnn"
DEFAULT_FORGET = "class:3"
DEFAULT_METHOD = "salun"
DEFAULT_SEED = 0
DEFAULT_SWEEP_SHARES = "10,20,30,40,50"  # the forget-amount sweep's shares (%), as in SalUn's Figure 1
# Examples shown under the controls; the first is the page's default and is computed at start-up.
EXAMPLES = [
    [DEFAULT_MODEL, DEFAULT_FORGET, DEFAULT_METHOD, DEFAULT_SEED],
    [DEFAULT_MODEL, DEFAULT_FORGET, "slug", DEFAULT_SEED],
    [DEFAULT_MODEL, DEFAULT_FORGET, "sfr_on", DEFAULT_SEED],
    # Random forgetting on the classifier that memorises: on digits-cnn doing nothing is already near Retrain.
    ["digits-mlp", "random:10", DEFAULT_METHOD, DEFAULT_SEED],
]
# The example's attribution choice: the warm-up computes it and the page's default view looks it up.
DEFAULT_ATTRIBUTION = "integrated_gradients"
ATTRIBUTION_CHOICES = [("Integrated Gradients", "integrated_gradients"), ("Saliency", "saliency"), ("None", "none")]
COMPUTE = "compute"  # concurrency id shared by every event that trains or evaluates
# Gradio lets this many compute events in at once; inside, lab_ui.state.QUEUE runs one at a time, one per visitor,
# and tells the others their place and expected wait (so gradio's own queue is only the overflow).
COMPUTE_WORKERS = 12
# Defaults of the public-demo limits (app.py's --budget, --cache-mb and their environment variables).
DEFAULT_BUDGET_S = 120.0
DEFAULT_CACHE_MB = 200
DEFAULT_PER_CLIENT = 2  # requests waiting in the queue from one network address (app.py's --per-client)
