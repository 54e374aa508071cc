"""The app on a GPU machine or a ZeroGPU Space, checked on this CPU: the ``spaces.GPU`` lease wraps the compute
functions only where the ``spaces`` package exists, with a duration that follows the request's estimate; the
compute queue takes several runs at once only on a GPU; the page names the device."""
from __future__ import annotations

import sys
import types

import pytest

from lab_ui import compute, gpu
from lab_ui.state import LIMITS, ComputeQueue


def test_without_the_spaces_package_the_compute_functions_are_left_alone():
    assert gpu.zero_gpu() is None

    def work(x):
        return x + 1

    assert gpu.on_gpu(lambda x: 1.0)(work) is work


def test_on_zero_gpu_a_run_leases_the_gpu_for_its_estimate(monkeypatch):
    leases = []

    def fake_gpu(duration):
        def decorate(function):
            def leased(*args, **kwargs):
                leases.append(duration(*args, **kwargs))
                return function(*args, **kwargs)
            return leased
        return decorate

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setattr(LIMITS, "budget_s", 120.0)
    view = gpu.on_gpu(compute.view_estimate)(lambda *args, **kwargs: "ran")
    assert view("digits-cnn", "class:3", "salun", {}, 0, True, "none", None) == "ran"
    short = leases[-1]
    view("digits-cnn", "class:3", "salun", {"epochs": 10.0}, 0, True, "none", None)
    longer = leases[-1]
    estimate = compute.view_estimate("digits-cnn", "class:3", "salun", {}, 0, True)
    assert short == gpu.lease_seconds(estimate) and gpu.GPU_MIN_S <= short < longer
    assert longer <= LIMITS.limit_s()  # never longer than the app lets a request run
    # a bad request gets the shortest lease; the function itself then says what is wrong
    view("digits-cnn", "class:3", "salun", {"epochs": "abc"}, 0, True, "none", None)
    assert leases[-1] == gpu.GPU_MIN_S


def test_a_gpu_queue_runs_several_requests_at_once_a_cpu_queue_one():
    queue = ComputeQueue(slots=2)
    a, b, c = (queue.join(v, 10.0) for v in ("a", "b", "c"))
    assert queue.try_start(a) and queue.try_start(b) and not queue.try_start(c)
    ahead, wait = queue.position(c)
    assert ahead == 2 and 9.0 <= wait <= 10.0  # two runs of 10 s left, shared by two slots
    queue.leave(a)
    assert queue.try_start(c)
    single = ComputeQueue()
    d, e = single.join("d", 5.0), single.join("e", 5.0)
    assert single.try_start(d) and not single.try_start(e)


def test_more_than_one_run_at_once_needs_a_gpu_and_the_page_names_the_device(monkeypatch):
    monkeypatch.delenv("UNLEARN_DEVICE", raising=False)
    with pytest.raises(SystemExit, match="--concurrent-runs 2 needs a GPU; this app computes on cpu"):
        gpu.configure_compute(2)
    assert gpu.configure_compute(1) == "cpu"
    assert "Runs compute on: cpu." in LIMITS.describe()
    monkeypatch.setenv("UNLEARN_DEVICE", "cuda")
    with pytest.raises(SystemExit, match="UNLEARN_DEVICE: device 'cuda' was asked for but no CUDA GPU is visible"):
        gpu.configure_compute(1)
