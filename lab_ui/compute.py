"""The bridge to the compute core: validate a request, wait for the one compute slot, run it through
``unlearn_core.runner`` (or ``unlearn_core.sweep``) and inspect it with ``unlearn_core.inspection``, caching the
results in ``state``."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from unlearn_core.attribution import attribution_method_key
from unlearn_core.audit import run_audit, validate_audit
from unlearn_core.budget import WORK_ALLOWANCE, check_audit_budget, check_budget
from unlearn_core.errors import ComputationStopped, UnlearningInputError, shown
from unlearn_core.inspection import inspect_run
from unlearn_core.methods import get_method
from unlearn_core.runner import check_seed, repeat_seeds, run_seeds, run_unlearning
from unlearn_core.sweep import SweepRequest, forget_amount_sweep, validate_sweep
from unlearn_core.zoo import available_models, get_model_spec

from lab_ui.gpu import on_gpu
from lab_ui.state import AUDITS, LIMITS, OUTCOMES, QUEUE, REPORTS, SWEEPS, VIEWS, RunCancelled

Progress = Callable[[float, str], None]
# Each app instance gets its own private folder (mode 0700, a fresh name: never a fixed path in the shared temp
# folder that someone else could plant), named after its process (``unlearning-lab-<pid>-<random>``) so that a
# later start can tell the folder of a killed instance (kill -9 skips the clean-up at exit) from a live one's.
# The runs' files live in it and are served from where they are (``runs_dir`` is a gradio static path, see
# lab_ui/launch.py), and all of it goes at shutdown.
INSTANCE_PREFIX = "unlearning-lab-"
INSTANCE_NAME = re.compile(re.escape(INSTANCE_PREFIX) + r"([0-9]{1,10})-[A-Za-z0-9_]+")
_INSTANCE: list[Path] = []


def instance_dir() -> Path:
    """This app instance's private folder (created on first use)."""
    if not _INSTANCE:
        _INSTANCE.append(Path(tempfile.mkdtemp(prefix=f"{INSTANCE_PREFIX}{os.getpid()}-")))
    return _INSTANCE[0]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    except OverflowError:  # no process has such an id
        return False
    return True


def remove_stale_instance_dirs(parent: Path | None = None) -> list[Path]:
    """At start-up: remove the folders of this app's instances that ended without their clean-up (kill -9, a
    crash), in ``parent`` (the temp folder). Only folders named by ``instance_dir`` (no symlink), owned by this
    user, whose process is gone; never this instance's, nor a live one's (a reused pid keeps its folder: the safe
    side). Returns the folders removed."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    removed = []
    for folder in sorted(parent.glob(INSTANCE_PREFIX + "*")):
        match = INSTANCE_NAME.fullmatch(folder.name)
        if match is None or folder in _INSTANCE:
            continue
        try:
            info = folder.lstat()
        except OSError:  # gone meanwhile
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or process_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)  # another start may be removing it too
        removed.append(folder)
    return removed


def runs_dir() -> Path:
    """Where each run's downloads (weights, report) are written; gradio is allowed to serve files from here."""
    folder = instance_dir() / "runs"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def new_run_folder(method: str) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=f"{method}-", dir=runs_dir()))
    except OSError as error:
        raise UnlearningInputError(f"the app cannot write its run files ({error.strerror}); the run was not "
                                   "kept. Tell the app's operator: its temporary folder is full or read-only.") from None


