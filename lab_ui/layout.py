"""The page: ``build_app`` lays out the tabs (built in ``tabs``) and wires their events to the handlers.

The order in which components and events are created is part of the API (gradio numbers them, and names the
private events after their functions), so keep it.

The API's endpoints (run, saliency_layer, compare, sweep, audit) take their inputs as the caller sent them
(``preprocess=False``): Gradio's own preprocessing would answer first, with Number rounding a seed of 1.5 to 2 or
failing on "abc", a Dropdown quoting a value outside its choices in full, a CheckboxGroup failing on None (often
only as "upstream app raised an exception"). The handlers check every value and name what is valid.
"""
from __future__ import annotations

import json
from typing import Any

import gradio as gr

from unlearn_core.audit import ATTACKS
from unlearn_core.errors import UnlearningInputError
from unlearn_core.runner import check_seed
from unlearn_core.zoo import get_model_spec

from lab_ui.catalogue import (attributions_apply, describe_method, family_of, hyperparameter_defaults,
                              method_markdown, methods_for, model_choices, model_markdown, offered_methods,
                              retrain_applies, retrain_note)
from lab_ui.compute import parse_overrides
from lab_ui.config import COMPUTE, COMPUTE_WORKERS, DEFAULT_METHOD, DEFAULT_MODEL
from lab_ui.configs import (config_outputs, config_with_result, default_controls, link_query, method_overrides,
                            picker_target, pickers_for_text, share_query, stale_status)
from lab_ui.freshness import RUNNING_LABELS, start_js, wire_audit_freshness, wire_compare_freshness
from lab_ui.handlers import (audit, cancel, compare, describe, error_status, page_text, run, saliency_layer,
                             sweep, user_errors)
from lab_ui.panels import panel_values
from lab_ui.state import WARMUP_DONE
from lab_ui.learn import Lesson, learn_tab
from lab_ui.tabs import (AuditSection, CompareTab, LabControls, LargeView, ResultPanels, compare_tab,
                         default_attacks, lab_tab)
from lab_ui.warmup import default_view

# Only local assets: system font stacks instead of the default theme's web fonts (which are fetched from
# Google's servers, and without a network fall back to mismatched sizes).
SANS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
        "Noto Sans", "Liberation Sans", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "Liberation Mono", "monospace"]
THEME = gr.themes.Default(font=SANS, font_mono=MONO)
CSS = """
.lab-error { color: #b91c1c; background: #fef2f2; border: 1px solid #fca5a5; border-radius: 6px;
             padding: 6px 10px; }
.lab-stale { color: #92400e; background: #fffbeb; border: 1px solid #fcd34d; border-radius: 6px;
             padding: 6px 10px; }
.lesson { padding: 4px 8px; margin-bottom: 10px; }
/* gradio gives a Markdown block an inline overflow:auto, and KaTeX's boxes stick out of a line by a fraction of
   a pixel: Chromium then draws a scrollbar beside a lesson with nothing to scroll */
.lesson-text { overflow: visible !important; }
/* The before/after grids over the whole page (a projector): the picture as wide as the window allows while the
   whole of it stays on screen. */
#large-view { position: fixed; inset: 0; z-index: 1000; background: white; overflow: auto; padding: 12px 24px; }
#large-view-image img { width: 100%; height: auto; max-height: calc(100vh - 110px); object-fit: contain; }
#before-after-slider img { object-fit: contain; }
/* The slider's label floats over the picture's top-left corner: room for it above the panel titles. */
#before-after-slider .image-container { padding-top: 30px; }
/* The gallery as tall as its thumbnails (gradio's fixed height left an empty box under them). */
#before-after-gallery, #before-after-gallery .gallery-container, #before-after-gallery .grid-wrap {
  height: auto !important; max-height: none !important; min-height: 0 !important; }
.lesson .try-it { max-width: 32em; }
"""


# After "Try it" the Lab opens where the Learn page was scrolled to: bring its status line into view once the
# tab shows (it renders a moment after the event's outputs arrive, hence the retries).
SCROLL_TO_STATUS = """() => {
  const show = (tries) => {
    const status = document.querySelector('#status');
    if (status && status.offsetParent !== null) status.scrollIntoView({block: 'center'});
    else if (tries > 0) setTimeout(() => show(tries - 1), 50);
  };
  show(40);
}"""


