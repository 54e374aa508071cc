"""The event handlers that do work; each is also an API endpoint (``/run``, ``/cancel``, ``/saliency_layer``,
``/compare``, ``/sweep``, ``/describe``, ``/audit``). ``user_errors`` turns the core's errors into readable messages in the page;
``status_errors`` keeps them on the page, in the event's status line (API clients still get the error).

Their names, parameters, defaults and docstrings are what ``gradio_client`` sees: change them only on purpose.
"""
from __future__ import annotations

import functools
import html
import inspect
import logging
import time
from typing import Any, Callable

import gradio as gr

from unlearn_core import plots
from unlearn_core.plots import audit as audit_plots
from unlearn_core.budget import BudgetExceeded
from unlearn_core.errors import DivergenceError, UnlearningInputError, shown
from unlearn_core.metering import WorkExceeded
from unlearn_core.methods import get_method, tuning_mark
from unlearn_core.runner import repeat_seeds, seeds_report

from lab_ui.catalogue import default_forget_kind, describe_method, family_of, methods_for
from lab_ui.compute import (CompareItem, OverWallCap, Timing, attribution_key, compute_audit, compute_reports,
                            compute_sweep, compute_view, name_list, parse_overrides, report_key, sweep_request)
from lab_ui.config import DEFAULT_ATTRIBUTION
from lab_ui.panels import RUN_OUTPUTS, done_status, layer_heatmap, panel_values, partial_text, timing_text
from lab_ui.state import CANCEL, QueueRefused, RunCancelled, client_address, session_id

LOG = logging.getLogger("unlearning-lab")


def page_text(message: str) -> str:
    """A message as the page shows it: Gradio renders an error's text as HTML, so user text quoted in it is
    escaped (it can never add markup to the page)."""
    return html.escape(message, quote=False)


def user_errors(fn: Callable) -> Callable:
    """Turn the core's deliberate errors into readable messages in the page (gr.Error); an unexpected error
    is logged with its traceback and shown as one line naming no internal path, and the server carries on."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except BudgetExceeded as error:
            raise gr.Error(str(error), title="Over the budget", print_exception=False) from None
        except OverWallCap as error:
            raise gr.Error(str(error), title="Stopped: over the time cap", print_exception=False) from None
        except WorkExceeded as error:
            raise gr.Error(page_text(str(error)), title="Stopped: far over its estimated work",
                           print_exception=False) from None
        except QueueRefused as error:
            raise gr.Error(str(error), title=error.title, print_exception=False) from None
        except UnlearningInputError as error:
            raise gr.Error(page_text(str(error)), title="Invalid input", print_exception=False) from None
        except DivergenceError as error:
            raise gr.Error(page_text(str(error)), title="The run diverged", print_exception=False) from None
        except RunCancelled:
            raise gr.Error("The run was cancelled.", title="Cancelled", print_exception=False) from None
        except OSError as error:  # a full disk or an unwritable folder: the path is the server's business
            LOG.exception("could not write or read a file in %s", fn.__name__)
            reason = page_text(error.strerror or type(error).__name__)
            raise gr.Error(f"The server could not store this request's files ({reason}). Nothing was kept; try "
                           "again later. The details are in the server's log.", title="Server storage error",
                           print_exception=False) from None
        except Exception as error:  # noqa: BLE001  (the UI boundary: log it, tell the user, keep serving)
            LOG.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Unexpected error: {type(error).__name__}: {page_text(shown(str(error), 200))}. The "
                           "server is still running; the details are in its log.", title="Error",
                           print_exception=False) from None

    return wrapper


def from_api_client(request: gr.Request | None) -> bool:
    """Whether the caller is an API client: ``gradio_client`` marks its requests with ``x-gradio-user: api``;
    the page does not."""
    headers = getattr(request, "headers", None)
    return bool(headers is not None and headers.get("x-gradio-user") == "api")


def error_status(title: str, message_html: str) -> str:
    """The status line of a request that failed: the message (already escaped, as ``page_text`` makes it) in
    red, and a warning that the panels below (unchanged) still show an earlier result."""
    return (f'<div class="lab-error" role="alert"><strong>{html.escape(title)}</strong>: {message_html}'
            "<br>Nothing was computed; the results below, if any, are from an earlier request and do not match "
            "the controls.</div>")


def status_errors(outputs: int) -> Callable[[Callable], Callable]:
    """Like ``user_errors``, but in the page the message stays: it goes into the event's first output (its
    status line) and the other ``outputs - 1`` outputs are left as they were (``gr.skip``), so no panel shows an
    error badge and no toast has to be read before it fades. API clients (``from_api_client``) still get the
    error raised, as before."""

    def decorate(fn: Callable) -> Callable:
        checked = user_errors(fn)
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return checked(*args, **kwargs)
            except gr.Error as error:
                try:
                    request = signature.bind_partial(*args, **kwargs).arguments.get("request")
                except TypeError:
                    request = None
                if request is None or from_api_client(request):
                    raise
                return [error_status(error.title or "Error", error.message), *[gr.skip()] * (outputs - 1)]

        wrapper.outputs = outputs  # the event's output count, checked against its wiring by the tests
        return wrapper

    return decorate


@status_errors(RUN_OUTPUTS)
def run(model: str, forget: str, method: str, hyperparameters: str, seed: float, with_retrain: bool = True,
        attribution: str = DEFAULT_ATTRIBUTION, repeat: float = 1, progress=gr.Progress(),
        request: gr.Request = None):
    """Unlearn `forget` from `model` with `method` (hyperparameters as a JSON object of overrides) and return
    every result panel: status, metrics, summary, saliency layer choice, heatmap, share bars, Pareto plot,
    search trace, before/after slider and gallery, attributions, weights file, report file. `repeat` N > 1 runs
    seeds seed, ..., seed + N - 1: the metrics show mean ± std, the summary in how many seeds the method beats
    doing nothing, the report file holds every seed's report (`runs`) and the `summary`; the other panels show
    the first seed's run."""
    start, timing = time.perf_counter(), Timing()
    attribution_method = attribution_key(attribution)
    overrides = parse_overrides(hyperparameters)
    if not isinstance(with_retrain, bool):
        raise UnlearningInputError(f"with_retrain must be true or false; got {shown(with_retrain)}")
    with CANCEL.running(session_id(request)) as flag:
        view, cached = compute_view(model, forget, method, overrides, seed, with_retrain, attribution_method,
                                    lambda f, m: progress(f, desc=m), flag, visitor=session_id(request),
                                    repeat=repeat, client=client_address(request), timing=timing)
    return panel_values(view, done_status(view, cached, time.perf_counter() - start, timing.queued_s))


