"""The components of the Lab and Compare tabs (the Learn tab is in ``learn``): one function builds each part of the page and returns
its components (in the dataclasses below) for ``layout`` to wire. Labels and ``elem_id`` values are what the
browser tests and users see: keep them."""
from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from unlearn_core import plots
from unlearn_core.audit import ATTACKS, attacks_for
from unlearn_core.methods import METHODS
from unlearn_core.runner import MAX_SEEDS
from unlearn_core.zoo import get_model_spec

from lab_ui.catalogue import (attributions_apply, default_forget_kind, method_markdown, model_markdown,
                              retrain_applies, retrain_note)
from lab_ui.config import (ATTRIBUTION_CHOICES, DEFAULT_ATTRIBUTION, DEFAULT_FORGET, DEFAULT_METHOD, DEFAULT_SEED,
                           DEFAULT_SWEEP_SHARES, EXAMPLES)
from lab_ui.panels import RUN_PANELS
from lab_ui.state import LIMITS

Component = gr.components.Component
SHARE_RANGE = (1, 50)  # the random-share slider's whole percents (a target box may name any share in (0, 100))


@dataclasses.dataclass
class HyperparameterControls:
    """A control per (method, field), generated from the method dataclasses; each method's controls sit in a
    group that is visible only while that method is selected."""
    pool: list[tuple[str, str, Component]]  # (method, field, control)
    groups: dict[str, gr.Group]
    reset_button: gr.Button

    @property
    def controls(self) -> list[Component]:
        return [control for _, _, control in self.pool]


@dataclasses.dataclass
class LabControls:
    """The Lab tab's left column: what to run."""
    model: gr.Dropdown
    model_info: gr.Markdown
    forget_kind: gr.Radio
    forget_class: gr.Dropdown
    forget_share: gr.Slider
    forget_concept: gr.Textbox
    forget_target: gr.Textbox
    method: gr.Dropdown
    method_info: gr.Markdown
    seed: gr.Number
    repeat: gr.Slider
    with_retrain: gr.Checkbox
    attribution: gr.Radio
    run_button: gr.Button
    cancel_button: gr.Button
    hyperparameters: HyperparameterControls
    hp_json: gr.Code
    share_button: gr.Button
    share_link: gr.Textbox


@dataclasses.dataclass
class LargeView:
    """The before/after grids at full page width (an overlay over the page), opened by "View large"."""
    open_button: gr.Button
    panel: gr.Column
    image: gr.Image
    close_button: gr.Button


@dataclasses.dataclass
class ResultPanels:
    """The Lab tab's right column: what a run shows. Each panel is a field here, and ``panels.RUN_PANELS`` names, in
    the public ``/run`` API's order, the panels a run fills: ``panels.panel_values`` returns a value per name, so a
    new panel is a field, a name in ``RUN_PANELS`` and a value."""
    status: gr.Markdown
    metrics: gr.Dataframe
    summary: gr.Markdown
    layer: gr.Dropdown
    heatmap: gr.Plot
    share_bars: gr.Plot
    pareto: gr.Plot
    trace: gr.Plot
    generative_group: gr.Column
    slider: gr.ImageSlider
    gallery: gr.Gallery
    attribution_group: gr.Column
    attribution_plot: gr.Plot
    weights_file: gr.File
    report_file: gr.File
    large_view: LargeView

    def component(self, name: str) -> Component:
        return self.large_view.image if name == "large_view" else getattr(self, name)

    def outputs(self, session: gr.State) -> list[Component]:
        """The outputs of a run: the panels of ``RUN_PANELS`` in its order, then the view (into ``session``)."""
        return [*(self.component(name) for name in RUN_PANELS), session]


@dataclasses.dataclass
class AuditSection:
    """The Lab tab's audit of the last run: which attacks, their knobs (generated from the attacks' config
    dataclasses, one group per attack), and the verdict panels."""
    attacks: gr.CheckboxGroup
    pool: list[tuple[str, str, Component]]  # (attack, field, control)
    settings_json: gr.Code
    run_button: gr.Button
    cancel_button: gr.Button
    status: gr.Markdown
    summary: gr.Markdown
    roc: gr.Plot
    relearn: gr.Plot
    inversion: gr.Plot
    audited: gr.State  # which run the panels show an audit of (``handlers.run_identity``)

    @property
    def controls(self) -> list[Component]:
        return [control for _, _, control in self.pool]

    def outputs(self) -> list[Component]:
        return [self.status, self.summary, self.roc, self.relearn, self.inversion, self.audited]


