"""The bridge to the compute core: validate a request, wait for the one compute slot, run it through
``unlearn_core.runner`` (or ``unlearn_core.sweep``) and inspect it with ``unlearn_core.inspection``, caching the
results in ``state``."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from unlearn_core.attribution import attribution_method_key
from unlearn_core.audit import run_audit, validate_audit
from unlearn_core.errors import UnlearningInputError, shown
from unlearn_core.inspection import inspect_run
from unlearn_core.methods import get_method
from unlearn_core.runner import check_seed, run_unlearning
from unlearn_core.sweep import SweepRequest, forget_amount_sweep, validate_sweep
from unlearn_core.zoo import available_models, get_model_spec

from lab_ui.state import AUDITS, COMPUTE_LOCK, OUTCOMES, REPORTS, SWEEPS, VIEWS, WAITING, RunCancelled

Progress = Callable[[float, str], None]
RUNS_DIR = Path(tempfile.gettempdir()) / "unlearning-lab-runs"


def runs_dir() -> Path:
    """Where each run's downloads (weights, report) are written; gradio is allowed to serve files from here."""
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    return RUNS_DIR


JSON_MAX_CHARS = 20_000  # hyperparameters, per-method overrides and audit settings are a few lines of JSON
JSON_MAX_DEPTH = 8  # {method: {knob: value}} needs 2; deeper nesting is refused before parsing


def json_depth(text: str) -> int:
    """How deeply ``text``'s brackets nest, outside JSON strings: found without parsing, so a document nested
    thousands deep is refused before ``json.loads`` recurses into it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_overrides(text: Any, what: str = "hyperparameters") -> dict[str, Any]:
    """A JSON object of overrides (hyperparameters, per-method overrides, audit settings: ``what`` names it in
    messages) from the API's text; size and nesting are checked before parsing, and every failure is one
    UnlearningInputError."""
    example = 'a JSON object like {"epochs": 2}'
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        raise UnlearningInputError(f"{what} must be {example} given as text; got {shown(text)}")
    if len(text) > JSON_MAX_CHARS:
        raise UnlearningInputError(f"{what} must be {example} of at most {JSON_MAX_CHARS} characters; "
                                   f"got {len(text)} characters")
    depth = json_depth(text)
    if depth > JSON_MAX_DEPTH:
        raise UnlearningInputError(f"{what} must be {example} nested at most {JSON_MAX_DEPTH} deep; "
                                   f"got {depth} levels")
    try:
        value = json.loads(text)
    except ValueError as error:  # JSONDecodeError, and an integer past Python's int-string conversion limit
        reason = (f"{error.msg} at character {error.pos}" if isinstance(error, json.JSONDecodeError)
                  else "a number in it has too many digits")
        raise UnlearningInputError(f"{what} must be {example}; {reason}: {shown(text)}") from None
    if not isinstance(value, dict):
        raise UnlearningInputError(f"{what} must be {example}; got {shown(text)}")
    return value


def name_list(value: Any, what: str) -> list[str]:
    """Names from the API (methods, attacks): a list of strings, one string for one name, None for none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise UnlearningInputError(f"{what} must be a list of names, e.g. [\"salun\", \"ga\"]; got {shown(value)}")
    return list(value)


def attribution_key(value: str | None) -> str:
    """The attribution method's canonical name, or "none" when no attribution is wanted."""
    if value in (None, "", "none", "None"):
        return "none"
    try:
        return attribution_method_key(value)
    except UnlearningInputError as error:  # the app also offers no attribution
        raise UnlearningInputError(f"{error} (or none)") from None


def normalise_request(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any) -> tuple:
    """Validate a request up front (clear errors before any work) and return its cache key."""
    if not model:
        raise UnlearningInputError(f"choose a model; available: {', '.join(available_models())}")
    spec = get_model_spec(model)
    request = spec.parse_forget(str(forget or ""))
    if not method:
        raise UnlearningInputError("choose a method")
    method_obj = get_method(method).for_task(spec.family, overrides, model=spec.name,
                                             forget_kind=request.kind)  # with the tuned defaults, as the run
    seed_value = check_seed(seed)
    config = json.dumps(dataclasses.asdict(method_obj.config), sort_keys=True, default=str)
    return (spec.name, str(request), method_obj.name, seed_value, config)


def report_key(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any,
               with_retrain: bool) -> tuple:
    """The cache key of a run's report (``state.REPORTS``): Compare finds the Lab's runs under it."""
    return (*normalise_request(model, forget, method, overrides, seed), bool(with_retrain))


def view_key(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any, with_retrain: bool,
             attribution: str) -> tuple:
    """The cache key of an inspected run (``state.VIEWS``): its report's key plus the attribution method."""
    return (*report_key(model, forget, method, overrides, seed, with_retrain), attribution)


def acquire_compute(flag: threading.Event | None, progress: Progress, background: bool = False) -> None:
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


