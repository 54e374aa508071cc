"""A configuration of the Lab's controls (model, forget target, method, knobs, seed): loading one into the page
(Learn's "Try it", deep links, the examples) with its cached result when there is one, the link that shares
one, the forget pickers kept in step with the target box, and the mark on results that are not those of the
controls. ``layout`` wires these to events; nothing here computes a run."""
from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from unlearn_core.errors import UnlearningInputError, shown
from unlearn_core.methods import form_value, get_method
from unlearn_core.zoo import get_model_spec

from lab_ui.catalogue import (attributions_apply, hyperparameter_defaults, method_markdown, methods_for,
                              model_markdown, retrain_applies)
from lab_ui.compute import view_key
from lab_ui.config import DEFAULT_ATTRIBUTION, DEFAULT_METHOD
from lab_ui.panels import panel_values
from lab_ui.state import VIEWS
from lab_ui.tabs import SHARE_RANGE, LabControls, number_kind

LINK_KEYS = ("model", "forget", "method", "seed", "hp")
STALE = "The results below are for"  # how a stale mark starts (``stale_status`` replaces only its own marks)


def method_overrides(pool, method: str, values) -> dict[str, Any]:
    """The selected method's controls as {field: value}; a number typed in a text box becomes that number, and
    text that is no number stays as typed, for the run to name the field and the valid form."""
    return {field: form_value(value, number_kind(control) or "")
            for (name, field, control), value in zip(pool, values) if name == method}


def link_query(request: gr.Request | None) -> dict[str, str]:
    """The deep-link parameters of the page's URL (``?model=...&forget=...&method=...&seed=...&hp={...}``)."""
    params = getattr(request, "query_params", None) if request is not None else None
    if not params:
        return {}
    return {key: params[key] for key in LINK_KEYS if key in params}


def share_query(model: str, forget: str, method: str, seed: Any, overrides: dict[str, Any]) -> str:
    """The query string of a deep link to these controls."""
    seed_text = "" if seed is None else f"{int(float(seed))}" if float(seed).is_integer() else f"{seed}"
    return "?" + urlencode({"model": model or "", "forget": forget or "", "method": method or "",
                            "seed": seed_text, "hp": json.dumps(overrides, separators=(",", ":"))})


def config_outputs(lab: LabControls) -> list[gr.components.Component]:
    """What loading a configuration sets in the Lab (see ``config_values``)."""
    return [lab.model, lab.model_info, lab.forget_kind, lab.forget_class, lab.forget_share, lab.forget_concept,
            lab.forget_target, lab.method, lab.method_info, lab.seed, lab.with_retrain, lab.attribution,
            *lab.hyperparameters.groups.values(), *lab.hyperparameters.controls]


def config_values(lab: LabControls, model: str, forget: str, method: str, seed: Any,
                  overrides: dict[str, Any]) -> list[Any]:
    """The values of ``config_outputs`` for this configuration: the pickers, the method, the seed, the defaults
    tuned for this model and kind of target with ``overrides`` on top, Retrain on, the default attribution.
    Raises UnlearningInputError for a configuration the page cannot show."""
    spec = get_model_spec(str(model))
    request = spec.parse_forget("" if forget is None else forget)
    options = methods_for(spec.name)
    if method not in [value for _, value in options]:
        raise UnlearningInputError(f"method {shown(method)} does not apply to {spec.name}; valid: "
                                   f"{', '.join(v for _, v in options)}")
    kind = request.kind
    pool = lab.hyperparameters.pool
    known = {field for name, field, _ in pool if name == method}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UnlearningInputError(f"unknown hyperparameter(s) for {method}: {', '.join(unknown)}")
    get_method(method).for_task(spec.family, overrides, model=spec.name, forget_kind=kind)  # validates
    defaults = hyperparameter_defaults(spec.name, kind)
    classes = [str(c) for c in range(spec.num_classes or 0)]
    kind_picker, class_picker, share_picker, concept_picker = picker_values(str(request))
    return [gr.Dropdown(value=spec.name), model_markdown(spec.name),
            # another model's class or concept would not be this one's: those pickers start empty
            gr.Radio(choices=list(spec.forget_kinds), **kind_picker),
            gr.Dropdown(choices=classes, **{"value": None, **class_picker}), gr.Slider(**share_picker),
            gr.Textbox(**{"value": "", **concept_picker}), str(request), gr.Dropdown(choices=options, value=method), method_markdown(method, spec.family), seed,
            gr.Checkbox(value=True, visible=retrain_applies(spec.name)),
            gr.Radio(value=DEFAULT_ATTRIBUTION, visible=attributions_apply(spec.name)),
            *[gr.Group(visible=name == method) for name in lab.hyperparameters.groups],
            *[gr.update(value=overrides[field] if name == method and field in overrides else defaults[(name, field)])
              for name, field, _ in pool]]