@user_errors
def cancel(request: gr.Request = None) -> str:
    """Stop this session's running computation (Lab run, Compare or sweep)."""
    stopped = CANCEL.cancel(session_id(request))
    return "**Cancelled.**" if stopped else "Nothing is running."


@user_errors
def saliency_layer(view: dict[str, Any] | None, layer: str):
    """The heatmap of another layer of this session's last run."""
    if not view or not (view.get("saliency") or {}).get("layers"):
        raise UnlearningInputError("run a method with weight saliency (SalUn, SalUn-soft, SFR-on) first")
    names = [item.name for item in view["saliency"]["layers"]]
    if layer not in names:
        raise UnlearningInputError(f"layer must be one of {', '.join(names)}; got {shown(layer)}")
    return layer_heatmap(view, layer)


@status_errors(4)
def compare(model: str, forget: str, methods: list[str], seed: float, hyperparameters: str = "",
            repeat: float = 1, progress=gr.Progress(), request: gr.Request = None):
    """Run several methods on one forget target (each with its defaults, or the overrides given as a JSON
    object {method: {name: value}}) over `repeat` seeds (seed, seed + 1, ...), and return a status line (in how
    many seeds each beats doing nothing, and which the seeds cannot tell apart), the table (mean ± std over
    several seeds) and the gap/run-time chart (error bars over several seeds)."""
    methods = name_list(methods, "methods")
    if not methods:
        raise UnlearningInputError("pick at least one method to compare")
    # Retrain is the reference every row's gap is measured to, so not one of the page's choices.
    if any(get_method(name).name == "retrain" for name in methods):
        offered = [name for _, name in methods_for(model) if name != "retrain"]
        raise UnlearningInputError("Retrain is not one of the methods compared: it is the reference each method's "
                                   f"gap is measured to, and is trained for every comparison; choose among: "
                                   f"{', '.join(offered)}")
    per_method = parse_overrides(hyperparameters, "overrides")
    unknown = [shown(name) for name in per_method if name not in methods]
    if unknown:
        raise UnlearningInputError(f"overrides given for methods not selected: {', '.join(unknown)}")
    seeds = repeat_seeds(seed, repeat)
    items = []
    for name in methods:
        overrides = per_method.get(name) or {}
        if not isinstance(overrides, dict):
            raise UnlearningInputError(f"overrides for {name} must be a JSON object; got {shown(overrides)}")
        for each in seeds:
            key = report_key(model, forget, name, overrides, each, True)
            items.append(CompareItem(key, model, forget, name, overrides, key[3]))
    canonical = [item.key[2] for item in items[::len(seeds)]]  # "SalUn" and "salun" are one method
    twice = sorted({name for name in canonical if canonical.count(name) > 1})
    if twice:
        raise UnlearningInputError(f"each method can be compared once; listed more than once: {', '.join(twice)}")
    start, timing = time.perf_counter(), Timing()
    with CANCEL.running(session_id(request)) as flag:
        reports, stop = compute_reports(items, flag, lambda f, m: progress(f, desc=m), visitor=session_id(request),
                                        client=client_address(request), timing=timing)
    rows = []
    for i in range(0, len(items), len(seeds)):
        per_seed = reports[i:i + len(seeds)]
        if any(report is None for report in per_seed):  # stopped by a limit before this method ended
            continue
        model_name, target, method_name = items[i].key[:3]
        # An untuned baseline, or one tuned on this very target, says so beside its name.
        rows.append({"label": get_method(method_name).label + tuning_mark(method_name, model_name, target, seeds),
                     "report": per_seed[0] if len(seeds) == 1 else seeds_report(per_seed)})
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} each)"
    forget_shown = rows[0]["report"]["forget"]
    partial = ""
    if stop is not None:
        skipped = [get_method(items[i].key[2]).label for i in range(0, len(items), len(seeds))
                   if any(report is None for report in reports[i:i + len(seeds)])]
        partial = f"**Partial**: {stop.reason}; shown: the methods it finished; not finished: {', '.join(skipped)}. "
    compared = f"{len(rows)} method{'s' if len(rows) != 1 else ''}"
    status = (f"{partial}**Compared** {compared} on {model}, forget `{forget_shown}`, {which} "
              f"({timing_text(time.perf_counter() - start, timing.queued_s)}). {plots.compare_verdict(rows)} "
              f"{plots.RUNTIME_NOTE}")
    record = {"model": rows[0]["report"]["model"], "forget": forget_shown}  # the page's record (not in the API)
    return status, plots.compare_frame(rows), plots.compare_chart(rows), record