@dataclasses.dataclass
class SweepSection:
    """The Compare tab's forget-amount sweep: the tab's methods over several random shares."""
    shares: gr.Textbox
    run_button: gr.Button
    cancel_button: gr.Button
    status: gr.Markdown
    chart: gr.Plot
    shown: gr.State  # what the chart shows ({"model": ...}; None before the first sweep)


@dataclasses.dataclass
class CompareTab:
    """The Compare tab: several methods on one forget target, then the forget-amount sweep."""
    model: gr.Dropdown
    forget: gr.Textbox
    seed: gr.Number
    repeat: gr.Slider
    methods: gr.CheckboxGroup
    overrides: gr.Code
    compare_button: gr.Button
    cancel_button: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    chart: gr.Plot
    sweep: SweepSection
    shown: gr.State  # what the table and chart show ({"model": ..., "forget": ...}; None before the first)


NUMBER_KINDS = ("integer", "number")  # the knob types a text box stands for a number of (``number_kind``)


def hyperparameter_control(method: str, field: dict[str, Any]) -> Component:
    """A control for one dataclass field: dropdown for choices, checkbox for booleans, else a one-line text box.
    A number is typed as text too: a browser's number field sends its last good value, or a mangled one, for
    "abc", "0,01" or nothing, while text reaches the server as typed and the run names what is wrong with it."""
    common = {"label": field["name"], "info": f"{field['help']} ({field['valid']})",
              "elem_id": f"hp-{method}-{field['name']}"}
    if field["choices"]:
        return gr.Dropdown(choices=list(field["choices"]), value=field["default"], **common)
    if field["type"] == "boolean":
        return gr.Checkbox(value=field["default"], **common)
    kind = [f"hp-{field['type']}"] if field["type"] in NUMBER_KINDS else []
    return gr.Textbox(value=str(field["default"]), max_lines=1, elem_classes=kind, **common)


def number_kind(control: Component) -> str | None:
    """The knob type ("integer" or "number") a text box of ``hyperparameter_control`` holds, None for others."""
    return next((kind for kind in NUMBER_KINDS if f"hp-{kind}" in (control.elem_classes or [])), None)


def hyperparameter_controls(family: str, model: str | None) -> HyperparameterControls:
    """Every method's controls with their defaults for ``family`` (tuned for ``model`` and its default kind of
    forget target where there are tuned ones); the default method's group is shown."""
    pool: list[tuple[str, str, Component]] = []
    groups: dict[str, gr.Group] = {}
    kind = default_forget_kind(model) if model else None
    for name, cls in METHODS.items():
        fields = cls.describe(family, model, kind)["hyperparameters"]
        with gr.Group(visible=name == DEFAULT_METHOD) as group:
            if not fields:
                gr.Markdown(f"{cls.label} has no hyperparameters.")
            for field in fields:
                pool.append((name, field["name"], hyperparameter_control(name, field)))
        groups[name] = group
    reset_button = gr.Button("Reset to defaults", size="sm")
    return HyperparameterControls(pool, groups, reset_button)