def loaded_result(model: str, forget: str, method: str, seed: Any, overrides: dict[str, Any],
                  where: str) -> list[Any] | None:
    """The result panels of this configuration when it was computed before (the cache), else None."""
    try:
        view = VIEWS.get(view_key(model, forget, method, overrides, seed, True, DEFAULT_ATTRIBUTION))
    except UnlearningInputError:
        return None
    if view is None:
        return None
    report = view["report"]
    return panel_values(view, f"**From the cache** ({where}): {report['method']} on {report['model']}, forget "
                              f"`{report['forget']}`, seed {report['seed']}; this exact request was computed "
                              "before, nothing was recomputed.")


def not_computed_status(model: str, forget: str, method: str, seed: Any, where: str) -> str:
    return (f'<div class="lab-stale"><strong>Loaded</strong> ({where}): {method} on {model}, forget '
            f"<code>{forget}</code>, seed {seed}. Press <strong>Run</strong> to compute it; any results below "
            "are from an earlier request.</div>")


def config_with_result(lab: LabControls, model: str, forget: str, method: str, seed: Any,
                       overrides: dict[str, Any], where: str, panel_count: int) -> list[Any]:
    """``config_values`` followed by the ``panel_count`` result panels: the cached result of this configuration,
    or a status line saying it is loaded but not computed (the other panels left as they are)."""
    values = config_values(lab, model, forget, method, seed, overrides)
    result = loaded_result(model, forget, method, seed, overrides, where)
    if result is None:
        result = [not_computed_status(model, forget, method, seed, where), *[gr.skip()] * (panel_count - 1)]
    return [*values, *result]


# ------------------------------------------------------------------------------------------------------
# The forget pickers and the target box, kept in step

def picker_target(kind: str, klass: str | None, share: float, concept: str | None) -> str:
    """The forget target the pickers spell (what the target box shows after a pick)."""
    return {"class": f"class:{klass}", "random": f"random:{share:g}", "concept": f"concept:{concept}"}.get(kind, "")


def picker_values(forget: str) -> list[dict[str, Any]]:
    """For a canonical target (``str(ForgetRequest)``): the kind radio's, class dropdown's, share slider's and
    concept box's settings: the value of the picker of this kind, and which picker shows. The others keep their
    values (picking that kind again brings them back), and so does the slider for a share it cannot show (not a
    whole percent in its range)."""
    kind, value = forget.split(":", 1)
    low, high = SHARE_RANGE
    share = float(value) if kind == "random" else None
    fits = share is not None and share.is_integer() and low <= share <= high
    return [{"value": kind},
            {**({"value": value} if kind == "class" else {}), "visible": kind == "class"},
            {**({"value": share} if fits else {}), "visible": kind == "random"},
            {**({"value": value} if kind == "concept" else {}), "visible": kind == "concept"}]


def picker_updates(forget: str) -> list[Any]:
    """``picker_values`` as updates of the kind radio, class dropdown, share slider and concept box."""
    kind, klass, share, concept = picker_values(forget)
    return [gr.Radio(**kind), gr.Dropdown(**klass), gr.Slider(**share), gr.Textbox(**concept)]


def pickers_for_text(model: str, forget: str) -> list[Any]:
    """The pickers following a target typed in the box; left as they are while the text is no target the model
    takes (the run says what is wrong with it)."""
    try:
        request = get_model_spec(model).parse_forget(forget)
    except UnlearningInputError:
        return [gr.skip()] * 4
    return picker_updates(str(request))


# ------------------------------------------------------------------------------------------------------
# Results that are not those of the controls

def canonical_target(model: str, forget: str) -> str | None:
    try:
        return str(get_model_spec(model).parse_forget(forget))
    except UnlearningInputError:
        return None


def canonical_method(method: str) -> str | None:
    try:
        return get_method(method).name
    except UnlearningInputError:
        return None


def stale_status(view: dict[str, Any] | None, model: str, forget: str, method: str, status: str | None) -> Any:
    """The status line once the controls change: a mark naming what the shown results are for and what differs
    when they are not the model, forget target and method above; when they are again, a line saying so in place
    of an earlier mark; else the status as it is (``gr.skip``)."""
    report = (view or {}).get("report")
    if not report:
        return gr.skip()
    if report["model"] != model:
        differences = [html.escape(str(model))]
    else:
        differences = []
        if canonical_target(model, forget) != report["forget"]:
            differences.append(f"forget <code>{html.escape(str(forget))}</code>")
        if canonical_method(method) != report["method"]:
            differences.append(f"method {html.escape(str(method))}")
    shown_run = f"{report['method']} on {report['model']}, forget <code>{report['forget']}</code>"
    if differences:
        return (f'<div class="lab-stale"><strong>{STALE} {shown_run}</strong>, not {", ".join(differences)}: '
                "press <strong>Run</strong>.</div>")
    if STALE in (status or ""):
        return (f"The results below are those of {shown_run}, seed {report['seed']}: the model, forget target and "
                "method above.")
    return gr.skip()


def default_controls(model: str) -> tuple[str, str]:
    """The forget target and method a switch to ``model`` sets: its default target, the default method where
    it applies (else its first)."""
    spec = get_model_spec(model)
    methods = [value for _, value in methods_for(spec.name)]
    return spec.default_forget, DEFAULT_METHOD if DEFAULT_METHOD in methods else methods[0]