def cancellable(flag: threading.Event | None, progress: Progress) -> Progress:
    """``progress`` that first raises ``RunCancelled`` once Cancel has set ``flag``: the core calls it at every
    step, so a computation stops within one step."""

    def report(fraction: float, message: str) -> None:
        if flag is not None and flag.is_set():
            raise RunCancelled()
        progress(fraction, message)

    return report


@contextlib.contextmanager
def compute_slot(flag: threading.Event | None, progress: Progress, background: bool = False) -> Iterator[None]:
    """Hold the one computation slot for the body of a ``with`` block (see ``acquire_compute``)."""
    acquire_compute(flag, progress, background)
    try:
        yield
    finally:
        COMPUTE_LOCK.release()


def compute_view(model: str, forget: str, method: str, overrides: dict[str, Any], seed: int, with_retrain: bool,
                 attribution: str, progress: Progress, flag: threading.Event | None = None,
                 background: bool = False):
    """Run (or fetch) one request and inspect it; returns (view, from_cache)."""
    key = view_key(model, forget, method, overrides, seed, with_retrain, attribution)
    cached = VIEWS.get(key)
    if cached is not None:
        return cached, True

    report = cancellable(flag, progress)
    with compute_slot(flag, report, background):
        cached = VIEWS.get(key)  # someone may have computed it while we waited
        if cached is not None:
            return cached, True
        outcome = run_unlearning(model, forget, method, int(float(seed)), overrides, bool(with_retrain),
                                 lambda f, m: report(0.85 * f, m))
        out_dir = Path(tempfile.mkdtemp(prefix=f"{outcome.report['method']}-", dir=runs_dir()))
        view = inspect_run(outcome, out_dir, None if attribution == "none" else attribution,
                           lambda f, m: report(0.85 + 0.15 * f, m))
    VIEWS.put(key, view)
    OUTCOMES.put(key[:5], outcome)
    REPORTS.put(key[:-1], view["report"])
    return view, False


def compute_report(key: tuple, model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any,
                   flag: threading.Event, progress: Progress, run_progress: Progress) -> dict[str, Any]:
    """Run (or fetch) one request with Retrain but without inspection (what Compare needs); returns its report.
    ``key`` is the request's ``report_key`` (validated up front by the caller).
    ``progress`` reports the wait for the compute slot, ``run_progress`` the run itself."""
    result = REPORTS.get(key)
    if result is None:
        with compute_slot(flag, progress):
            outcome = run_unlearning(model, forget, method, int(float(seed)), overrides, True, run_progress)
        result = outcome.report
        REPORTS.put(key, result)
    return result


def sweep_request(model: str, shares: Any, methods: Any, seed: Any, overrides: dict[str, Any]) -> SweepRequest:
    """Validate a forget-amount sweep with one seed (clear errors before any work)."""
    return validate_sweep(model, shares, methods, [seed], overrides)


def compute_sweep(request: SweepRequest, flag: threading.Event, progress: Progress) -> tuple[dict[str, Any], bool]:
    """Run a validated sweep holding the compute slot, or fetch an identical one from the cache; returns
    (sweep data, from_cache)."""
    cached = SWEEPS.get(request.cache_key)
    if cached is not None:
        return cached, True
    report = cancellable(flag, progress)
    with compute_slot(flag, report):
        result = forget_amount_sweep(request.model, request.shares, request.methods, request.seeds,
                                     request.overrides, report)
    SWEEPS.put(request.cache_key, result)
    return result, False


def compute_audit(view: dict[str, Any] | None, attacks: Any, settings: dict[str, Any], flag: threading.Event,
                  progress: Progress) -> tuple[dict[str, Any], bool]:
    """Audit the run shown in ``view`` (this session's last run); returns (audit data, from_cache). The run's
    model comes from ``OUTCOMES``; a run evicted from there is repeated first (runs are seeded)."""
    if not view or not view.get("report"):
        raise UnlearningInputError("run a method first: the audit examines the result of the run shown above")
    report = view["report"]
    validate_audit(report["model"], attacks, settings)
    run_key = normalise_request(report["model"], report["forget"], report["method"], report["hyperparameters"],
                                report["seed"])
    key = (run_key, tuple(sorted(attacks)), json.dumps(settings, sort_keys=True, default=str))
    cached = AUDITS.get(key)
    if cached is not None:
        return cached, True
    report_progress = cancellable(flag, progress)
    with compute_slot(flag, report_progress):
        outcome = OUTCOMES.get(run_key)
        share = 0.0
        if outcome is None:
            share = 0.3
            outcome = run_unlearning(report["model"], report["forget"], report["method"], report["seed"],
                                     report["hyperparameters"], True,
                                     lambda f, m: report_progress(share * f, f"repeating the run: {m}"))
            OUTCOMES.put(run_key, outcome)
        result = run_audit(outcome, attacks, settings, lambda f, m: report_progress(share + (1 - share) * f, m))
    AUDITS.put(key, result)
    return result, False