def drop_run_folder(key: tuple, view: Any) -> None:
    """A view left the cache: its files go with it."""
    folder = RUN_FOLDERS.pop(key, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def remove_instance_dir() -> None:
    """At shutdown: everything this instance wrote."""
    if _INSTANCE:
        shutil.rmtree(_INSTANCE[0], ignore_errors=True)


def prune_cache(folder: Path, max_bytes: int, keep: Path) -> None:
    """Keep gradio's cache under ``folder`` (outside ``keep``, the runs we manage) below ``max_bytes``: the
    oldest files go first."""
    files = [f for f in folder.rglob("*") if f.is_file() and keep not in f.parents]
    total = sum(f.stat().st_size for f in files)
    for f in sorted(files, key=lambda f: f.stat().st_mtime):
        if total <= max_bytes:
            break
        total -= f.stat().st_size
        f.unlink(missing_ok=True)


RUN_FOLDERS: dict[tuple, Path] = {}
VIEWS.on_evict = drop_run_folder


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
    request = spec.parse_forget("" if forget is None else forget)  # never str(): a list would parse as "['class"
    if not method:
        raise UnlearningInputError("choose a method")
    method_obj = get_method(method).for_task(spec.family, overrides, model=spec.name,
                                             forget_kind=request.kind)  # with the tuned defaults, as the run
    spec.check_method(type(method_obj))
    seed_value = check_seed(seed)
    config = json.dumps(dataclasses.asdict(method_obj.config), sort_keys=True, default=str)
    return (spec.name, str(request), method_obj.name, seed_value, config)


def report_key(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any,
               with_retrain: bool) -> tuple:
    """The cache key of a run's report (``state.REPORTS``): Compare finds the Lab's runs under it."""
    return (*normalise_request(model, forget, method, overrides, seed), bool(with_retrain))


def view_key(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any, with_retrain: bool,
             attribution: str, repeat: Any = 1) -> tuple:
    """The cache key of an inspected run (``state.VIEWS``): its report's key (the first seed's), the attribution
    method and the number of seeds the request repeats over."""
    run_key = report_key(model, forget, method, overrides, seed, with_retrain)
    return (*run_key, attribution, len(repeat_seeds(run_key[3], repeat)))


class OverWallCap(RunCancelled, ComputationStopped):
    """A computation that ran past the operator's wall-clock cap (``LIMITS.max_wall_s``, off by default) and was
    stopped. ``kept`` says what of it was kept, when something was."""

    def __init__(self, elapsed_s: float, cap_s: float, estimate_s: float, kept: str = ""):
        self.elapsed_s, self.cap_s, self.estimate_s = elapsed_s, cap_s, estimate_s
        self.reason = f"stopped after {elapsed_s:.0f} s by this app's wall-clock cap of {cap_s:.0f} s"
        estimate = f" (its estimate was {estimate_s:.0f} s of an idle machine)" if estimate_s else ""
        self.kept = kept or "nothing was kept"
        super().__init__(f"stopped after {elapsed_s:.0f} s: this app's operator stops every computation after "
                         f"{cap_s:.0f} s of wall-clock time{estimate}; {self.kept}. Try smaller settings, try again "
                         "when the app is less busy, or run it from the command line, which has no limit.")


@dataclasses.dataclass
class Timing:
    """How long a request waited in the queue (``queued_s``), filled in by ``compute_slot`` once it starts."""

    queued_s: float = 0.0


def budget_checked(requests: list[tuple]) -> float:
    """The summed estimate of runs ``(model, forget, method, overrides, seed, with_retrain)``; refuses
    (``BudgetExceeded``, before any work) when it is over the app's budget."""
    return check_budget(requests, LIMITS.budget_s).seconds


def waiting_message(ahead: int, wait_s: float) -> str:
    if ahead == 0:
        return "starting"
    return (f"queued: {ahead} request{'s' if ahead != 1 else ''} ahead of yours, expected wait about "
            f"{wait_s:.0f} s")


@contextlib.contextmanager
def compute_slot(flag: threading.Event | None, progress: Progress, estimate_s: float = 0.0,
                 visitor: str = "api", background: bool = False, client: str | None = None,
                 timing: Timing | None = None) -> Iterator[Progress]:
    """Hold the one computation slot for the body of a ``with`` block. The request joins the queue (one per
    visitor, ``per_client`` waiting per address: ``QueueRefused`` otherwise), reports its place and expected wait
    while it waits, honours Cancel, records its time in the queue in ``timing`` and yields the progress function
    to run with. A run admitted by its estimate is not stopped for being slow (the core's work meter stops one
    whose work runs far over its estimate): only the operator's wall-clock cap (``LIMITS.max_wall_s``, off by
    default) stops it for its time, with ``OverWallCap``."""
    joined = time.monotonic()
    ticket = QUEUE.join(visitor, estimate_s, background, client)
    try:
        while not QUEUE.try_start(ticket):
            if flag is not None and flag.is_set():
                raise RunCancelled()
            if not background:
                progress(0.0, waiting_message(*QUEUE.position(ticket)))
            QUEUE.wait(0.5)
        started = time.monotonic()
        if timing is not None:
            timing.queued_s = started - joined
        cap = None if background else LIMITS.max_wall_s
        prune_cache(instance_dir(), LIMITS.cache_bytes, runs_dir())

        def report(fraction: float, message: str) -> None:
            elapsed = time.monotonic() - started
            if cap is not None and elapsed > cap:
                raise OverWallCap(elapsed, cap, estimate_s)
            progress(fraction, message)

        yield report
    finally:
        QUEUE.leave(ticket)


def cancellable(flag: threading.Event | None, progress: Progress) -> Progress:
    """``progress`` that first raises ``RunCancelled`` once Cancel has set ``flag``: the core calls it at every
    step, so a computation stops within one step."""

    def report(fraction: float, message: str) -> None:
        if flag is not None and flag.is_set():
            raise RunCancelled()
        progress(fraction, message)

    return report


def view_runs(model: str, forget: str, method: str, overrides: dict[str, Any], seed: Any, with_retrain: bool,
              repeat: Any = 1) -> list[tuple]:
    """What the run budget prices for a Lab request: one run per seed it repeats over."""
    return [(model, forget, method, overrides, s, bool(with_retrain)) for s in repeat_seeds(check_seed(seed), repeat)]


def view_estimate(model: str, forget: str, method: str, overrides: dict[str, Any], seed: int, with_retrain: bool,
                  *rest, repeat: Any = 1, **options) -> float:
    """The estimate of ``compute_view``'s request (its arguments; only the run's and ``repeat`` matter)."""
    return check_budget(view_runs(model, forget, method, overrides, seed, with_retrain, repeat), None).seconds


@on_gpu(view_estimate)
def compute_view(model: str, forget: str, method: str, overrides: dict[str, Any], seed: int, with_retrain: bool,
                 attribution: str, progress: Progress, flag: threading.Event | None = None,
                 background: bool = False, visitor: str = "api", repeat: Any = 1, client: str | None = None,
                 timing: Timing | None = None):
    """Run (or fetch) one request and inspect it; returns (view, from_cache). A request repeated over several
    seeds runs each (its summary in ``view["seeds"]``) and inspects the first. A request estimated over the
    budget is refused before it queues; a background one (the warm-up) is not priced against the budget, but its
    estimate counts in the waiting visitors' expected wait."""
    key = view_key(model, forget, method, overrides, seed, with_retrain, attribution, repeat)
    cached = VIEWS.get(key)
    if cached is not None:
        return cached, True
    run_key, seeds = key[:6], repeat_seeds(key[3], key[-1])
    runs = view_runs(model, forget, method, overrides, key[3], with_retrain, key[-1])
    estimate = check_budget(runs, None).seconds if background else budget_checked(runs)
    uncapped = cancellable(flag, progress)
    with compute_slot(flag, uncapped, estimate, visitor, background, client, timing) as report:
        cached = VIEWS.get(key)  # someone may have computed it while we waited
        if cached is not None:
            return cached, True
        if len(seeds) == 1:
            outcome = run_unlearning(model, forget, method, key[3], overrides, bool(with_retrain),
                                     lambda f, m: report(0.85 * f, m), allowance=WORK_ALLOWANCE)
            seeds_report = None
        else:
            repeated = run_seeds(model, forget, method, seeds, overrides, bool(with_retrain),
                                 lambda f, m: report(0.85 * f, m), allowance=WORK_ALLOWANCE)
            outcome, seeds_report = repeated.first, repeated.report
        partial = (seeds_report or {}).get("partial")
        out_dir = new_run_folder(outcome.report["method"])
        # The seeds a stopped request finished are shown: their inspection is not stopped by the cap again.
        view = inspect_run(outcome, out_dir, None if attribution == "none" else attribution,
                           lambda f, m: (uncapped if partial else report)(0.85 + 0.15 * f, m), seeds_report)
    if partial:  # cached apart (its files go when it is evicted), never answering the whole request
        view["partial"] = partial
        key = (*key, "partial")
    RUN_FOLDERS[key] = out_dir
    VIEWS.put(key, view)
    OUTCOMES.put(run_key[:5], outcome)
    for seed_report in (seeds_report["runs"] if seeds_report else [outcome.report]):
        REPORTS.put((*run_key[:3], seed_report["seed"], *run_key[4:]), seed_report)
    return view, False


@dataclasses.dataclass(frozen=True)
class CompareItem:
    """One method of a Compare: its validated report key and what run_unlearning takes."""

    key: tuple
    model: str
    forget: str
    method: str
    overrides: dict[str, Any]
    seed: int


def compare_runs(items: list[CompareItem]) -> list[tuple]:
    """What the run budget prices for a Compare's items (each with Retrain)."""
    return [(i.model, i.forget, i.method, i.overrides, i.seed, True) for i in items]


def reports_estimate(items: list[CompareItem], *rest, **options) -> float:
    return check_budget(compare_runs(items), None).seconds


@on_gpu(reports_estimate)
def compute_reports(items: list[CompareItem], flag: threading.Event, progress: Progress,
                    visitor: str = "api", client: str | None = None,
                    timing: Timing | None = None) -> tuple[list[dict[str, Any] | None], ComputationStopped | None]:
    """Run (or fetch) several requests with Retrain but without inspection (what Compare needs), holding the
    compute slot once for all of them; returns (their reports, None). Refused before it queues when the runs not
    yet cached are estimated over the budget. Stopped by the operator's wall-clock cap after some runs finished,
    it returns (the reports, None for each unfinished run; the stop); stopped before any, it raises the stop. The
    work stop (a run doing over ``WORK_ALLOWANCE`` times its estimated work) is such a stop too."""
    missing = [item for item in items if REPORTS.get(item.key) is None]
    stop = None
    if missing:
        estimate = budget_checked(compare_runs(missing))
        with compute_slot(flag, cancellable(flag, progress), estimate, visitor, client=client,
                          timing=timing) as report:
            for n, item in enumerate(missing):
                if REPORTS.get(item.key) is not None:
                    continue
                try:
                    outcome = run_unlearning(item.model, item.forget, item.method, item.seed, item.overrides, True,
                                             lambda f, m, n=n, name=item.method:
                                             report((n + f) / len(missing), f"{name}: {m}"),
                                             allowance=WORK_ALLOWANCE)
                except ComputationStopped as stopped:
                    if not any(REPORTS.get(each.key) is not None for each in items):
                        raise
                    stop = stopped
                    break
                REPORTS.put(item.key, outcome.report)
    return [REPORTS.get(item.key) for item in items], stop


def sweep_request(model: str, shares: Any, methods: Any, seed: Any, overrides: dict[str, Any]) -> SweepRequest:
    """Validate a forget-amount sweep with one seed (clear errors before any work)."""
    return validate_sweep(model, shares, methods, [seed], overrides)


def sweep_runs(request: SweepRequest) -> list[tuple]:
    return [(request.model, f"random:{share:g}", method, request.overrides.get(method) or {}, seed, True)
            for share in request.shares for seed in request.seeds for method in request.methods]


@on_gpu(lambda request, *rest, **options: check_budget(sweep_runs(request), None).seconds)
def compute_sweep(request: SweepRequest, flag: threading.Event, progress: Progress,
                  visitor: str = "api", client: str | None = None,
                  timing: Timing | None = None) -> tuple[dict[str, Any], bool]:
    """Run a validated sweep holding the compute slot, or fetch an identical one from the cache; returns
    (sweep data, from_cache). Refused before it queues when estimated over the budget. Stopped by a limit after
    some shares, it returns those, marked ``partial`` (and not cached)."""
    cached = SWEEPS.get(request.cache_key)
    if cached is not None:
        return cached, True
    estimate = budget_checked(sweep_runs(request))
    with compute_slot(flag, cancellable(flag, progress), estimate, visitor, client=client, timing=timing) as report:
        result = forget_amount_sweep(request.model, request.shares, request.methods, request.seeds,
                                     request.overrides, report, allowance=WORK_ALLOWANCE)
    if "partial" not in result:
        SWEEPS.put(request.cache_key, result)
    return result, False


def audit_estimate(view: dict[str, Any] | None, attacks: Any, settings: dict[str, Any], *rest, **options) -> float:
    """The estimate of ``compute_audit``'s request (the run repeated when it left ``OUTCOMES``)."""
    report = (view or {}).get("report")
    if not report:
        raise UnlearningInputError("run a method first: the audit examines the result of the run shown above")
    return check_audit_budget(report, attacks, settings, None, rerun=True).seconds


@on_gpu(audit_estimate)
def compute_audit(view: dict[str, Any] | None, attacks: Any, settings: dict[str, Any], flag: threading.Event,
                  progress: Progress, visitor: str = "api", client: str | None = None,
                  timing: Timing | None = None) -> tuple[dict[str, Any], bool]:
    """Audit the run shown in ``view`` (this session's last run); returns (audit data, from_cache). The run's
    model comes from ``OUTCOMES``; a run evicted from there is repeated first (runs are seeded). Refused before
    it queues when its estimate (the attacks' work, the repeated run) is over the budget; stopped by its work
    meter like a run, or by the operator's wall-clock cap when set."""
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
    estimate = check_audit_budget(report, attacks, settings, LIMITS.budget_s, OUTCOMES.get(run_key) is None)
    with compute_slot(flag, cancellable(flag, progress), estimate.seconds, visitor, client=client,
                      timing=timing) as report_progress:
        outcome = OUTCOMES.get(run_key)
        share = 0.0
        if outcome is None:
            share = 0.3
            outcome = run_unlearning(report["model"], report["forget"], report["method"], report["seed"],
                                     report["hyperparameters"], True,
                                     lambda f, m: report_progress(share * f, f"repeating the run: {m}"),
                                     allowance=WORK_ALLOWANCE)
            OUTCOMES.put(run_key, outcome)
        result = run_audit(outcome, attacks, settings, lambda f, m: report_progress(share + (1 - share) * f, m),
                           allowance=WORK_ALLOWANCE)
    AUDITS.put(key, result)
    return result, False
