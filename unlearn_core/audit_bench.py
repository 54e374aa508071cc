"""``python -m unlearn_core bench-audit``: audit several methods on one model and write the tables.

Every (method, seed) audit is appended to ``benchmarks/audit-MODEL.jsonl`` as it finishes, so an interrupted
benchmark resumes where it stopped; the markdown table is rewritten from that log at the end.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import platform
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .assets import ASSETS
from .audit.suite import attacks_for, validate_audit
from .errors import UnlearningInputError
from .zoo import get_model_spec

ProgressFn = Callable[[float, str], None]
BENCH_DIR = ASSETS.parent / "benchmarks"


@dataclasses.dataclass(frozen=True)
class AuditPlan:
    forget: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    attacks: tuple[str, ...] | None = None  # None: every attack that applies to the family


# The report seeds of the verdicts issue (tuning used others); the generative models' methods are the ones the
# audits issue names. A classifier that forgot a random share still recognises it as well as Retrain does
# (it generalises), so relearning has nothing to measure there: its relearning audit is run on class:3
# (`bench-audit --model digits-mlp --forget class:3 --attack relearn --out benchmarks/audit-digits-mlp-class3.md`).
AUDIT_PLANS: dict[str, AuditPlan] = {
    "digits-mlp": AuditPlan("random:10", ("ft", "ga", "rl", "l1_sparse", "iu", "be", "bs", "scrub", "bad_teacher",
                                          "salun", "salun_soft", "sfr_on", "slug"), (0, 1, 2, 3, 4), ("ulira",)),
    "digits-cnn": AuditPlan("random:10", ("ft", "ga", "rl", "salun", "sfr_on", "slug"), (0,), ("ulira",)),
    "digits-ddpm": AuditPlan("class:3", ("salun", "sfr_on", "esd", "slug"), (0,)),
    "shapes-t2i": AuditPlan("concept:triangle", ("salun", "sfr_on", "esd", "slug"), (0,)),
}


def _log_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_audit_benchmark(model: str, forget: str | None = None, methods: list[str] | None = None,
                        seeds: list[int] | None = None, attacks: list[str] | None = None, out: Path | None = None,
                        progress: ProgressFn | None = None) -> Path:
    from .audit.suite import run_audit
    from .methods import get_method
    from .runner import run_unlearning

    spec = get_model_spec(model)
    plan = AUDIT_PLANS.get(model)
    if plan is None and (forget is None or methods is None or seeds is None):
        raise UnlearningInputError(f"no audit plan for {model}: give --forget, --methods and --seeds (planned: "
                                   f"{', '.join(AUDIT_PLANS)})")
    forget = str(spec.parse_forget(forget or plan.forget))
    methods = methods or list(plan.methods)
    seeds = seeds if seeds is not None else list(plan.seeds)
    attacks = attacks or list((plan.attacks if plan and plan.attacks else None) or attacks_for(spec.family))
    validate_audit(model, attacks)
    for method in methods:
        get_method(method).for_task(spec.family, {})  # unknown or inapplicable methods fail before any run
    default_out = BENCH_DIR / f"audit-{model}.md"
    out = out or default_out
    # The header names the whole command, so a table written with other targets or attacks says how to redo it.
    command = (f"python -m unlearn_core bench-audit --model {model} --forget {forget} "
               f"--methods {','.join(methods)} --seeds {','.join(map(str, seeds))} "
               + " ".join(f"--attack {a}" for a in attacks)
               + ("" if Path(out).resolve() == default_out.resolve() else f" --out {out}"))
    log = out.with_suffix(".jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["method"], r["forget"], r["seed"]): set(r["attacks"]) for r in _log_rows(log)}
    jobs = [(method, seed) for method in methods for seed in seeds]
    for index, (method, seed) in enumerate(jobs):
        if set(attacks) <= done.get((method, forget, seed), set()):  # an earlier audit covered these attacks
            continue
        part = (lambda f, m, i=index: progress((i + f) / len(jobs), f"{method} seed {seed}: {m}")) if progress else None
        outcome = run_unlearning(model, forget, method, seed, progress=part and (lambda f, m: part(0.3 * f, m)))
        audit = run_audit(outcome, attacks, progress=part and (lambda f, m: part(0.3 + 0.7 * f, m)))
        row = {"method": method, "forget": forget, "seed": seed, "attacks": list(attacks),
               "report": {k: outcome.report.get(k) for k in ("metrics", "avg_gap", "avg_gap_original", "runtime_s")},
               "audit": audit}
        with log.open("a") as handle:
            handle.write(json.dumps(row, default=float) + "\n")
    rows = [r for r in _log_rows(log) if r["forget"] == forget and r["method"] in methods and r["seed"] in seeds
            and set(attacks) <= set(r["attacks"])]
    out.write_text(render(model, forget, methods, seeds, attacks, rows, command))
    return out


def _stat(values: list[float | None], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mean = float(np.mean(values))
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {float(np.std(values)):.{digits}f}"


def _steps(values: list[int | None], limit: int) -> str:
    """Steps to recover over seeds; "> N" where the attack never got there within its N steps."""
    return ", ".join(f"> {limit}" if v is None else str(v) for v in values) or "—"


def _audited(by_method: dict[str, list[dict]], attack: str) -> list[tuple[str, list[dict], list[dict]]]:
    """(method, its logged rows, their ``attack`` results) for every method with rows, in table order."""
    return [(method, rs, [r["audit"][attack] for r in rs]) for method, rs in by_method.items() if rs]


def render(model: str, forget: str, methods: list[str], seeds: list[int], attacks: list[str],
           rows: list[dict[str, Any]], command: str | None = None) -> str:
    from .methods import METHODS

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    by_method = {m: [r for r in rows if r["method"] == m] for m in methods}
    lines = [f"# Audit benchmark: {model}, `{forget}`", "",
             f"Written by `{command or f'python -m unlearn_core bench-audit --model {model}'}` on {stamp}; seeds "
             f"{', '.join(map(str, seeds))} (mean ± std over seeds where there are several); {platform.machine()} CPU. "
             "Each method runs at its tuned default; the audit runs on that run's unlearned model.", ""]
    if "ulira" in attacks:
        lines += ulira_table(by_method, METHODS)
    if "relearn" in attacks:
        lines += relearn_table(by_method, METHODS)
    if "inversion" in attacks:
        lines += inversion_table(by_method, METHODS)
    return "\n".join(lines) + "\n"


def ulira_table(by_method: dict[str, list[dict]], labels) -> list[str]:
    entries = _audited(by_method, "ulira")
    if not entries:
        return []
    first = entries[0][2][0]
    lines = ["## Per-example membership inference (U-LiRA)", "",
             f"{first.get('shadows')} shadow models, each trained on half of a pool of the training data and "
             "never-seen digits; members = the forget set, non-members = as many never-seen digits. AUC in 0..1 "
             "(0.5 = the attack cannot tell), TPR in %. MIA-efficacy is SalUn's population attack on the same model "
             "(% of forget samples it calls non-members; Retrain's is the target).", "",
             "| Model | U-LiRA AUC | TPR @ 1% FPR | TPR @ 5% FPR | MIA-efficacy | Avg. Gap | audit (s) |",
             "|---|---|---|---|---|---|---|"]
    all_rows = [r for _, rs, _ in entries for r in rs]

    def reference(key: str, label: str, mia_key: str) -> str:
        parts = [r["audit"]["ulira"].get(key) or {} for r in all_rows]
        return (f"| {label} | {_stat([p.get('auc') for p in parts], 3)} | {_stat([p.get('tpr_at_1pct_fpr') for p in parts])} | "
                f"{_stat([p.get('tpr_at_5pct_fpr') for p in parts])} | "
                f"{_stat([r['audit']['ulira']['mia_efficacy'].get(mia_key) for r in all_rows])} | "
                f"{_stat([r['report'].get('avg_gap_original') for r in all_rows]) if key == 'original' else '—'} | — |")

    lines.append(reference("original", "Original (doing nothing)", "original"))
    lines.append(reference("retrain", "Retrain (the floor)", "retrain"))
    for method, rs, audits in entries:
        lines.append(f"| {labels[method].label} | {_stat([a['auc'] for a in audits], 3)} | "
                     f"{_stat([a['tpr_at_1pct_fpr'] for a in audits])} | {_stat([a['tpr_at_5pct_fpr'] for a in audits])} | "
                     f"{_stat([a['mia_efficacy'].get('unlearned') for a in audits])} | "
                     f"{_stat([r['report'].get('avg_gap') for r in rs])} | "
                     f"{_stat([r['audit']['seconds']['ulira'] for r in rs], 1)} |")
    builds = [a["shadow_build_s"] for _, _, audits in entries for a in audits if a.get("shadow_build_s")]
    lines += ["", f"Shadow models: built once per classifier in {max(builds):.0f} s on this machine (one thread) and "
              "reused by every audit." if builds else "", ""]
    return lines


def relearn_table(by_method: dict[str, list[dict]], labels) -> list[str]:
    entries = _audited(by_method, "relearn")
    if not entries:
        return []
    first = entries[0][2][0]
    limit = first["steps"]
    lines = ["## Relearning attack", "",
             f"Adam (lr {first['lr']:g}) for up to {limit} steps on {first['samples']} forget samples (with "
             f"{first['retain_samples']} retain samples); score: {first['score_name']}. Steps to recover = the first "
             f"step at which the score reaches half the original's ({first['original_score']:.1f} → "
             f"{first['threshold']:.1f}). Retrain learns the target from scratch: a method that recovers much faster "
             "than Retrain has hidden the target rather than removed it.", "",
             "| Method | score after unlearning | steps to recover | Retrain: steps to recover | score after the attack "
             "| Retrain's score after the attack | audit (s) |",
             "|---|---|---|---|---|---|---|"]
    for method, rs, audits in entries:
        retrain = [a.get("retrain") for a in audits]
        lines.append(
            f"| {labels[method].label} | {_stat([a['unlearned']['curve'][0][1] for a in audits], 1)} | "
            f"{_steps([a['unlearned']['steps_to_recover'] for a in audits], limit)} | "
            f"{_steps([r['steps_to_recover'] for r in retrain if r], limit) if any(retrain) else 'not shipped'} | "
            f"{_stat([a['unlearned']['curve'][-1][1] for a in audits], 1)} | "
            f"{_stat([r['curve'][-1][1] for r in retrain if r], 1) if any(retrain) else '—'} | "
            f"{_stat([r['audit']['seconds']['relearn'] for r in rs], 1)} |")
    return lines + [""]


def inversion_table(by_method: dict[str, list[dict]], labels) -> list[str]:
    entries = _audited(by_method, "inversion")
    if not entries:
        return []
    first = entries[0][2][0]
    lines = ["## Concept inversion", "",
             f"A new embedding learned for {first.get('steps', '?')} steps against the frozen model, on images of the "
             f"concept drawn by the original; score: {first.get('score_name', 'forget score')} (% of samples). "
             "Positive control: the same inversion on the original model, which still draws the concept; Retrain "
             "(where shipped) shows what a model that never learned it gives under the same attack.", "",
             "| Method | plain | under attack | original (control): plain | original: under attack | "
             "Retrain: plain | Retrain: under attack | audit (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for method, rs, audits in entries:

        def part(name: str, key: str) -> str:
            values = [(a.get(name) or {}).get(key) for a in audits]
            return _stat(values, 1) if any(v is not None for v in values) else "—"

        lines.append(f"| {labels[method].label} | {_stat([a['erasure'] for a in audits], 1)} | "
                     f"{_stat([a['erasure_under_attack'] for a in audits], 1)} | {part('original', 'erasure')} | "
                     f"{part('original', 'erasure_under_attack')} | {part('retrain', 'erasure')} | "
                     f"{part('retrain', 'erasure_under_attack')} | "
                     f"{_stat([r['audit']['seconds']['inversion'] for r in rs], 1)} |")
    return lines + [""]