def lab_controls(models: list[tuple[str, str]], first_model: str | None, family: str,
                 method_options: list[tuple[str, str]]) -> LabControls:
    spec = get_model_spec(first_model) if first_model else None
    model_dd = gr.Dropdown(models, value=first_model, label="Model", elem_id="model")
    model_info = gr.Markdown(model_markdown(first_model) if first_model else "No model.", elem_id="model-info")
    kinds = list(spec.forget_kinds) if spec else ["class"]
    forget_kind = gr.Radio(kinds, value=kinds[0], label="Forget", elem_id="forget-kind")
    classes = [str(c) for c in range(spec.num_classes or 0)] if spec else []
    default_class = DEFAULT_FORGET.split(":")[1]
    forget_class = gr.Dropdown(classes, value=default_class if default_class in classes else None,
                               label="Class to forget", elem_id="forget-class")
    forget_share = gr.Slider(*SHARE_RANGE, value=10, step=1, label="Random share of the training set (%)",
                             visible=False, elem_id="forget-share")
    forget_concept = gr.Textbox(label="Concept to forget (prompt models)", visible=False,
                                placeholder="e.g. triangle")
    forget_target = gr.Textbox(DEFAULT_FORGET, label="Forget target",
                               info="class:K, random:P or concept:WORDS (set by the pickers above)",
                               max_lines=1, elem_id="forget-target")
    # The list shows the model's methods; a value outside it (an API call naming another family's method) is
    # passed on, and the core says whether it applies, instead of Gradio refusing it against this list.
    method_dd = gr.Dropdown(method_options, value=DEFAULT_METHOD, label="Method", elem_id="method",
                            allow_custom_value=True)
    method_info = gr.Markdown(method_markdown(DEFAULT_METHOD, family))
    seed = gr.Number(DEFAULT_SEED, label="Seed", precision=0, elem_id="seed",
                     info="decides random forget sets and the method's randomness")
    repeat = gr.Slider(1, MAX_SEEDS, value=1, step=1, label="Repeat over N seeds", elem_id="repeat",
                       info="runs seeds seed, seed+1, ...: the table shows mean ± std and in how many seeds the "
                            "method beats doing nothing (one seed cannot tell)")
    # Label and info follow the model and the target: shipped, trained in the run, or none (``retrain_note``).
    retrain_label, retrain_info = (retrain_note(first_model, DEFAULT_FORGET) if first_model
                                   else ("Compare with Retrain", None))
    with_retrain = gr.Checkbox(True, label=retrain_label, info=retrain_info, elem_id="with-retrain",
                               visible=retrain_applies(first_model) if first_model else True)
    attribution = gr.Radio(ATTRIBUTION_CHOICES, value=DEFAULT_ATTRIBUTION, label="Input attributions (captum)",
                           elem_id="attribution",
                           visible=attributions_apply(first_model) if first_model else True)
    with gr.Row():
        run_button = gr.Button("Run", variant="primary", elem_id="run-button")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-button")
    gr.Markdown(LIMITS.describe(), elem_id="limits-note")
    with gr.Accordion("Hyperparameters (defaults: the method's paper, scaled to this data, tuned for this model "
                      "and kind of target where a tuning table exists)", open=True):
        hyperparameters = hyperparameter_controls(family, first_model)
    with gr.Accordion("Run request as the API receives it (read-only: what the last Run sent)", open=False):
        hp_json = gr.Code("{}", language="json", label="hyperparameters sent (JSON overrides; set the controls "
                          "above to change them)", interactive=False, elem_id="hp-json")
    with gr.Row():
        share_button = gr.Button("Share", size="sm", elem_id="share-button")
    share_link = gr.Textbox(label="Link to these controls (model, forget target, method, hyperparameters, seed)",
                            visible=False, interactive=False, buttons=["copy"], elem_id="share-link")
    return LabControls(model_dd, model_info, forget_kind, forget_class, forget_share, forget_concept, forget_target,
                       method_dd, method_info, seed, repeat, with_retrain, attribution, run_button, cancel_button,
                       hyperparameters, hp_json, share_button, share_link)


