"""The audit step: validate a request, then run the chosen attacks on a finished run, in order."""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from ..errors import UnlearningInputError, shown
from ..hparams import as_config, describe
from ..metering import Work, WorkMeter, metered
from ..runner import model_prices
from ..zoo import get_model_spec
from . import inversion, membership, relearn

ProgressFn = Callable[[float, str], None]


@dataclasses.dataclass(frozen=True)
class Attack:
    """One audit: its knobs (a config dataclass, defaults per family) and the function that runs it."""

    name: str
    label: str
    question: str                      # what it answers, in one line (the app shows it)
    applies_to: str                    # the families it applies to, in the user's words
    families: tuple[str, ...]          # model families it applies to
    config_class: type
    run: Callable[..., dict[str, Any]]  # (outcome, config, progress) -> plain data
    work: Callable[..., Work]           # (report, task, config) -> what it computes, for the audit's budget
    family_defaults: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    length_knob: str = "steps"          # the knob that scales its work, for the budget's advice

    def config_for(self, family: str, overrides: dict[str, Any] | None = None):
        """The config for ``family``: dataclass defaults, the family's, then ``overrides`` (all validated)."""
        try:
            return as_config(self.config_class, overrides, self.family_defaults.get(family),
                             f"the {self.name} attack")
        except UnlearningInputError as error:
            raise UnlearningInputError(f"{self.name}: {error}") from None

    def controls(self, family: str) -> list[dict[str, Any]]:
        """The knobs the app shows, with this family's defaults."""
        defaults = self.family_defaults.get(family, {})
        return [{**knob, "default": defaults.get(knob["name"], knob["default"])} for knob in describe(self.config_class)]


ATTACKS: dict[str, Attack] = {attack.name: attack for attack in (
    Attack("ulira", "Per-example membership inference (U-LiRA)",
           "Is it private? Shadow models tell forgotten samples from never-seen ones, one sample at a time.",
           "classifiers", ("classification",), membership.ULiRAConfig, membership.ulira,
           membership.work, length_knob="shadows"),
    Attack("relearn", "Relearning attack",
           "Is it gone, or hidden? A few fine-tuning steps on a handful of forget samples, against Retrain's pace.",
           "every model", tuple(relearn.SCORE_NAMES), relearn.RelearnConfig, relearn.relearn, relearn.work,
           relearn.FAMILY_DEFAULTS),
    Attack("inversion", "Concept inversion",
           "Is it gone, or hidden? A learned embedding, searched against the frozen unlearned model, asks for it.",
           "image generators", ("class-diffusion", "text-diffusion"), inversion.InversionConfig, inversion.invert,
           inversion.work),
)}


def attacks_for(family: str) -> list[str]:
    return [name for name, attack in ATTACKS.items() if family in attack.families]


def validate_audit(model_name: str, attacks: Any, settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Check a request before any work: known attacks that apply to the model's family, and valid knobs.
    Returns attack name -> its config."""
    family = get_model_spec(model_name).family
    if isinstance(attacks, str):
        attacks = [attacks]
    attacks = list(attacks or [])
    valid = attacks_for(family)
    if not attacks:
        raise UnlearningInputError(f"choose at least one attack; for {model_name} ({family}): {', '.join(valid)}")
    # A repeat is refused, not dropped (as Compare refuses a repeated method): the request says what is run.
    repeated = [shown(name) for i, name in enumerate(attacks) if name in attacks[:i]]
    if repeated:
        raise UnlearningInputError(f"each attack can be run once; listed more than once: "
                                   f"{', '.join(dict.fromkeys(repeated))}")
    for name in attacks:
        if name not in ATTACKS:
            raise UnlearningInputError(f"unknown attack {shown(name)}; valid: {', '.join(ATTACKS)}")
        if family not in ATTACKS[name].families:
            raise UnlearningInputError(
                f"{name} applies to {', '.join(ATTACKS[name].families)} models; {model_name} is {family} "
                f"(valid here: {', '.join(valid)})")
    settings = settings or {}
    for name in settings:
        if not isinstance(settings[name] or {}, dict):
            raise UnlearningInputError(f"settings for {shown(name)} must be a JSON object of knobs, e.g. "
                                       f"{{\"relearn\": {{\"steps\": 40}}}}; got {shown(settings[name])}")
        if name not in attacks:
            raise UnlearningInputError(f"settings given for {shown(name)}, which is not being run; running: "
                                       f"{', '.join(attacks)}")
    return {name: ATTACKS[name].config_for(family, settings.get(name)) for name in attacks}


def audit_work(report: dict[str, Any], task, attacks: Any, settings: dict[str, dict[str, Any]] | None = None) -> Work:
    """What auditing the run of ``report`` (its ``task``) with ``attacks`` computes, in the run budget's units
    (validates the request)."""
    configs = validate_audit(report["model"], attacks, settings)
    total = Work(0.0)
    for name, config in configs.items():
        total = total + ATTACKS[name].work(report, task, config)
    return total


def run_audit(outcome, attacks: Any, settings: dict[str, dict[str, Any]] | None = None,
              progress: ProgressFn | None = None, allowance: float | None = None) -> dict[str, Any]:
    """Run ``attacks`` on ``outcome`` (a runner.RunOutcome); returns ``{attack: result, ..., "seconds": {...}}``.
    The run's model is never changed: every attack works on copies. With ``allowance``, the audit is stopped
    (``metering.WorkExceeded``) once its work is over ``allowance`` times its estimate (the app's work stop)."""
    configs = validate_audit(outcome.report["model"], attacks, settings)
    prices = model_prices(outcome.report["model"])
    meter = None
    if allowance is not None and prices is not None:
        estimate = audit_work(outcome.report, outcome.task, attacks, settings)
        meter = WorkMeter(f"the audit of {outcome.report['model']}", estimate, prices, allowance)
    with metered(meter):
        return _run_attacks(outcome, configs, progress)


def _run_attacks(outcome, configs: dict[str, Any], progress: ProgressFn | None) -> dict[str, Any]:
    audit: dict[str, Any] = {"seconds": {}}
    for index, (name, config) in enumerate(configs.items()):
        part = (lambda f, m, i=index: progress((i + f) / len(configs), f"{name}: {m}")) if progress else None
        start = time.perf_counter()
        audit[name] = ATTACKS[name].run(outcome, config, part)
        audit["seconds"][name] = time.perf_counter() - start
        audit[name]["config"] = dataclasses.asdict(config)
    if progress:
        progress(1.0, "audit done")
    return audit
