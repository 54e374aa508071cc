"""Audits of an unlearning run: is it private, and is it really gone?

Three attacks, each a module with a config dataclass (knobs declared with :func:`hparam`, so the CLI and the
app build their controls from it) and one function that takes a finished run (:class:`runner.RunOutcome`) and
returns plain data:

- :mod:`.membership` (``ulira``): per-example membership inference (U-LiRA, Hayes et al. 2024) with shadow
  models trained once per classifier and cached on disk (:mod:`.shadows`, ``build_shadows``; digits-mlp's
  ship in ``assets/digits-mlp-shadows``); classifiers only.
- :mod:`.relearn` (``relearn``): a few fine-tuning steps on forget samples, from the unlearned model, the
  original and Retrain; every family.
- :mod:`.inversion` (``inversion``): a learned token / class embedding against the frozen unlearned model
  (concept inversion); generative families.

:mod:`.suite` validates a request and runs the chosen attacks in order (``run_audit``). Audits never change the
run's model: every attack works on its own copy. They call ``progress`` often, so a progress callback that
raises (the app's Cancel) stops them within a step.

This package sits in the runner layer: it may import the runner, the zoo, methods, tasks and below.
"""
from .suite import ATTACKS, Attack, attacks_for, run_audit, validate_audit

__all__ = ["ATTACKS", "Attack", "attacks_for", "run_audit", "validate_audit"]
