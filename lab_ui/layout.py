"""The page: ``build_app`` lays out the tabs (built in ``tabs``) and wires their events to the handlers.

The order in which components and events are created is part of the API (gradio numbers them, and names the
private events after their functions), so keep it.
"""
from __future__ import annotations

import json
from typing import Any

import gradio as gr

from unlearn_core.audit import ATTACKS
from unlearn_core.errors import UnlearningInputError
from unlearn_core.methods import get_method
from unlearn_core.zoo import get_model_spec

from lab_ui.catalogue import (describe_method, family_of, hyperparameter_defaults, method_markdown, methods_for,
                              model_choices, model_markdown)
from lab_ui.config import COMPUTE, DEFAULT_METHOD, DEFAULT_MODEL
from lab_ui.handlers import audit, cancel, compare, describe, run, saliency_layer, sweep, user_errors
from lab_ui.panels import panel_values
from lab_ui.state import WARMUP_DONE
from lab_ui.tabs import (AuditSection, CompareTab, LabControls, ResultPanels, attack_choices, compare_tab, lab_tab,
                         learn_tab)
from lab_ui.warmup import default_view


# ------------------------------------------------------------------------------------------------------
# Events (the private ones are UI glue; the named ones are the API)

def wire_lab_pickers(lab: LabControls) -> None:
    """Model -> forget pickers, method list and hyperparameter defaults; pickers -> forget target; method ->
    description and visible controls; Reset."""
    pool, groups = lab.hyperparameters.pool, lab.hyperparameters.groups

    def on_model(model: str):
        spec = get_model_spec(model)
        kinds = list(spec.forget_kinds)
        options = methods_for(spec.family)
        values = [option for _, option in options]
        defaults = hyperparameter_defaults(model)  # tuned for the model's default kind of target
        classes = [str(c) for c in range(spec.num_classes or 0)]
        kind, value = spec.default_forget.split(":", 1)
        return [model_markdown(model), gr.Radio(choices=kinds, value=kind),
                gr.Dropdown(choices=classes, value=value if kind == "class" else None),
                gr.Dropdown(choices=options, value=DEFAULT_METHOD if DEFAULT_METHOD in values else values[0]),
                spec.default_forget, gr.Textbox(value=value if kind == "concept" else ""),
                *[gr.update(value=defaults[(name, field)]) for name, field, _ in pool]]

    lab.model.input(user_errors(on_model), lab.model,
                    [lab.model_info, lab.forget_kind, lab.forget_class, lab.method, lab.forget_target,
                     lab.forget_concept, *lab.hyperparameters.controls], api_visibility="private")

    def on_kind(kind: str, klass: str, share: float, concept: str):
        target = {"class": f"class:{klass}", "random": f"random:{share:g}", "concept": f"concept:{concept}"}
        return [gr.Dropdown(visible=kind == "class"), gr.Slider(visible=kind == "random"),
                gr.Textbox(visible=kind == "concept"), target.get(kind, "")]

    picker_inputs = [lab.forget_kind, lab.forget_class, lab.forget_share, lab.forget_concept]
    picker_outputs = [lab.forget_class, lab.forget_share, lab.forget_concept, lab.forget_target]
    for picker in picker_inputs:
        picker.input(on_kind, picker_inputs, picker_outputs, api_visibility="private")
    lab.forget_kind.change(on_kind, picker_inputs, picker_outputs, api_visibility="private")

    def on_method(model: str, method: str):
        if not method:
            return [""] + [gr.Group(visible=False) for _ in groups]
        return [method_markdown(method, family_of(model))] + [gr.Group(visible=name == method) for name in groups]

    lab.method.change(user_errors(on_method), [lab.model, lab.method], [lab.method_info, *groups.values()],
                      api_visibility="private")

    def on_reset(model: str, method: str, kind: str):
        described = describe_method(method, family_of(model), model, kind)["hyperparameters"]
        defaults = {f["name"]: f["default"] for f in described}
        return [gr.update(value=defaults[field]) if name == method else gr.skip() for name, field, _ in pool]

    lab.hyperparameters.reset_button.click(user_errors(on_reset), [lab.model, lab.method, lab.forget_kind],
                                           lab.hyperparameters.controls, api_visibility="private")


def wire_tuned_defaults(lab: LabControls) -> None:
    """A new kind of forget target (class / random) shows the defaults tuned for it on this model. Wired
    after every older event, so their numbers in the API stay as they were."""
    pool = lab.hyperparameters.pool

    def on_forget_kind(model: str, kind: str):
        defaults = hyperparameter_defaults(model, kind)
        return [gr.update(value=defaults[(name, field)]) for name, field, _ in pool]

    lab.forget_kind.input(user_errors(on_forget_kind), [lab.model, lab.forget_kind], lab.hyperparameters.controls,
                          api_visibility="private")


def wire_lab_run(lab: LabControls, panels: ResultPanels, session: gr.State) -> None:
    """Run (its controls gathered into the JSON overrides first), Cancel, and the heatmap's layer choice."""
    pool = lab.hyperparameters.pool

    def collect(model: str, method: str, *values):
        """Gather the selected method's controls into the JSON the run receives (and validate it)."""
        if not method:
            raise UnlearningInputError("choose a method")
        overrides = {field: value for (name, field, _), value in zip(pool, values) if name == method}
        get_method(method).for_task(family_of(model), overrides)
        return json.dumps(overrides, indent=1)

    run_event = lab.run_button.click(user_errors(collect), [lab.model, lab.method, *lab.hyperparameters.controls],
                                     lab.hp_json, api_visibility="private").success(
        run, [lab.model, lab.forget_target, lab.method, lab.hp_json, lab.seed, lab.with_retrain, lab.attribution],
        panels.outputs(session), api_name="run", concurrency_limit=1, concurrency_id=COMPUTE)
    lab.cancel_button.click(cancel, None, panels.status, api_name="cancel", cancels=[run_event], queue=False)
    panels.layer.input(saliency_layer, [session, panels.layer], panels.heatmap, api_name="saliency_layer")