def result_panels(warmup_examples: list[list[Any]] | None) -> ResultPanels:
    status = gr.Markdown(
        "Press **Run**." + (" The example is being computed in the background and appears here "
                            "when it is ready." if warmup_examples else ""),
        elem_id="status", label="status")
    metrics = gr.Dataframe(headers=["Metric", "Original", "Unlearned", "Retrain", "Gap to Retrain"],
                           label="Metrics: original, unlearned and Retrain (gap to Retrain "
                                 "highlighted)", elem_id="metrics-table", interactive=False, wrap=True,
                           # Fits the column without scrolling, "mean ± std" cells included; the words wrap.
                           column_widths=["27%", "13%", "13%", "13%", "13%", "21%"], max_height=1200)
    summary = gr.Markdown(elem_id="summary", label="summary")
    with gr.Row():
        with gr.Column(scale=3):
            layer_dd = gr.Dropdown([], label="Layer", elem_id="layer", interactive=False, allow_custom_value=True)
            heatmap = gr.Plot(label="Weight saliency", elem_id="saliency-heatmap")
        with gr.Column(scale=2):
            share_bars = gr.Plot(label="Salient share per layer", elem_id="saliency-bars")
    with gr.Row():
        pareto = gr.Plot(label="SLUG Pareto plot", elem_id="slug-pareto")
        trace = gr.Plot(label="SLUG step-size search", elem_id="slug-trace")
    with gr.Column(visible=False) as generative_group:
        with gr.Row(equal_height=True):
            gr.Markdown("### Before / after (same seeds; the forget class's row is framed in red)")
            large_button = gr.Button("View large (full page, for a projector)", size="sm", scale=0,
                                     elem_id="view-large-button")
        # The full width of the results column: the labels drawn in the pictures stay readable (12 px or more).
        slider = gr.ImageSlider(label="original | unlearned (same seeds; drag the handle)",
                                elem_id="before-after-slider", type="numpy", height=None, max_height=None)
        gallery = gr.Gallery(label="Sample grids (click one to enlarge)", elem_id="before-after-gallery", columns=3,
                             object_fit="contain")  # whole pictures: the row labels are not cropped
        large_view = large_view_panel(large_button)
    with gr.Column() as attribution_group:
        attribution_plot = gr.Plot(label="Input attributions on forget samples", elem_id="attributions")
    with gr.Row():
        weights_file = gr.File(label="Unlearned weights (safetensors)", elem_id="weights-file", height=100)
        report_file = gr.File(label="Report (JSON)", elem_id="report-file", height=100)
    return ResultPanels(status, metrics, summary, layer_dd, heatmap, share_bars, pareto, trace, generative_group,
                        slider, gallery, attribution_group, attribution_plot, weights_file, report_file, large_view)


def large_view_panel(open_button: gr.Button) -> LargeView:
    """The before/after grids over the whole page (a class watching a projector reads the labels), hidden until
    "View large"; ``layout`` wires the buttons."""
    with gr.Column(visible=False, elem_id="large-view") as panel:
        with gr.Row(equal_height=True):
            gr.Markdown("### Before | after | Retrain: the same seeds in every panel (the forget target framed in "
                        "red)")
            close_button = gr.Button("Close", size="sm", scale=0, elem_id="large-view-close")
        image = gr.Image(label="before / after, full page width", show_label=False, type="numpy",
                         interactive=False, elem_id="large-view-image", buttons=["download"])
    return LargeView(open_button, panel, image, close_button)


def attack_choices() -> list[tuple[str, str]]:
    """Every attack, labelled with what it applies to. The choices stay the same for every model (the API
    validates a value against them, and an API session never changes model in the page); the core says which
    attacks apply when one does not."""
    return [(f"{attack.label} ({attack.applies_to})", name) for name, attack in ATTACKS.items()]


def default_attacks(family: str) -> list[str]:
    """The attack ticked for a model: the first that applies to its family."""
    return attacks_for(family)[:1]


def audit_section(family: str) -> AuditSection:
    """Audit the run shown above: per-example membership inference, relearning, concept inversion."""
    gr.Markdown("### Audit: is it private, and is it really gone?\n"
                + "\n".join(f"- **{attack.label}** ({attack.applies_to}): {attack.question}"
                             for attack in ATTACKS.values()),
                elem_id="audit-intro")
    attacks = gr.CheckboxGroup(attack_choices(), value=default_attacks(family), label="Attacks",
                               elem_id="audit-attacks", info="each says which models it applies to")
    pool: list[tuple[str, str, Component]] = []
    with gr.Accordion("Attack settings (defaults for this model's family)", open=False):
        for name, attack in ATTACKS.items():
            gr.Markdown(f"**{attack.label}**")
            with gr.Row():
                for field in attack.controls(family):
                    control = hyperparameter_control(f"audit-{name}", field)
                    pool.append((name, field["name"], control))
    with gr.Accordion("Audit request as the API receives it (read-only: what the last audit sent)", open=False):
        settings_json = gr.Code("{}", language="json", label="attack settings sent (JSON: {attack: {knob: value}}; "
                                "read-only, set by the controls above)", interactive=False, elem_id="audit-json")
    with gr.Row():
        run_button = gr.Button("Audit this run", variant="primary", elem_id="audit-button")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="audit-cancel-button")
    status = gr.Markdown("Run a method above, then audit it.", elem_id="audit-status", label="audit status")
    summary = gr.Markdown(elem_id="audit-summary")
    with gr.Row():
        roc = gr.Plot(plots.message_figure("Audit a classifier's run with U-LiRA to see its ROC here.", 260),
                      label="Membership inference ROC", elem_id="audit-roc")
        relearn = gr.Plot(plots.message_figure("Audit a run with the relearning attack to see its curves here.",
                                               260), label="Relearning curves", elem_id="audit-relearn")
    inversion = gr.Plot(plots.message_figure("Audit a generator's run with concept inversion to see it here.", 260),
                        label="Concept inversion", elem_id="audit-inversion")
    return AuditSection(attacks, pool, settings_json, run_button, cancel_button, status, summary, roc, relearn,
                        inversion, gr.State(None))


