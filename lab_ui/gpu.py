"""Where the app computes: the device (``UNLEARN_DEVICE``, else cuda when available), how many runs share it
(one on a CPU; ``--concurrent-runs`` on a GPU) and, on a Hugging Face ZeroGPU Space, the GPU lease.

On ZeroGPU a GPU is attached only inside functions decorated with ``spaces.GPU``; :func:`on_gpu` does that when
the ``spaces`` package is installed (it is on Spaces) and nothing otherwise. The lease's duration follows the
request: the run budget's estimate of it, with a margin, capped at the app's budget limit (ZeroGPU's own
default, 60 s, would cut a diffusion run short; asking for more than a run needs lowers the visitor's
priority in ZeroGPU's queue)."""
from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

from unlearn_core.errors import UnlearningInputError
from unlearn_core.execution import device_label, use_device

from lab_ui.state import LIMITS, QUEUE

GPU_MARGIN = 1.5     # a lease lasts the estimate times this, plus the start-up below
GPU_START_S = 20.0   # moving the model to the GPU, the first kernels
GPU_MIN_S = 30
GPU_MAX_S = 600      # without a budget: ZeroGPU's longest lease for most accounts


def configure_compute(concurrent_runs: int) -> str:
    """The device runs compute on and the number of runs at once on it; returns the device's name for the log
    and the page. More than one run at a time only on a GPU (two runs on one small CPU are each twice as slow,
    and the budget's estimates would be wrong). A bad setting ends the start-up with one line (SystemExit)."""
    try:
        device = use_device(None)
    except UnlearningInputError as error:
        raise SystemExit(f"error: UNLEARN_DEVICE: {error}") from None
    if concurrent_runs > 1 and device.type != "cuda":
        raise SystemExit(f"error: --concurrent-runs {concurrent_runs} needs a GPU; this app computes on "
                         f"{device_label(device)}, one run at a time")
    QUEUE.slots = concurrent_runs
    LIMITS.device = device_label(device)
    return LIMITS.device


def lease_seconds(estimate_s: float) -> int:
    """How long a ZeroGPU lease asks for a request estimated at ``estimate_s`` seconds of this app's machine."""
    limit = LIMITS.limit_s() or GPU_MAX_S
    return int(min(max(GPU_START_S + GPU_MARGIN * estimate_s, GPU_MIN_S), limit, GPU_MAX_S))


def zero_gpu() -> Any | None:
    """The ``spaces`` package where it is installed (a Hugging Face Space), else None."""
    try:
        return importlib.import_module("spaces")
    except ImportError:
        return None


def on_gpu(estimate: Callable[..., float]) -> Callable[[Callable], Callable]:
    """Decorator: on ZeroGPU, the function runs with a GPU leased for ``lease_seconds(estimate(*args))``
    (``estimate`` takes the function's arguments); elsewhere the function is returned unchanged."""
    spaces = zero_gpu()

    def decorate(function: Callable) -> Callable:
        if spaces is None:
            return function

        def duration(*args, **kwargs) -> int:
            try:
                return lease_seconds(estimate(*args, **kwargs))
            except UnlearningInputError:  # the function itself will say what is wrong with the request
                return GPU_MIN_S

        leased = spaces.GPU(duration=duration)(function)
        return functools.wraps(function)(leased)

    return decorate