def wire_compare(tab: CompareTab) -> None:
    compare_event = tab.compare_button.click(
        compare, [tab.model, tab.forget, tab.methods, tab.seed, tab.overrides], [tab.status, tab.table, tab.chart],
        api_name="compare", concurrency_limit=1, concurrency_id=COMPUTE)
    tab.cancel_button.click(cancel, None, tab.status, api_name="cancel_compare", cancels=[compare_event],
                            queue=False)

    def on_compare_model(model: str):
        spec = get_model_spec(model)
        options = [c for c in methods_for(spec.family) if c[1] != "retrain"]
        return gr.CheckboxGroup(choices=options, value=[v for _, v in options][:3]), spec.default_forget

    tab.model.input(user_errors(on_compare_model), tab.model, [tab.methods, tab.forget], api_visibility="private")


def wire_sweep(tab: CompareTab) -> None:
    """Run sweep (the Compare tab's model, methods, seed and overrides) and its Cancel. Wired after every older
    event, so their numbers in the API stay as they were."""
    section = tab.sweep
    sweep_event = section.run_button.click(
        sweep, [tab.model, section.shares, tab.methods, tab.seed, tab.overrides], [section.status, section.chart],
        api_name="sweep", concurrency_limit=1, concurrency_id=COMPUTE)
    section.cancel_button.click(cancel, None, section.status, api_name="cancel_sweep", cancels=[sweep_event],
                                queue=False)


def wire_audit(lab: LabControls, section: AuditSection, session: gr.State) -> None:
    """Audit this run (its knob controls gathered into the JSON settings first), Cancel, and the attack list and
    knob defaults following the model. Wired after every older event, so their numbers in the API stay."""
    pool = section.pool

    def collect(attacks: list[str], *values):
        """Gather the chosen attacks' controls into the JSON the audit receives (the core validates it)."""
        chosen = set(attacks or [])
        settings: dict[str, dict[str, Any]] = {}
        for (name, field, _), value in zip(pool, values):
            if name in chosen:
                settings.setdefault(name, {})[field] = value
        return json.dumps(settings, indent=1)

    audit_event = section.run_button.click(
        collect, [section.attacks, *section.controls], section.settings_json, api_visibility="private").success(
        audit, [session, section.attacks, section.settings_json], section.outputs(), api_name="audit",
        concurrency_limit=1, concurrency_id=COMPUTE)
    section.cancel_button.click(cancel, None, section.status, api_name="cancel_audit", cancels=[audit_event],
                                queue=False)

    def on_model(model: str):
        family = family_of(model)
        choices = attack_choices(family)
        defaults = {(name, knob["name"]): knob["default"] for name, attack in ATTACKS.items()
                    for knob in attack.controls(family)}
        return [gr.CheckboxGroup(choices=choices, value=[v for _, v in choices][:1]),
                *[gr.update(value=defaults[(name, field)]) for name, field, _ in pool]]

    lab.model.input(user_errors(on_model), lab.model, [section.attacks, *section.controls], api_visibility="private")


def wire_example(demo: gr.Blocks, session: gr.State, panels: ResultPanels,
                 warmup_examples: list[list[Any]] | None) -> None:
    """Show the example as soon as the start-up warm-up has it: on load, then polled until it is there."""
    result_outputs = panels.outputs(session)
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


# ------------------------------------------------------------------------------------------------------
# The page

def build_app(warmup_examples: list[list[Any]] | None = None) -> gr.Blocks:
    """The whole page; ``warmup_examples`` (None when the warm-up is off) only changes the first status line
    and whether the page polls for the example."""
    models = model_choices()
    model_names = [value for _, value in models]
    first_model = DEFAULT_MODEL if DEFAULT_MODEL in model_names else (model_names[0] if model_names else None)
    family = family_of(first_model) if first_model else "classification"
    method_options = methods_for(family)

    with gr.Blocks(title="Unlearning Lab", analytics_enabled=False) as demo:
        gr.Markdown("# Unlearning Lab\nMake a trained image model forget a class or a random share of its data, "
                    "and see how close each method gets to **Retrain**, the model trained without it.")
        session = gr.State(None)
        with gr.Tabs():
            with gr.Tab("Lab", id="lab"):
                lab, panels, audit_section = lab_tab(models, first_model, family, method_options, warmup_examples)
            with gr.Tab("Compare", id="compare"):
                compare_controls = compare_tab(models, first_model, method_options)
            with gr.Tab("Learn", id="learn"):
                learn_tab()
        wire_lab_pickers(lab)
        wire_lab_run(lab, panels, session)
        wire_compare(compare_controls)
        gr.api(describe, api_name="describe")
        wire_example(demo, session, panels, warmup_examples)
        wire_sweep(compare_controls)
        wire_tuned_defaults(lab)
        wire_audit(lab, audit_section, session)
    return demo