def lab_tab(models: list[tuple[str, str]], first_model: str | None, family: str,
            method_options: list[tuple[str, str]], warmup_examples: list[list[Any]] | None
            ) -> tuple[LabControls, ResultPanels, AuditSection, gr.Examples]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=330):
            controls = lab_controls(models, first_model, family, method_options)
        with gr.Column(scale=3):
            examples = gr.Examples(EXAMPLES, inputs=[controls.model, controls.forget_target, controls.method,
                                                     controls.seed],
                                   label="Examples (computed at start-up; Run answers them at once)")
            panels = result_panels(warmup_examples)
            audit = audit_section(family)
    return controls, panels, audit, examples


def compare_tab(models: list[tuple[str, str]], first_model: str | None,
                method_options: list[tuple[str, str]]) -> CompareTab:
    gr.Markdown("Run several methods on one forget target. Retrain is computed once and shared; "
                "each method uses its defaults unless overridden below.")
    with gr.Row():
        model = gr.Dropdown(models, value=first_model, label="Model", elem_id="compare-model")
        forget = gr.Textbox(DEFAULT_FORGET, label="Forget target", max_lines=1, elem_id="compare-forget")
        seed = gr.Number(DEFAULT_SEED, label="Seed", precision=0)
        repeat = gr.Slider(1, MAX_SEEDS, value=1, step=1, label="Seeds per method", elem_id="compare-repeat",
                           info="seed, seed+1, ...: mean ± std, error bars, and which methods the seeds cannot "
                                "tell apart")
    methods = gr.CheckboxGroup([c for c in method_options if c[1] != "retrain"], value=["salun", "sfr_on", "slug"],
                               label="Methods", elem_id="compare-methods")
    overrides = gr.Code("", language="json", label='Per-method overrides (optional), e.g. '
                        '{"salun": {"epochs": 2}}', interactive=True)
    with gr.Row():
        compare_button = gr.Button("Compare", variant="primary", elem_id="compare-button")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="compare-cancel-button")
    status = gr.Markdown(label="status", elem_id="compare-status")
    # Headers and a message before the first comparison (an empty Dataframe would show "1 2 3").
    table = gr.Dataframe(headers=["Method", "UA", "RA", "TA", "MIA", "Avg. Gap", "Run time (s)"],
                         label="Methods against Retrain", interactive=False, elem_id="compare-table")
    chart = gr.Plot(plots.message_figure("Press Compare to run the selected methods.", 260),
                    label="Gap to Retrain and run time", elem_id="compare-chart")
    return CompareTab(model, forget, seed, repeat, methods, overrides, compare_button, cancel_button, status, table, chart,
                      sweep_section(), gr.State(None))


def sweep_section() -> SweepSection:
    """The forget-amount sweep under the Compare table; it reads the model, methods, seed and overrides above."""
    gr.Markdown("### Forget-amount sweep\nHow each selected method's Avg. Gap to Retrain grows with the share of "
                "the training set forgotten (`random:P`, the model, methods, seed and overrides above), beside "
                "**doing nothing** (the original model), as in SalUn's Figure 1. Every share trains its own "
                "Retrain (about half a minute each on this CPU).")
    shares = gr.Textbox(DEFAULT_SWEEP_SHARES, label="Shares forgotten (%)", max_lines=1, elem_id="sweep-shares",
                        info="comma-separated percentages, each strictly between 0 and 100")
    with gr.Row():
        run_button = gr.Button("Run sweep", variant="primary", elem_id="sweep-button")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="sweep-cancel-button")
    status = gr.Markdown(label="status", elem_id="sweep-status")
    chart = gr.Plot(plots.message_figure("Press Run sweep to draw each method's gap against the share forgotten.",
                                         260), label="Avg. Gap to Retrain against the share forgotten",
                    elem_id="sweep-chart")
    return SweepSection(shares, run_button, cancel_button, status, chart, gr.State(None))
