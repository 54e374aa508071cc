"""The public demo's limits, in process: the fair compute queue, the budget's stop, and bounded disk."""
import os
import stat
import threading
import time

import pytest

from lab_ui import compute
from lab_ui.compute import OverBudget, compute_slot, drop_run_folder, prune_cache
from lab_ui.state import LIMITS, ComputeQueue, QueueRefused, ResultCache
from unlearn_core.errors import UnlearningInputError


def test_one_request_per_visitor_and_a_bounded_queue():
    queue = ComputeQueue(max_waiting=2)
    first = queue.join("alice", 10.0)
    assert queue.try_start(first)
    with pytest.raises(QueueRefused, match="already have a request running"):
        queue.join("alice", 1.0)
    queue.join("bob", 20.0)
    with pytest.raises(QueueRefused, match="already have a request waiting"):
        queue.join("bob", 1.0)
    queue.join("carol", 5.0)
    with pytest.raises(QueueRefused, match="queue is full"):
        queue.join("dave", 1.0)
    queue.leave(first)
    assert queue.try_start(queue.waiting[0])  # bob's turn
    assert queue.join("alice", 1.0)  # her first request is done and there is room: she may queue again


def test_queue_position_and_expected_wait_add_up_what_is_ahead():
    queue = ComputeQueue()
    running = queue.join("a", 30.0)
    assert queue.try_start(running)
    second, third = queue.join("b", 20.0), queue.join("c", 5.0)
    assert not queue.try_start(third)  # first come, first served
    ahead, wait = queue.position(third)
    assert ahead == 2 and 49.0 <= wait <= 50.0  # the running one's remaining ~30 s plus b's 20 s
    queue.leave(running)
    assert queue.try_start(second) and not queue.try_start(third)


def test_the_warm_up_yields_to_visitors():
    queue = ComputeQueue()
    warm_up = queue.join("warm-up", 0.0, background=True)
    visitor = queue.join("v", 1.0)
    assert not queue.try_start(warm_up)
    assert queue.try_start(visitor)
    queue.leave(visitor)
    assert queue.try_start(warm_up)
    assert queue.position(queue.join("w", 1.0))[0] == 1  # the example being computed is ahead of a new visitor


def test_a_waiting_request_is_told_its_place_and_a_second_one_is_refused(monkeypatch):
    queue = ComputeQueue()
    monkeypatch.setattr(compute, "QUEUE", queue)
    holder = queue.join("someone", 40.0)
    assert queue.try_start(holder)
    messages, done = [], threading.Event()

    def waiting_request():
        with compute_slot(None, lambda f, m: messages.append(m), 3.0, "me"):
            done.set()

    thread = threading.Thread(target=waiting_request)
    thread.start()
    time.sleep(0.3)
    with pytest.raises(UnlearningInputError, match="one request per visitor"):
        with compute_slot(None, lambda f, m: None, 1.0, "me"):
            pass
    assert messages and "1 request ahead of yours, expected wait about 40 s" in messages[0]
    queue.leave(holder)
    thread.join(5)
    assert done.is_set()


def test_a_computation_past_the_budget_is_stopped(monkeypatch):
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(LIMITS, "budget_s", 0.2)
    with pytest.raises(OverBudget, match="budget of 0 s"):
        with compute_slot(None, lambda f, m: None, 0.1, "me") as report:
            for step in range(100):
                time.sleep(0.05)
                report(step / 100, "working")
    # the slot was given back
    with compute_slot(None, lambda f, m: None, 0.1, "me"):
        pass


def test_no_budget_means_no_stop(monkeypatch):
    """The same computation as above runs to its end without a budget: its steps go on reporting well past the
    0.25 s (0.2 s budget x OVERRUN) at which a budget of 0.2 s stopped it."""
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(LIMITS, "budget_s", None)
    reported = []
    start = time.monotonic()
    with compute_slot(None, lambda fraction, message: reported.append(message), 0.1, "me") as report:
        for step in range(12):
            time.sleep(0.05)
            report(step / 12, f"step {step}")
    assert reported == [f"step {step}" for step in range(12)]  # every step got through, none was refused
    assert time.monotonic() - start > 0.2 * LIMITS.OVERRUN + 0.2  # it ran on well past where the budget stops