def empty_numbers_js(fields: dict[str, int]) -> str:
    """The page's step before a run: a browser's number field keeps sending its last good value while what is
    typed in it is empty or no number ("abc", "1e"), so such a field is sent empty instead, and the run names
    it and what is valid. ``fields``: {elem_id: position in the event's inputs}. API clients skip this step."""
    return ("(...values) => { for (const [id, at] of Object.entries(" + json.dumps(fields) + ")) { "
            "const field = document.querySelector('#' + id + ' input[type=number]'); "
            "if (field && (field.value.trim() === '' || field.validity.badInput)) values[at] = ''; } "
            "return values; }")


# ------------------------------------------------------------------------------------------------------
# Events (the private ones are UI glue; the named ones are the API)

def wire_lab_pickers(lab: LabControls) -> None:
    """Model -> forget pickers, method list and hyperparameter defaults; pickers -> forget target; method ->
    description and visible controls; Reset."""
    pool, groups = lab.hyperparameters.pool, lab.hyperparameters.groups

    def on_model(model: str):
        spec = get_model_spec(model)
        kinds = list(spec.forget_kinds)
        defaults = hyperparameter_defaults(model)  # tuned for the model's default kind of target
        classes = [str(c) for c in range(spec.num_classes or 0)]
        forget, method = default_controls(model)
        kind, value = forget.split(":", 1)
        return [model_markdown(model), gr.Radio(choices=kinds, value=kind),
                gr.Dropdown(choices=classes, value=value if kind == "class" else None),
                gr.Dropdown(choices=methods_for(spec.name), value=method), forget,
                gr.Textbox(value=value if kind == "concept" else ""),
                *[gr.update(value=defaults[(name, field)]) for name, field, _ in pool]]

    lab.model.input(user_errors(on_model), lab.model,
                    [lab.model_info, lab.forget_kind, lab.forget_class, lab.method, lab.forget_target,
                     lab.forget_concept, *lab.hyperparameters.controls], api_visibility="private")

    def show_pickers(kind: str):
        return [gr.Dropdown(visible=kind == "class"), gr.Slider(visible=kind == "random"),
                gr.Textbox(visible=kind == "concept")]

    def on_kind(kind: str, klass: str, share: float, concept: str):
        return [*show_pickers(kind), picker_target(kind, klass, share, concept)]

    picker_inputs = [lab.forget_kind, lab.forget_class, lab.forget_share, lab.forget_concept]
    picker_outputs = [lab.forget_class, lab.forget_share, lab.forget_concept, lab.forget_target]
    for picker in picker_inputs:
        picker.input(on_kind, picker_inputs, picker_outputs, api_visibility="private")
    # A kind set by the page (a model switch, a loaded configuration, a target typed in the box) comes with its
    # target: only which picker shows follows it, or the pickers would overwrite the target they follow.
    lab.forget_kind.change(show_pickers, lab.forget_kind, picker_outputs[:3], api_visibility="private")

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
        """Gather the selected method's controls into the JSON the run receives (the run validates it and, in
        the page, shows what is wrong in the status line)."""
        return json.dumps(method_overrides(pool, method, values), indent=1)

    inputs = [lab.model, lab.forget_target, lab.method, lab.hp_json, lab.seed, lab.with_retrain, lab.attribution,
              lab.repeat]
    run_event = lab.run_button.click(user_errors(collect), [lab.model, lab.method, *lab.hyperparameters.controls],
                                     lab.hp_json, api_visibility="private").success(
        run, inputs, panels.outputs(session), api_name="run", concurrency_limit=COMPUTE_WORKERS,
        concurrency_id=COMPUTE, show_progress_on=panels.status, preprocess=False,
        js=empty_numbers_js({"seed": inputs.index(lab.seed), "repeat": inputs.index(lab.repeat)}))
    lab.cancel_button.click(cancel, None, panels.status, api_name="cancel", cancels=[run_event], queue=False)
    panels.layer.input(saliency_layer, [session, panels.layer], panels.heatmap, api_name="saliency_layer",
                       preprocess=False)


def wire_compare(tab: CompareTab) -> gr.events.Dependency:
    """Compare and its Cancel; a new model keeps the methods and forget target the user chose where it takes
    them. Returns the Compare event."""
    compare_event = tab.compare_button.click(
        compare, [tab.model, tab.forget, tab.methods, tab.seed, tab.overrides, tab.repeat],
        [tab.status, tab.table, tab.chart, tab.shown],
        api_name="compare", concurrency_limit=COMPUTE_WORKERS, concurrency_id=COMPUTE, show_progress_on=tab.status,
        preprocess=False, js=start_js(tab.compare_button, tab.status, RUNNING_LABELS["compare"]))
    tab.cancel_button.click(cancel, None, tab.status, api_name="cancel_compare", cancels=[compare_event],
                            queue=False)

    def on_compare_model(model: str, chosen: list[str] | None, forget: str):
        spec = get_model_spec(model)
        options = [c for c in methods_for(spec.name) if c[1] != "retrain"]
        offered = [value for _, value in options]
        kept = [name for name in chosen or [] if name in offered]
        try:
            forget = str(spec.parse_forget(forget))
        except UnlearningInputError:  # a target of another kind (a concept for a classifier): the model's own
            forget = spec.default_forget
        return gr.CheckboxGroup(choices=options, value=kept or offered[:3]), forget

    tab.model.input(user_errors(on_compare_model), [tab.model, tab.methods, tab.forget], [tab.methods, tab.forget],
                    api_visibility="private")
    return compare_event


