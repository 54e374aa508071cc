"""Unlearning Lab: the Gradio app.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--no-warmup]

Pick a shipped model, a forget target and a method (its hyperparameters are generated from the method's
dataclass), run it, and inspect the metrics against Retrain, the weight-saliency heatmaps, SLUG's Pareto plot,
input attributions and, for generative models, before/after samples. This file only wires the UI: the runs
come from ``unlearn_core.runner``, the per-run data from ``unlearn_core.inspection`` and every figure from
``unlearn_core.plots``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from unlearn_core.errors import DivergenceError, UnlearningInputError
from unlearn_core.methods import METHODS, get_method
from unlearn_core.zoo import available_models, get_model_spec

LOG = logging.getLogger("unlearning-lab")
ROOT = Path(__file__).resolve().parent
LEARN_PAGE = ROOT / "unlearn_core" / "learn.md"
RUNS_DIR = Path(tempfile.gettempdir()) / "unlearning-lab-runs"
DEFAULT_MODEL = "digits-cnn"
DEFAULT_FORGET = "class:3"
DEFAULT_METHOD = "salun"
DEFAULT_SEED = 0
# Examples shown under the controls; the first is the page's default and is computed at start-up.
EXAMPLES = [
    [DEFAULT_MODEL, DEFAULT_FORGET, DEFAULT_METHOD, DEFAULT_SEED],
    [DEFAULT_MODEL, DEFAULT_FORGET, "slug", DEFAULT_SEED],
    [DEFAULT_MODEL, DEFAULT_FORGET, "sfr_on", DEFAULT_SEED],
    [DEFAULT_MODEL, "random:10", DEFAULT_METHOD, DEFAULT_SEED],
]
ATTRIBUTION_CHOICES = [("Integrated Gradients", "integrated_gradients"), ("Saliency", "saliency"), ("None", "none")]
COMPUTE = "compute"  # concurrency id shared by every event that trains or evaluates


class RunCancelled(Exception):
    """The user pressed Cancel; raised from the progress callback so the computation stops early."""


# ------------------------------------------------------------------------------------------------------
# Shared, read-only-after-write state of the server process (per-session results live in gr.State).

class ResultCache:
    """Finished runs by their full request (model, forget, method, seed, validated hyperparameters, ...).
    Runs are seeded and deterministic, so an identical request is answered from here at once."""

    def __init__(self, size: int = 24):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: tuple) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: tuple, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class CancelFlags:
    """One flag per browser session (gradio's session hash); Cancel sets it, the next progress call raises."""

    def __init__(self):
        self.flags: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        with self.lock:
            flag = self.flags[session] = threading.Event()
            return flag

    def cancel(self, session: str) -> bool:
        with self.lock:
            flag = self.flags.get(session)
        if flag is None:
            return False
        flag.set()
        return True


VIEWS = ResultCache()           # run request -> inspection view (what the panels show)
REPORTS = ResultCache(64)       # run request without attribution -> report (Compare reuses Lab runs)
CANCEL = CancelFlags()
COMPUTE_LOCK = threading.Lock()  # one computation at a time on this small CPU (runs, compare, warm-up)
WARMUP_DONE = threading.Event()


def session_id(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "api"


def user_errors(fn: Callable) -> Callable:
    """Turn the core's deliberate errors into readable messages in the page (gr.Error); an unexpected error
    is logged with its traceback and shown as one line, and the server carries on."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UnlearningInputError as error:
            raise gr.Error(str(error), title="Invalid input", print_exception=False) from None
        except DivergenceError as error:
            raise gr.Error(str(error), title="The run diverged", print_exception=False) from None
        except RunCancelled:
            raise gr.Error("The run was cancelled.", title="Cancelled", print_exception=False) from None
        except Exception as error:  # noqa: BLE001  (the UI boundary: log it, tell the user, keep serving)
            LOG.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Unexpected error: {type(error).__name__}: {error}. The server is still running; "
                           "the details are in its log.", title="Error", print_exception=False) from None

    return wrapper


# ------------------------------------------------------------------------------------------------------
# Models, methods and their hyperparameters (all read from the core's registries)

def model_choices() -> list[tuple[str, str]]:
    return [(f"{name} ({get_model_spec(name).family})", name) for name in available_models()]


def methods_for(family: str) -> list[tuple[str, str]]:
    return [(cls.label, name) for name, cls in METHODS.items() if family in cls.tasks]


def family_of(model: str) -> str:
    return get_model_spec(model).family


def describe_method(method: str, family: str) -> dict[str, Any]:
    return get_method(method).describe(family)


def method_markdown(method: str, family: str) -> str:
    info = describe_method(method, family)
    text = f"**{info['label']}**: {info['summary']}"
    if info["reference"]:
        text += f"  \n*{info['reference']}*"
    if info["equation"]:
        text += f"\n\n<details><summary>What it computes</summary>\n\n{info['equation']}\n\n</details>"
    return text


def model_markdown(model: str) -> str:
    spec = get_model_spec(model)
    kinds = ", ".join(spec.forget_kinds)
    return f"{spec.description}. Family: `{spec.family}`; forget targets: {kinds}."


def hyperparameter_control(method: str, field: dict[str, Any]) -> gr.components.Component:
    """A control for one dataclass field: dropdown for choices, checkbox for booleans, number, or text."""
    common = {"label": field["name"], "info": f"{field['help']} ({field['valid']})",
              "elem_id": f"hp-{method}-{field['name']}"}
    if field["choices"]:
        return gr.Dropdown(choices=list(field["choices"]), value=field["default"], **common)
    if field["type"] == "boolean":
        return gr.Checkbox(value=field["default"], **common)
    if field["type"] == "integer":
        return gr.Number(value=field["default"], precision=0, **common)
    if field["type"] == "number":
        return gr.Number(value=field["default"], **common)
    return gr.Textbox(value=str(field["default"]), max_lines=1, **common)


def parse_overrides(text: str | dict | None) -> dict[str, Any]:
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnlearningInputError(f"hyperparameters must be a JSON object like {{\"epochs\": 2}}; {error}") from None
    if not isinstance(value, dict):
        raise UnlearningInputError(f"hyperparameters must be a JSON object like {{\"epochs\": 2}}; got {text!r}")
    return value


def normalise_request(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any) -> tuple:
    """Validate a request up front (clear errors before any work) and return its cache key."""
    if not model:
        raise UnlearningInputError(f"choose a model; available: {', '.join(available_models())}")
    spec = get_model_spec(str(model))
    request = spec.parse_forget(str(forget or ""))
    if not method:
        raise UnlearningInputError("choose a method")
    method_obj = get_method(method).for_task(spec.family, overrides)
    if seed is None or isinstance(seed, bool):
        raise UnlearningInputError(f"seed must be a non-negative integer; got {seed!r}")
    try:
        seed_value = float(seed)
    except (TypeError, ValueError):
        raise UnlearningInputError(f"seed must be a non-negative integer; got {seed!r}") from None
    if seed_value < 0 or not seed_value.is_integer():
        raise UnlearningInputError(f"seed must be a non-negative integer; got {seed!r}")
    config = json.dumps(dataclasses.asdict(method_obj.config), sort_keys=True, default=str)
    return (spec.name, str(request), method_obj.name, int(seed_value), config)


# ------------------------------------------------------------------------------------------------------
# Running

class WaitingVisitors:
    """How many visitors' runs are waiting for the compute slot: the start-up warm-up lets them go first."""

    def __init__(self):
        self._count, self._lock = 0, threading.Lock()

    def __enter__(self):
        with self._lock:
            self._count += 1

    def __exit__(self, *exc):
        with self._lock:
            self._count -= 1

    def any(self) -> bool:
        return self._count > 0


WAITING = WaitingVisitors()


def acquire_compute(flag: threading.Event | None, progress: Callable[[float, str], None],
                    background: bool = False) -> None:
    """Wait for the one computation slot, honouring Cancel. A ``background`` caller (the warm-up) waits until
    no visitor is waiting, so a visitor never queues behind more than the example being computed."""
    if background:
        while True:
            while WAITING.any():
                time.sleep(0.2)
            if COMPUTE_LOCK.acquire(timeout=0.5):
                if not WAITING.any():
                    return
                COMPUTE_LOCK.release()  # a visitor arrived meanwhile: let them go first
    with WAITING:
        while not COMPUTE_LOCK.acquire(timeout=0.5):
            if flag is not None and flag.is_set():
                raise RunCancelled()
            progress(0.0, "waiting for the example being computed at start-up to finish")


def compute_view(model: str, forget: str, method: str, overrides: dict[str, Any], seed: int, with_retrain: bool,
                 attribution: str, progress: Callable[[float, str], None], flag: threading.Event | None = None,
                 background: bool = False):
    """Run (or fetch) one request and inspect it; returns (view, from_cache)."""
    key = (*normalise_request(model, forget, method, overrides, seed), bool(with_retrain), attribution)
    cached = VIEWS.get(key)
    if cached is not None:
        return cached, True
    from unlearn_core.inspection import inspect_run
    from unlearn_core.runner import run_unlearning

    def report(fraction: float, message: str) -> None:
        if flag is not None and flag.is_set():
            raise RunCancelled()
        progress(fraction, message)

    acquire_compute(flag, report, background)
    try:
        cached = VIEWS.get(key)  # someone may have computed it while we waited
        if cached is not None:
            return cached, True
        outcome = run_unlearning(model, forget, method, int(float(seed)), overrides, bool(with_retrain),
                                 lambda f, m: report(0.85 * f, m))
        out_dir = Path(tempfile.mkdtemp(prefix=f"{outcome.report['method']}-", dir=_runs_dir()))
        view = inspect_run(outcome, out_dir, None if attribution == "none" else attribution,
                           lambda f, m: report(0.85 + 0.15 * f, m))
    finally:
        COMPUTE_LOCK.release()
    VIEWS.put(key, view)
    REPORTS.put(key[:-1], view["report"])
    return view, False


def _runs_dir() -> Path:
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    return RUNS_DIR


def warm_up(examples: list[list[Any]]) -> None:
    """Compute the examples in the background after the server is up, so a first visitor sees results at once
    (the first one fills the page on load) and the default forget target's Retrain is cached."""
    try:
        for i, (model, forget, method, seed) in enumerate(examples):
            if model not in available_models():
                continue
            start = time.perf_counter()
            compute_view(model, forget, method, {}, seed, True, "integrated_gradients", lambda f, m: None,
                         background=True)
            LOG.info("warm-up: %s %s %s ready in %.1f s", model, forget, method, time.perf_counter() - start)
            if i == 0:
                WARMUP_DONE.set()
    except (UnlearningInputError, DivergenceError) as error:
        LOG.warning("warm-up stopped: %s", error)
    finally:
        WARMUP_DONE.set()


def default_view() -> dict[str, Any] | None:
    model, forget, method, seed = EXAMPLES[0]
    try:
        key = (*normalise_request(model, forget, method, {}, seed), True, "integrated_gradients")
    except UnlearningInputError:
        return None
    return VIEWS.get(key)


# ------------------------------------------------------------------------------------------------------
# Turning a view into panel values (figures come from unlearn_core.plots)

def panel_values(view: dict[str, Any], status: str) -> list[Any]:
    """Values for RESULT_OUTPUTS, in order."""
    from unlearn_core import plots

    report = view["report"]
    saliency = view.get("saliency")
    if saliency and saliency.get("layers"):
        layers = saliency["layers"]
        names = [layer.name for layer in layers]
        first = _default_layer(layers)
        threshold = report["hyperparameters"].get("gamma") if saliency["kind"] == "fisher_ratio" else None
        heatmap = plots.saliency_heatmap(layers[names.index(first)], saliency["kind"], threshold)
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
        before = plots.generated_grid_image(generated, "before")
        after = plots.generated_grid_image(generated, "after")
        slider = (before, after)
        gallery = [(before, "before: the original model"), (after, f"after: {report['method']}")]
        if generated.get("retrain") is not None:
            gallery.append((plots.generated_grid_image(generated, "retrain"), "Retrain (never saw the class)"))
        generative_group = gr.Column(visible=True)
    else:
        slider, gallery, generative_group = None, [], gr.Column(visible=False)
    attribution = view.get("attribution")
    attribution_fig = (plots.attribution_figure(attribution) if attribution else plots.message_figure(
        "Input attributions are shown for classifiers (choose Integrated Gradients or Saliency)."))
    attribution_group = gr.Column(visible=view.get("family", "classification") == "classification")
    files = view.get("files", {})
    return [status, plots.styled_metrics(report), plots.summary_markdown(report), layer_update, heatmap, bars,
            pareto, trace, generative_group, slider, gallery, attribution_group, attribution_fig, files.get("weights"),
            files.get("report"), view]


def _default_layer(layers: list[Any]) -> str:
    """Show the largest weight tensor first (the most informative heatmap)."""
    weights = [layer for layer in layers if not layer.name.endswith("bias")] or layers
    return max(weights, key=lambda layer: layer.scores.size).name


def _status(view: dict[str, Any], cached: bool, elapsed: float) -> str:
    report = view["report"]
    where = "answered from the cache of identical runs" if cached else f"computed in {elapsed:.1f} s"
    return (f"**Done**: {report['method']} on {report['model']}, forget `{report['forget']}`, seed {report['seed']} "
            f"({where}).")


# ------------------------------------------------------------------------------------------------------
# Event handlers (each one is also an API endpoint where it does work)

@user_errors
def run(model: str, forget: str, method: str, hyperparameters: str, seed: float, with_retrain: bool = True,
        attribution: str = "integrated_gradients", progress=gr.Progress(), request: gr.Request = None):
    """Unlearn `forget` from `model` with `method` (hyperparameters as a JSON object of overrides) and return
    every result panel: status, metrics, summary, saliency layer choice, heatmap, share bars, Pareto plot,
    search trace, before/after slider and gallery, attributions, weights file, report file."""
    start = time.perf_counter()
    attribution_key = _attribution_key(attribution)
    flag = CANCEL.start(session_id(request))
    overrides = parse_overrides(hyperparameters)
    view, cached = compute_view(model, forget, method, overrides, seed, with_retrain, attribution_key,
                                lambda f, m: progress(f, desc=m), flag)
    return panel_values(view, _status(view, cached, time.perf_counter() - start))


def _attribution_key(value: str | None) -> str:
    if value in (None, "", "none", "None"):
        return "none"
    from unlearn_core.attribution import attribution_method_key

    return attribution_method_key(value)


@user_errors
def cancel(request: gr.Request = None) -> str:
    """Stop this session's running computation (Lab run or Compare)."""
    stopped = CANCEL.cancel(session_id(request))
    return "**Cancelled.**" if stopped else "Nothing is running."


@user_errors
def saliency_layer(view: dict[str, Any] | None, layer: str):
    """The heatmap of another layer of this session's last run."""
    from unlearn_core import plots

    if not view or not (view.get("saliency") or {}).get("layers"):
        raise UnlearningInputError("run a method with weight saliency (SalUn, SalUn-soft, SFR-on) first")
    layers = view["saliency"]["layers"]
    names = [item.name for item in layers]
    if layer not in names:
        raise UnlearningInputError(f"layer must be one of {', '.join(names)}; got {layer!r}")
    kind = view["saliency"]["kind"]
    threshold = view["report"]["hyperparameters"].get("gamma") if kind == "fisher_ratio" else None
    return plots.saliency_heatmap(layers[names.index(layer)], kind, threshold)


@user_errors
def compare(model: str, forget: str, methods: list[str], seed: float, hyperparameters: str = "",
            progress=gr.Progress(), request: gr.Request = None):
    """Run several methods on one forget target (each with its defaults, or the overrides given as a JSON
    object {method: {name: value}}) and return a status line, the table and the gap/run-time chart."""
    from unlearn_core import plots
    from unlearn_core.runner import run_unlearning

    if not methods:
        raise UnlearningInputError("pick at least one method to compare")
    per_method = parse_overrides(hyperparameters)
    unknown = [name for name in per_method if name not in methods]
    if unknown:
        raise UnlearningInputError(f"overrides given for methods not selected: {', '.join(unknown)}")
    keys = []
    for name in methods:
        overrides = per_method.get(name) or {}
        if not isinstance(overrides, dict):
            raise UnlearningInputError(f"overrides for {name} must be a JSON object; got {overrides!r}")
        keys.append((*normalise_request(model, forget, name, overrides, seed), True))
    flag = CANCEL.start(session_id(request))
    start = time.perf_counter()
    rows = []

    def report(fraction: float, message: str) -> None:
        if flag.is_set():
            raise RunCancelled()
        progress(fraction, desc=message)

    for i, (name, key) in enumerate(zip(methods, keys)):
        result = REPORTS.get(key)
        if result is None:
            acquire_compute(flag, report)
            try:
                outcome = run_unlearning(model, forget, name, int(float(seed)), per_method.get(name) or {}, True,
                                         lambda f, m, i=i: report((i + f) / len(methods), f"{name}: {m}"))
            finally:
                COMPUTE_LOCK.release()
            result = outcome.report
            REPORTS.put(key, result)
        rows.append({"label": get_method(name).label, "report": result})
    status = (f"**Compared** {len(rows)} methods on {model}, forget `{rows[0]['report']['forget']}`, seed "
              f"{rows[0]['report']['seed']} in {time.perf_counter() - start:.1f} s.")
    return status, plots.compare_frame(rows), plots.compare_chart(rows)


@user_errors
def describe(model: str, method: str) -> dict[str, Any]:
    """The method's description and hyperparameters (defaults for this model's family) as JSON."""
    family = family_of(model)
    if method not in dict((v, k) for k, v in methods_for(family)):
        raise UnlearningInputError(f"method {method!r} does not apply to {model}; valid: "
                                   f"{', '.join(v for _, v in methods_for(family))}")
    return describe_method(method, family)


# ------------------------------------------------------------------------------------------------------
# The page

def build_app(warmup_examples: list[list[Any]] | None = None) -> gr.Blocks:
    models = model_choices()
    model_names = [value for _, value in models]
    first_model = DEFAULT_MODEL if DEFAULT_MODEL in model_names else (model_names[0] if model_names else None)
    family = family_of(first_model) if first_model else "classification"
    spec = get_model_spec(first_model) if first_model else None
    method_options = methods_for(family)
    pool: list[tuple[str, str, gr.components.Component]] = []  # (method, field, control)
    groups: dict[str, gr.Group] = {}

    with gr.Blocks(title="Unlearning Lab", analytics_enabled=False) as demo:
        gr.Markdown("# Unlearning Lab\nMake a trained image model forget a class or a random share of its data, "
                    "and see how close each method gets to **Retrain**, the model trained without it.")
        session = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Lab", id="lab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=330):
                        model_dd = gr.Dropdown(models, value=first_model, label="Model", elem_id="model")
                        model_info = gr.Markdown(model_markdown(first_model) if first_model else "No model.",
                                                 elem_id="model-info")
                        kinds = list(spec.forget_kinds) if spec else ["class"]
                        forget_kind = gr.Radio(kinds, value=kinds[0], label="Forget", elem_id="forget-kind")
                        classes = [str(c) for c in range(spec.num_classes or 0)] if spec else []
                        default_class = DEFAULT_FORGET.split(":")[1]
                        forget_class = gr.Dropdown(classes, value=default_class if default_class in classes else None,
                                                   label="Class to forget", elem_id="forget-class")
                        forget_share = gr.Slider(1, 50, value=10, step=1, label="Random share of the training set (%)",
                                                 visible=False, elem_id="forget-share")
                        forget_concept = gr.Textbox(label="Concept to forget (prompt models)", visible=False,
                                                    placeholder="e.g. triangle")
                        forget_target = gr.Textbox(DEFAULT_FORGET, label="Forget target",
                                                   info="class:K, random:P or concept:WORDS (set by the pickers above)",
                                                   max_lines=1, elem_id="forget-target")
                        method_dd = gr.Dropdown(method_options, value=DEFAULT_METHOD, label="Method", elem_id="method")
                        method_info = gr.Markdown(method_markdown(DEFAULT_METHOD, family))
                        seed = gr.Number(DEFAULT_SEED, label="Seed", precision=0, elem_id="seed",
                                         info="decides random forget sets and the method's randomness")
                        with_retrain = gr.Checkbox(True, label="Compare with Retrain (shipped for every class; trained and cached for random shares)",
                                                   elem_id="with-retrain")
                        attribution = gr.Radio(ATTRIBUTION_CHOICES, value="integrated_gradients",
                                               label="Input attributions (captum)")
                        with gr.Row():
                            run_btn = gr.Button("Run", variant="primary", elem_id="run-button")
                            cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-button")
                        with gr.Accordion("Hyperparameters (defaults from the method's paper, scaled to this data)",
                                          open=True):
                            for name, cls in METHODS.items():
                                fields = cls.describe(family)["hyperparameters"]
                                with gr.Group(visible=name == DEFAULT_METHOD) as group:
                                    if not fields:
                                        gr.Markdown(f"{cls.label} has no hyperparameters.")
                                    for field in fields:
                                        pool.append((name, field["name"], hyperparameter_control(name, field)))
                                groups[name] = group
                            reset_btn = gr.Button("Reset to defaults", size="sm")
                        with gr.Accordion("Run request as the API receives it", open=False):
                            hp_json = gr.Code("{}", language="json", label="hyperparameters (JSON overrides)",
                                              interactive=True, elem_id="hp-json")
                    with gr.Column(scale=3):
                        gr.Examples(EXAMPLES, inputs=[model_dd, forget_target, method_dd, seed],
                                    label="Examples (computed at start-up; Run answers them at once)")
                        status = gr.Markdown(
                            "Press **Run**." + (" The example is being computed in the background and appears here "
                                                "when it is ready." if warmup_examples else ""),
                            elem_id="status", label="status")
                        metrics = gr.Dataframe(headers=["Metric", "Original", "Unlearned", "Retrain", "Gap to Retrain"],
                                               label="Metrics: original, unlearned and Retrain (gap to Retrain "
                                                     "highlighted)", elem_id="metrics-table", interactive=False)
                        summary = gr.Markdown(elem_id="summary", label="summary")
                        with gr.Row():
                            with gr.Column(scale=3):
                                layer_dd = gr.Dropdown([], label="Layer", elem_id="layer", interactive=False,
                                                       allow_custom_value=True)
                                heatmap = gr.Plot(label="Weight saliency", elem_id="saliency-heatmap")
                            with gr.Column(scale=2):
                                share_bars = gr.Plot(label="Salient share per layer", elem_id="saliency-bars")
                        with gr.Row():
                            pareto = gr.Plot(label="SLUG Pareto plot", elem_id="slug-pareto")
                            trace = gr.Plot(label="SLUG step-size search", elem_id="slug-trace")
                        with gr.Column(visible=False) as generative_group:
                            gr.Markdown("### Before / after (same seeds; the forget class's row is framed in red)")
                            with gr.Row():
                                slider = gr.ImageSlider(label="original | unlearned", elem_id="before-after-slider",
                                                        type="numpy")
                                gallery = gr.Gallery(label="Sample grids", elem_id="before-after-gallery", columns=3)
                        with gr.Column() as attribution_group:
                            attribution_plot = gr.Plot(label="Input attributions on forget samples",
                                                       elem_id="attributions")
                        with gr.Row():
                            weights_file = gr.File(label="Unlearned weights (safetensors)", elem_id="weights-file",
                                                   height=100)
                            report_file = gr.File(label="Report (JSON)", elem_id="report-file", height=100)
            with gr.Tab("Compare", id="compare"):
                gr.Markdown("Run several methods on one forget target. Retrain is computed once and shared; "
                            "each method uses its defaults unless overridden below.")
                with gr.Row():
                    compare_model = gr.Dropdown(models, value=first_model, label="Model", elem_id="compare-model")
                    compare_forget = gr.Textbox(DEFAULT_FORGET, label="Forget target", max_lines=1,
                                                elem_id="compare-forget")
                    compare_seed = gr.Number(DEFAULT_SEED, label="Seed", precision=0)
                compare_methods = gr.CheckboxGroup([c for c in method_options if c[1] != "retrain"],
                                                   value=["salun", "sfr_on", "slug"], label="Methods",
                                                   elem_id="compare-methods")
                compare_overrides = gr.Code("", language="json", label='Per-method overrides (optional), e.g. '
                                            '{"salun": {"epochs": 2}}', interactive=True)
                with gr.Row():
                    compare_btn = gr.Button("Compare", variant="primary", elem_id="compare-button")
                    compare_cancel = gr.Button("Cancel", variant="stop")
                compare_status = gr.Markdown(label="status")
                compare_table = gr.Dataframe(label="Methods against Retrain", interactive=False,
                                             elem_id="compare-table")
                compare_plot = gr.Plot(label="Gap to Retrain and run time", elem_id="compare-chart")
            with gr.Tab("Learn", id="learn"):
                gr.Markdown(LEARN_PAGE.read_text(encoding="utf-8"), latex_delimiters=[])
                gr.Markdown(methods_table())

        result_outputs = [status, metrics, summary, layer_dd, heatmap, share_bars, pareto, trace, generative_group,
                          slider, gallery, attribution_group, attribution_plot, weights_file, report_file, session]
        controls = [control for _, _, control in pool]

        # --- glue: model -> forget pickers, method list and hyperparameter defaults -------------------------
        def on_model(model: str):
            spec = get_model_spec(model)
            kinds = list(spec.forget_kinds)
            options = methods_for(spec.family)
            values = [option for _, option in options]
            defaults = {(name, f["name"]): f["default"] for name, cls in METHODS.items()
                        for f in cls.describe(spec.family)["hyperparameters"]}
            classes = [str(c) for c in range(spec.num_classes or 0)]
            kind, value = spec.default_forget.split(":", 1)
            return [model_markdown(model), gr.Radio(choices=kinds, value=kind),
                    gr.Dropdown(choices=classes, value=value if kind == "class" else None),
                    gr.Dropdown(choices=options, value=DEFAULT_METHOD if DEFAULT_METHOD in values else values[0]),
                    spec.default_forget, gr.Textbox(value=value if kind == "concept" else ""),
                    *[gr.update(value=defaults[(name, field)]) for name, field, _ in pool]]

        model_dd.input(user_errors(on_model), model_dd,
                       [model_info, forget_kind, forget_class, method_dd, forget_target, forget_concept, *controls],
                       api_visibility="private")

        def on_kind(kind: str, klass: str, share: float, concept: str):
            target = {"class": f"class:{klass}", "random": f"random:{share:g}", "concept": f"concept:{concept}"}
            return [gr.Dropdown(visible=kind == "class"), gr.Slider(visible=kind == "random"),
                    gr.Textbox(visible=kind == "concept"), target.get(kind, "")]

        picker_inputs = [forget_kind, forget_class, forget_share, forget_concept]
        picker_outputs = [forget_class, forget_share, forget_concept, forget_target]
        for picker in picker_inputs:
            picker.input(on_kind, picker_inputs, picker_outputs, api_visibility="private")
        forget_kind.change(on_kind, picker_inputs, picker_outputs, api_visibility="private")

        def on_method(model: str, method: str):
            if not method:
                return [""] + [gr.Group(visible=False) for _ in groups]
            return [method_markdown(method, family_of(model))] + [gr.Group(visible=name == method) for name in groups]

        method_dd.change(user_errors(on_method), [model_dd, method_dd], [method_info, *groups.values()],
                         api_visibility="private")

        def on_reset(model: str, method: str):
            defaults = {f["name"]: f["default"] for f in describe_method(method, family_of(model))["hyperparameters"]}
            return [gr.update(value=defaults[field]) if name == method else gr.skip() for name, field, _ in pool]

        reset_btn.click(user_errors(on_reset), [model_dd, method_dd], controls, api_visibility="private")

        def collect(model: str, method: str, *values):
            """Gather the selected method's controls into the JSON the run receives (and validate it)."""
            if not method:
                raise UnlearningInputError("choose a method")
            overrides = {field: value for (name, field, _), value in zip(pool, values) if name == method}
            get_method(method).for_task(family_of(model), overrides)
            return json.dumps(overrides, indent=1)

        run_event = run_btn.click(user_errors(collect), [model_dd, method_dd, *controls], hp_json,
                                  api_visibility="private").success(
            run, [model_dd, forget_target, method_dd, hp_json, seed, with_retrain, attribution], result_outputs,
            api_name="run", concurrency_limit=1, concurrency_id=COMPUTE)
        cancel_btn.click(cancel, None, status, api_name="cancel", cancels=[run_event], queue=False)
        layer_dd.input(saliency_layer, [session, layer_dd], heatmap, api_name="saliency_layer")

        compare_event = compare_btn.click(
            compare, [compare_model, compare_forget, compare_methods, compare_seed, compare_overrides],
            [compare_status, compare_table, compare_plot], api_name="compare", concurrency_limit=1,
            concurrency_id=COMPUTE)
        compare_cancel.click(cancel, None, compare_status, api_name="cancel_compare", cancels=[compare_event],
                             queue=False)

        def on_compare_model(model: str):
            spec = get_model_spec(model)
            options = [c for c in methods_for(spec.family) if c[1] != "retrain"]
            return gr.CheckboxGroup(choices=options, value=[v for _, v in options][:3]), spec.default_forget

        compare_model.input(user_errors(on_compare_model), compare_model, [compare_methods, compare_forget],
                            api_visibility="private")
        gr.api(describe, api_name="describe")

        # --- the example, shown as soon as the start-up warm-up has it -------------------------------------
        timer = gr.Timer(2.0, active=warmup_examples is not None)

        def show_example(current: dict | None):
            skip = [gr.skip()] * len(result_outputs)
            if current is not None:
                return [*skip, gr.Timer(active=False)]
            view = default_view()
            if view is None:
                if WARMUP_DONE.is_set():
                    return [*skip, gr.Timer(active=False)]
                return [*skip, gr.skip()]
            values = panel_values(view, "**Example** (computed at start-up): SalUn on digits-cnn, forget class 3. "
                                        "Change anything and press **Run**.")
            return [*values, gr.Timer(active=False)]

        demo.load(show_example, session, [*result_outputs, timer], api_visibility="private")
        timer.tick(show_example, session, [*result_outputs, timer], api_visibility="private")
    return demo


def methods_table() -> str:
    lines = ["### The methods in this lab", "", "| method | what it does | applies to | reference |",
             "| --- | --- | --- | --- |"]
    for cls in METHODS.values():
        lines.append(f"| {cls.label} | {cls.summary} | {', '.join(cls.tasks)} | {cls.reference} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Unlearning Lab (Gradio app)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (default 127.0.0.1, local only; 0.0.0.0 for all; "
                             "$GRADIO_SERVER_NAME as on Hugging Face Spaces)")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port (default: $PORT, else $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    parser.add_argument("--no-warmup", action="store_true", help="do not compute the examples at start-up")
    parser.add_argument("--warmup-examples", type=int, default=len(EXAMPLES),
                        help="how many examples to compute at start-up (the first fills the page)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    examples = None if args.no_warmup else EXAMPLES[:max(args.warmup_examples, 0)]
    demo = build_app(examples)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                allowed_paths=[str(_runs_dir())], footer_links=["api", "gradio"])
    LOG.info("Unlearning Lab is up on http://%s:%d", args.host, args.port)
    if examples:
        threading.Thread(target=warm_up, args=(examples,), name="warm-up", daemon=True).start()
    else:
        WARMUP_DONE.set()
    demo.block_thread()


if __name__ == "__main__":
    main()
