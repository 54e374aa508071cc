"""The start-up warm-up: the examples are computed in the background once the server is up, and the first
one becomes the view every new visitor sees."""
from __future__ import annotations

import logging
import time
from typing import Any

from unlearn_core.errors import DivergenceError, UnlearningInputError
from unlearn_core.zoo import available_models

from lab_ui.compute import compute_view, view_key
from lab_ui.config import DEFAULT_ATTRIBUTION, EXAMPLES
from lab_ui.state import VIEWS, WARMUP_DONE

LOG = logging.getLogger("unlearning-lab")


def warm_up(examples: list[list[Any]]) -> None:
    """Compute the examples in the background after the server is up, so a first visitor sees results at once
    (the first one fills the page on load) and the default forget target's Retrain is cached."""
    try:
        for i, (model, forget, method, seed) in enumerate(examples):
            if model not in available_models():
                continue
            start = time.perf_counter()
            compute_view(model, forget, method, {}, seed, True, DEFAULT_ATTRIBUTION, lambda f, m: None,
                         background=True)
            LOG.info("warm-up: %s %s %s ready in %.1f s", model, forget, method, time.perf_counter() - start)
            if i == 0:
                WARMUP_DONE.set()
    except (UnlearningInputError, DivergenceError) as error:
        LOG.warning("warm-up stopped: %s", error)
    finally:
        WARMUP_DONE.set()


def default_view() -> dict[str, Any] | None:
    """The first example's view once the warm-up has computed it, else None."""
    model, forget, method, seed = EXAMPLES[0]
    try:
        key = view_key(model, forget, method, {}, seed, True, DEFAULT_ATTRIBUTION)
    except UnlearningInputError:
        return None
    return VIEWS.get(key)