def wire_compare_choices(demo: gr.Blocks, tab: CompareTab) -> None:
    """Compare's method list is built with every offered method (so the API can name any of them, and the core
    validates); on load the page narrows it to its model's family. Wired after every older event."""

    def narrow(model: str):
        options = [c for c in methods_for(model) if c[1] != "retrain"]
        return gr.CheckboxGroup(choices=options)

    demo.load(user_errors(narrow), tab.model, tab.methods, api_visibility="private", show_progress="hidden")


def wire_sweep(tab: CompareTab) -> gr.events.Dependency:
    """Run sweep (the Compare tab's model, methods, seed and overrides) and its Cancel; returns the sweep event.
    Wired after every older event, so their numbers in the API stay as they were."""
    section = tab.sweep
    sweep_event = section.run_button.click(
        sweep, [tab.model, section.shares, tab.methods, tab.seed, tab.overrides],
        [section.status, section.chart, section.shown],
        api_name="sweep", concurrency_limit=COMPUTE_WORKERS, concurrency_id=COMPUTE, show_progress_on=section.status,
        preprocess=False, js=start_js(section.run_button, section.status, RUNNING_LABELS["sweep"]))
    section.cancel_button.click(cancel, None, section.status, api_name="cancel_sweep", cancels=[sweep_event],
                                queue=False)
    return sweep_event


def wire_audit(lab: LabControls, section: AuditSection, session: gr.State) -> gr.events.Dependency:
    """Audit this run (its knob controls gathered into the JSON settings first), Cancel, and the attack list and
    knob defaults following the model, whoever sets it (a person, a shared link, a lesson's Try it). Returns
    the audit event. Wired after every older event, so their numbers in the API stay."""
    pool = section.pool

    def collect(attacks: list[str], *values):
        """Gather the chosen attacks' controls into the JSON the audit receives (the core validates it)."""
        return json.dumps({name: method_overrides(pool, name, values) for name in attacks or []}, indent=1)

    audit_event = section.run_button.click(
        collect, [section.attacks, *section.controls], section.settings_json, api_visibility="private",
        js=start_js(section.run_button, section.status, RUNNING_LABELS["audit"])).success(
        audit, [session, section.attacks, section.settings_json], section.outputs(), api_name="audit",
        concurrency_limit=COMPUTE_WORKERS, concurrency_id=COMPUTE, show_progress_on=section.status, preprocess=False)
    section.cancel_button.click(cancel, None, section.status, api_name="cancel_audit", cancels=[audit_event],
                                queue=False)

    def on_model(model: str):
        family = family_of(model)
        defaults = {(name, knob["name"]): knob["default"] for name, attack in ATTACKS.items()
                    for knob in attack.controls(family)}
        return [gr.CheckboxGroup(value=default_attacks(family)),
                *[gr.update(value=defaults[(name, field)]) for name, field, _ in pool]]

    lab.model.change(user_errors(on_model), lab.model, [section.attacks, *section.controls], api_visibility="private",
                     show_progress="hidden")
    return audit_event


def wire_example(demo: gr.Blocks, session: gr.State, panels: ResultPanels,
                 warmup_examples: list[list[Any]] | None) -> None:
    """Show the example as soon as the start-up warm-up has it: on load, then polled until it is there."""
    result_outputs = panels.outputs(session)
    timer = gr.Timer(2.0, active=warmup_examples is not None)

    def show_example(current: dict | None, request: gr.Request = None):
        skip = [gr.skip()] * len(result_outputs)
        if current is not None or link_query(request).get("model"):  # a deep link fills the page itself
            return [*skip, gr.Timer(active=False)]
        view = default_view()
        if view is None:
            if WARMUP_DONE.is_set():
                return [*skip, gr.Timer(active=False)]
            return [*skip, gr.skip()]
        values = panel_values(view, "**Example** (computed at start-up): SalUn on digits-cnn, forget class 3. "
                                    "Change anything and press **Run**.")
        return [*values, gr.Timer(active=False)]

    demo.load(show_example, session, [*result_outputs, timer], api_visibility="private", show_progress="hidden")
    timer.tick(show_example, session, [*result_outputs, timer], api_visibility="private", show_progress="hidden")