@status_errors(3)
def sweep(model: str, shares: str, methods: list[str], seed: float, hyperparameters: str = "",
          progress=gr.Progress(), request: gr.Request = None):
    """Forget-amount sweep (SalUn's Figure 1): run each method on `random:P` for every share P in `shares`
    (percent, comma-separated, e.g. "10,20,30") with this seed (overrides as in /compare), and return a status
    line and the plot of each method's Avg. Gap to Retrain against the share, beside doing nothing."""
    sweep_input = sweep_request(model, shares, name_list(methods, "methods"), seed,
                                parse_overrides(hyperparameters, "overrides"))
    start, timing = time.perf_counter(), Timing()
    with CANCEL.running(session_id(request)) as flag:
        result, cached = compute_sweep(sweep_input, flag, lambda f, m: progress(f, desc=m),
                                       visitor=session_id(request), client=client_address(request), timing=timing)
    shares_text = ", ".join(f"{share:g}%" for share in result["shares"])
    took = "answered from the cache" if cached else timing_text(time.perf_counter() - start, timing.queued_s)
    status = (f"{partial_text(result.get('partial'))}**Swept** {len(result['methods'])} method{'s' if len(result['methods']) != 1 else ''} over "
              f"{shares_text} of the training set on {result['model']}, seed {result['seeds'][0]} ({took}). "
              f"{plots.sweep_verdict(result)}")
    return status, plots.sweep_figure(result), {"model": result["model"]}


@user_errors
def describe(model: str, method: str) -> dict[str, Any]:
    """The method's description and hyperparameters as JSON (defaults for this model's family, tuned for the
    model and its default kind of forget target where ``tune`` chose them)."""
    family = family_of(model)
    if not isinstance(method, str) or method not in dict((v, k) for k, v in methods_for(model)):
        raise UnlearningInputError(f"method {shown(method)} does not apply to {model}; valid: "
                                   f"{', '.join(v for _, v in methods_for(model))}")
    return describe_method(method, family, model, default_forget_kind(model))


def run_identity(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """Which run a view shows: its model, method, forget target, seed(s) and hyperparameters."""
    report = (view or {}).get("report")
    if not report:
        return None
    seeds = (view.get("seeds") or {}).get("seeds") or [report.get("seed")]
    return {key: report.get(key) for key in ("model", "method", "forget", "hyperparameters")} | {"seeds": seeds}


@status_errors(6)
def audit(view: dict[str, Any] | None, attacks: list[str], settings: str = "", progress=gr.Progress(),
          request: gr.Request = None):
    """Audit this session's last run with `attacks` (ulira: per-example membership inference, classifiers;
    relearn: relearning attack, every family; inversion: concept inversion, generative models), each with its
    settings as a JSON object {attack: {knob: value}}; return a status line, the verdict summary and the
    membership ROC, relearning and inversion plots."""
    attacks = name_list(attacks, "attacks")
    per_attack = parse_overrides(settings, "settings")
    start, timing = time.perf_counter(), Timing()
    with CANCEL.running(session_id(request)) as flag:
        result, cached = compute_audit(view, attacks, per_attack, flag, lambda f, m: progress(f, desc=m),
                                       visitor=session_id(request), client=client_address(request), timing=timing)
    report = view["report"]
    took = "answered from the cache" if cached else timing_text(time.perf_counter() - start, timing.queued_s)
    status = (f"**Audited** {report['method']} on {report['model']}, forget `{report['forget']}`, seed "
              f"{report['seed']} ({took}).")
    empty = plots.message_figure("Not part of this audit.", height=260)
    return (status, audit_plots.audit_summary_markdown(result),
            audit_plots.ulira_roc_figure(result["ulira"]) if "ulira" in result else empty,
            audit_plots.relearn_figure(result["relearn"]) if "relearn" in result else empty,
            audit_plots.inversion_figure(result["inversion"]) if "inversion" in result else empty,
            run_identity(view))