def test_the_instance_folder_is_private_and_fresh():
    folder = compute.instance_dir()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert folder.name.startswith("unlearning-lab-") and folder.name != "unlearning-lab-runs"
    assert compute.runs_dir().parent == folder


def test_a_view_leaving_the_cache_takes_its_files(tmp_path, monkeypatch):
    cache = ResultCache(size=2)
    cache.on_evict = drop_run_folder
    folders = {}
    for i in range(4):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        (folder / "weights.safetensors").write_bytes(b"x" * 1000)
        monkeypatch.setitem(compute.RUN_FOLDERS, ("run", i), folder)
        folders[i] = folder
        cache.put(("run", i), {"report": i})
    assert [f.exists() for f in folders.values()] == [False, False, True, True]


def test_pruning_keeps_the_cache_under_its_bound_and_spares_the_runs(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "kept.bin").write_bytes(b"r" * 5000)
    for i in range(10):
        path = tmp_path / "gradio" / f"{i}" / "image.png"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"i" * 1000)
        os.utime(path, (i, i))  # older first
    prune_cache(tmp_path, 3500, runs)
    left = sorted(int(p.parent.name) for p in (tmp_path / "gradio").rglob("*.png"))
    assert left == [7, 8, 9] and (runs / "kept.bin").exists()


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_start_up_removes_only_the_folders_of_ended_instances(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f"unlearning-lab-{dead}-abc123"
    (stale / "runs").mkdir(parents=True)
    (stale / "runs" / "model.safetensors").write_bytes(b"x")
    kept = [tmp_path / f"unlearning-lab-{os.getpid()}-live", tmp_path / "unlearning-lab-1-init",
            tmp_path / "unlearning-lab-shots", tmp_path / "unlearning-lab-runs"]
    for folder in kept:
        folder.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / f"unlearning-lab-{dead}-link"
    link.symlink_to(target)
    a_file = tmp_path / f"unlearning-lab-{dead}-file"
    a_file.write_text("not a folder")
    kept += [link, target, a_file]
    if os.getuid() == 0:  # another user's folder, whose process is gone too, is theirs to remove
        theirs = tmp_path / f"unlearning-lab-{dead}-theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        kept.append(theirs)
    assert compute.remove_stale_instance_dirs(tmp_path) == [stale]
    assert not stale.exists() and all(path.exists() for path in kept)


def test_the_instance_folder_is_named_after_its_process():
    assert compute.INSTANCE_NAME.fullmatch(compute.instance_dir().name).group(1) == str(os.getpid())


def test_a_runs_file_is_served_without_a_copy(tmp_path):
    """gradio copies an output file into its cache unless it is a static path: a run's weights are stored once."""
    import subprocess
    import sys
    from pathlib import Path
    script = """
import os, tempfile
from pathlib import Path
tempfile.tempdir = os.environ["LAB_TMP"]
import gradio as gr
from gradio import processing_utils
from lab_ui.compute import new_run_folder
from lab_ui.launch import prepare_instance_folder
prepare_instance_folder()
weights = new_run_folder("ga") / "model.safetensors"
weights.write_bytes(b"weights")
served = processing_utils.move_files_to_cache({"path": str(weights), "meta": {"_type": "gradio.FileData"}},
                                              gr.File(), postprocess=True)
print(served["path"] == str(weights), sum(1 for f in Path(os.environ["LAB_TMP"]).rglob("model.safetensors")))
"""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LAB_TMP": str(tmp_path), "PYTHONPATH": str(root)})
    assert result.stdout.split() == ["True", "1"], result.stderr[-2000:]