# ------------------------------------------------------------------------------------------------------
# Loading a configuration into the Lab (Learn's "Try it", deep links; ``configs``) and sharing one. Wired after
# every older event, so their numbers in the API stay as they were.

def wire_model_extras(lab: LabControls, panels: ResultPanels, session: gr.State) -> None:
    """Retrain and attribution controls only where they do something; results of another model marked stale."""

    def on_model_extras(model: str):
        return gr.Checkbox(visible=retrain_applies(model)), gr.Radio(visible=attributions_apply(model))

    lab.model.change(user_errors(on_model_extras), lab.model, [lab.with_retrain, lab.attribution],
                     api_visibility="private", show_progress="hidden")

    def mark_stale(model: str, view: dict | None, status: str | None):
        forget, method = default_controls(model)  # what the switch sets, after this event reads the controls
        return stale_status(view, model, forget, method, status)

    lab.model.input(user_errors(mark_stale), [lab.model, session, panels.status], panels.status,
                    api_visibility="private", show_progress="hidden")


def wire_large_view(view: LargeView) -> None:
    """"View large" opens the full-page view of the before/after grids; "Close" hides it again."""
    view.open_button.click(lambda: gr.Column(visible=True), None, view.panel, api_visibility="private",
                           queue=False, show_progress="hidden")
    view.close_button.click(lambda: gr.Column(visible=False), None, view.panel, api_visibility="private",
                            queue=False, show_progress="hidden")


def wire_learn(lessons: list[Lesson], tabs: gr.Tabs, lab: LabControls, panels: ResultPanels,
               session: gr.State) -> None:
    """Each lesson's "Try it": its configuration into the Lab's controls, its cached result when there is
    one, and the Lab tab."""
    outputs = [*config_outputs(lab), tabs, *panels.outputs(session)]
    panel_count = len(panels.outputs(session))
    for lesson in lessons:
        if lesson.button is None:
            continue

        def try_it(config=lesson.config, title=lesson.title):
            model, forget, method, seed = config
            values = config_with_result(lab, model, forget, method, seed, {}, f"Learn: {title}", panel_count)
            return [*values[:-panel_count], gr.Tabs(selected="lab"), *values[-panel_count:]]

        lesson.button.click(user_errors(try_it), None, outputs, api_visibility="private",
                            show_progress="hidden").then(None, js=SCROLL_TO_STATUS)


def wire_links(demo: gr.Blocks, lab: LabControls, panels: ResultPanels, session: gr.State) -> None:
    """Deep links restore the controls (and a cached result) on load; Share shows the link to the controls."""
    outputs = [*config_outputs(lab), *panels.outputs(session)]
    skip_all = [gr.skip()] * len(outputs)
    skip_panels = [gr.skip()] * len(panels.outputs(session))

    def from_link(request: gr.Request = None):
        query = link_query(request)
        if not query.get("model"):
            return skip_all
        model, method = query["model"], query.get("method") or DEFAULT_METHOD
        forget, seed = query.get("forget") or "", query.get("seed") or 0
        try:
            forget = forget or get_model_spec(model).default_forget
            seed = check_seed(seed)
            overrides = parse_overrides(query.get("hp") or "")
            return config_with_result(lab, model, forget, method, seed, overrides, "shared link", len(skip_panels))
        except (UnlearningInputError, ValueError) as error:
            return [*skip_all[:-len(skip_panels)],
                    error_status("This link cannot be shown", page_text(str(error))), *skip_panels[1:]]

    demo.load(from_link, None, outputs, api_visibility="private", show_progress="hidden")

    pool = lab.hyperparameters.pool

    def share(model: str, forget: str, method: str, seed: Any, *values):
        return gr.Textbox(value=share_query(model, forget, method, seed, method_overrides(pool, method, values)),
                          visible=True)

    lab.share_button.click(
        user_errors(share), [lab.model, lab.forget_target, lab.method, lab.seed, *lab.hyperparameters.controls],
        lab.share_link, api_visibility="private", show_progress="hidden").then(
        None, lab.share_link, lab.share_link, api_visibility="private",
        js="(q) => { const url = window.location.origin + window.location.pathname + q; "
           "try { window.history.replaceState(null, '', url); } catch (e) {} "
           "try { navigator.clipboard && navigator.clipboard.writeText(url).catch(() => {}); } catch (e) {} "
           "return url; }")


def wire_controls_in_step(lab: LabControls, panels: ResultPanels, session: gr.State, examples: gr.Examples) -> None:
    """The Retrain checkbox says whether this model and target have a Retrain; the pickers follow a target typed
    in the box; a new method or target marks results that are not theirs; an example loads its configuration
    and its cached result. Wired after every older event, so their numbers in the API stay as they were."""

    def on_target_retrain(model: str, forget: str):
        label, info = retrain_note(model, forget)
        return gr.Checkbox(label=label, info=info)

    for changed in (lab.model.change, lab.forget_target.change):
        changed(user_errors(on_target_retrain), [lab.model, lab.forget_target], lab.with_retrain,
                api_visibility="private", show_progress="hidden")

    pickers = [lab.forget_kind, lab.forget_class, lab.forget_share, lab.forget_concept]
    for typed in (lab.forget_target.input, lab.forget_target.blur):
        typed(user_errors(pickers_for_text), [lab.model, lab.forget_target], pickers, api_visibility="private",
              show_progress="hidden")

    def on_control(model: str, forget: str, method: str, view: dict | None, status: str | None):
        return stale_status(view, model, forget, method, status)

    for changed in (lab.method.input, lab.forget_target.input):
        changed(user_errors(on_control), [lab.model, lab.forget_target, lab.method, session, panels.status],
                panels.status, api_visibility="private", show_progress="hidden")

    def on_picker(model: str, kind: str, klass: str, share: float, concept: str, method: str, view: dict | None,
                  status: str | None):
        # the pickers' own target: the box is updated by another event, maybe after this one reads it
        return stale_status(view, model, picker_target(kind, klass, share, concept), method, status)

    for picker in pickers:
        picker.input(user_errors(on_picker), [lab.model, *pickers, lab.method, session, panels.status],
                     panels.status, api_visibility="private", show_progress="hidden")

    panel_count = len(panels.outputs(session))

    def on_example(model: str, forget: str, method: str, seed: Any):
        return config_with_result(lab, model, forget, method, seed, {}, "example", panel_count)

    examples.load_input_event.then(user_errors(on_example), [lab.model, lab.forget_target, lab.method, lab.seed],
                                   [*config_outputs(lab), *panels.outputs(session)], api_visibility="private",
                                   show_progress="hidden")


# ------------------------------------------------------------------------------------------------------
# The page

def build_app(warmup_examples: list[list[Any]] | None = None) -> gr.Blocks:
    """The whole page; ``warmup_examples`` (None when the warm-up is off) only changes the first status line
    and whether the page polls for the example."""
    models = model_choices()
    model_names = [value for _, value in models]
    first_model = DEFAULT_MODEL if DEFAULT_MODEL in model_names else (model_names[0] if model_names else None)
    family = family_of(first_model) if first_model else "classification"
    method_options = methods_for(first_model) if first_model else []

    # gradio's cache (in the instance's private folder, see app.py): files older than an hour go every 10 minutes,
    # and lab_ui.compute.prune_cache keeps it under --cache-mb between runs
    with gr.Blocks(title="Unlearning Lab", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Unlearning Lab\nMake a trained image model forget a class or a random share of its data, "
                    "and see how close each method gets to **Retrain**, the model trained without it.")
        session = gr.State(None)
        with gr.Tabs() as tabs:
            with gr.Tab("Lab", id="lab"):
                lab, panels, audit_section, examples = lab_tab(models, first_model, family, method_options,
                                                               warmup_examples)
            with gr.Tab("Compare", id="compare"):
                compare_controls = compare_tab(models, first_model, offered_methods())
            with gr.Tab("Learn", id="learn"):
                lessons = learn_tab(models)
        wire_lab_pickers(lab)
        wire_lab_run(lab, panels, session)
        compare_event = wire_compare(compare_controls)
        gr.api(describe, api_name="describe")
        wire_example(demo, session, panels, warmup_examples)
        sweep_event = wire_sweep(compare_controls)
        wire_tuned_defaults(lab)
        audit_event = wire_audit(lab, audit_section, session)
        wire_model_extras(lab, panels, session)
        wire_learn(lessons, tabs, lab, panels, session)
        wire_links(demo, lab, panels, session)
        wire_compare_choices(demo, compare_controls)
        wire_compare_freshness(compare_controls, compare_event, sweep_event)
        wire_audit_freshness(audit_section, audit_event, panels, session)
        wire_large_view(panels.large_view)
        wire_controls_in_step(lab, panels, session, examples)
    return demo
