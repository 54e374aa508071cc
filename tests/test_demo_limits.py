"""The public demo's limits, in process: the fair compute queue, the budget (by estimate, never by a slow host),
the operator's wall-clock cap, and bounded disk."""
import os
import stat
import threading
import time
import types

import gradio as gr
import pytest

from lab_ui import compute, handlers
from lab_ui.compute import OverWallCap, Timing, compute_slot, drop_run_folder, prune_cache
from lab_ui.handlers import user_errors
from lab_ui.panels import done_status
from lab_ui.state import LIMITS, ComputeQueue, QueueRefused, ResultCache


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
    with pytest.raises(QueueRefused, match="queue is full") as refused:
        queue.join("dave", 1.0)
    assert refused.value.title == "Queue full"
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


def test_the_expected_wait_counts_the_start_up_example_being_computed():
    """The warm-up's example is priced by its own estimate: a visitor behind it is told that wait, not 0 s."""
    queue = ComputeQueue()
    warm_up = queue.join("warm-up", 42.0, background=True)
    assert queue.try_start(warm_up)
    ahead, wait = queue.position(queue.join("v", 5.0))
    assert ahead == 1 and 41.0 <= wait <= 42.0
    assert "1 request ahead of yours, expected wait about 42 s" in compute.waiting_message(ahead, wait)


def test_one_address_cannot_fill_the_queue():
    """Fresh sessions from one network address may have ``per_client`` requests waiting; the next is refused
    with a message about the queue, while a visitor from another address still gets in."""
    queue = ComputeQueue(max_waiting=8, per_client=2)
    assert queue.try_start(queue.join("running", 30.0, client="10.0.0.9"))
    queue.join("s1", 1.0, client="10.0.0.1")
    queue.join("s2", 1.0, client="10.0.0.1")
    with pytest.raises(QueueRefused) as refused:
        queue.join("s3", 1.0, client="10.0.0.1")
    assert refused.value.title == "Too many requests from your address"
    assert str(refused.value) == ("2 requests from your network address are already waiting in the queue, the most "
                                  "this app allows per address (2); try again when one of them has started")
    assert queue.join("other", 1.0, client="10.0.0.2")  # everyone else still queues


def test_a_queue_refusal_is_titled_by_its_reason_not_invalid_input():
    def refused():
        raise QueueRefused("Too many requests from your address", "2 requests from your network address ...")

    with pytest.raises(gr.Error) as shown:
        user_errors(refused)()
    assert shown.value.title == "Too many requests from your address"
    assert shown.value.message.startswith("2 requests from your network address")


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
    with pytest.raises(QueueRefused, match="one request per visitor") as refused:
        with compute_slot(None, lambda f, m: None, 1.0, "me"):
            pass
    assert refused.value.title == "One request at a time"
    assert messages and "1 request ahead of yours, expected wait about 40 s" in messages[0]
    queue.leave(holder)
    thread.join(5)
    assert done.is_set()


def test_a_slow_host_does_not_stop_a_run_admitted_by_its_estimate(monkeypatch):
    """A busy host makes a run take longer than its estimate: with a budget of 0.2 s and a request estimated at
    0.1 s, a computation that takes 0.8 s of wall-clock time (well past the old stop at 1.25 x the budget) reports
    every step and ends normally."""
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(LIMITS, "budget_s", 0.2)
    monkeypatch.setattr(LIMITS, "max_wall_s", None)
    reported = []
    start = time.monotonic()
    with compute_slot(None, lambda fraction, message: reported.append(message), 0.1, "me") as report:
        for step in range(16):
            time.sleep(0.05)
            report(step / 16, f"step {step}")
    assert reported == [f"step {step}" for step in range(16)]  # every step got through, none was refused
    assert time.monotonic() - start > 0.2 * LIMITS.OVERRUN + 0.4


@pytest.fixture()
def fake_clock(monkeypatch):
    """compute's clock as a number the test advances (``fake_clock[0] += seconds``): a loaded test machine
    cannot shift where a cap stops."""
    now = [1000.0]
    monkeypatch.setattr(compute, "time", types.SimpleNamespace(monotonic=lambda: now[0],
                                                               perf_counter=time.perf_counter))
    return now


def test_the_operators_wall_clock_cap_stops_a_computation_with_a_clear_message(monkeypatch, fake_clock):
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(LIMITS, "max_wall_s", 60.0)
    steps = []
    with pytest.raises(OverWallCap) as stopped:
        with compute_slot(None, lambda f, m: steps.append(m), 30.0, "me") as report:
            for step in range(100):
                fake_clock[0] += 10.0
                report(step / 100, "working")
    assert len(steps) == 6  # 10 s ... 60 s went through; at 70 s it stopped
    message = str(stopped.value)
    assert message == ("stopped after 70 s: this app's operator stops every computation after 60 s of wall-clock "
                       "time (its estimate was 30 s of an idle machine); nothing was kept. Try smaller settings, "
                       "try again when the app is less busy, or run it from the command line, which has no limit.")
    with pytest.raises(gr.Error) as shown:
        user_errors(lambda: (_ for _ in ()).throw(stopped.value))()
    assert shown.value.title == "Stopped: over the time cap"
    # the slot was given back
    with compute_slot(None, lambda f, m: None, 0.1, "me"):
        pass


def test_the_status_line_shows_compute_time_and_queue_time_apart(monkeypatch):
    """A request that waited behind another is told both: its time in the queue is not counted as computing."""
    queue = ComputeQueue()
    monkeypatch.setattr(compute, "QUEUE", queue)
    holder = queue.join("someone", 1.0)
    assert queue.try_start(holder)
    threading.Timer(0.6, queue.leave, args=(holder,)).start()
    timing, start = Timing(), time.perf_counter()
    with compute_slot(None, lambda f, m: None, 0.1, "me", timing=timing):
        time.sleep(0.3)
    elapsed = time.perf_counter() - start
    assert 0.5 <= timing.queued_s <= elapsed - 0.3
    view = {"report": {"method": "salun", "model": "digits-cnn", "forget": "class:3", "seed": 0}}
    status = done_status(view, False, 51.1, 42.0)
    assert status == ("**Done**: salun on digits-cnn, forget `class:3`, seed 0 (computed in 9.1 s after 42.0 s in "
                      "the queue).")


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


def test_a_compare_stopped_by_the_cap_keeps_the_methods_it_finished(monkeypatch, fake_clock):
    """With a wall-clock cap, a Compare stopped during its third method returns the two it finished (and the
    stop, which the page shows as partial); one stopped during its first method raises the stop."""
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(compute, "REPORTS", ResultCache())
    monkeypatch.setattr(compute, "budget_checked", lambda runs: 1.0)
    monkeypatch.setattr(LIMITS, "max_wall_s", 85.0)

    def fake_run(model, forget, method, seed, overrides, with_retrain, progress, **limits):
        for step in range(4):  # 40 s of wall-clock time per method: the third is stopped at 90 s
            fake_clock[0] += 10.0
            progress(step / 4, "working")
        return types.SimpleNamespace(report={"method": method})

    monkeypatch.setattr(compute, "run_unlearning", fake_run)
    items = [compute.CompareItem(("digits-cnn", "class:3", name, 0), "digits-cnn", "class:3", name, {}, 0)
             for name in ("ga", "rl", "salun", "slug")]
    reports, stop = compute.compute_reports(items, None, lambda f, m: None)
    assert [r and r["method"] for r in reports] == ["ga", "rl", None, None]
    assert isinstance(stop, OverWallCap) and stop.cap_s == 85.0
    monkeypatch.setattr(compute, "REPORTS", ResultCache())
    monkeypatch.setattr(LIMITS, "max_wall_s", 25.0)
    with pytest.raises(OverWallCap, match="nothing was kept"):
        compute.compute_reports(items, None, lambda f, m: None)


def test_the_compare_tab_shows_a_capped_compare_as_partial(monkeypatch):
    """What a person sees when the cap stopped a Compare after its first method: the table holds that method,
    and the status line says the Compare is partial, why, and which methods did not finish."""
    finish_first_only = handlers.compute_reports

    def stopped_after_first(items, flag, progress, visitor="api", client=None, timing=None):
        reports, _ = finish_first_only(items[:1], flag, progress, visitor, client, timing)
        return reports + [None] * (len(items) - 1), OverWallCap(61.0, 60.0, 30.0)

    monkeypatch.setattr(handlers, "compute_reports", stopped_after_first)
    status, frame, *_ = handlers.compare("digits-cnn", "class:3", ["ga", "slug"], 0, "", 1, lambda *a, **k: None,
                                        None)
    assert status.startswith("**Partial**: stopped after 61 s by this app's wall-clock cap of 60 s; shown: the "
                             "methods it finished; not finished: SLUG. **Compared** 1 method on digits-cnn")
    assert list(frame["Method"]) == ["Doing nothing (original)", "GA"]


def test_the_operator_sets_the_cap_and_the_share_per_address_from_the_command_line(monkeypatch, capsys):
    import app

    monkeypatch.setattr(LIMITS, "max_wall_s", None)
    monkeypatch.setattr(compute.QUEUE, "per_client", 2)
    monkeypatch.delenv("UNLEARNING_LAB_MAX_WALL_S", raising=False)
    monkeypatch.delenv("UNLEARNING_LAB_PER_CLIENT", raising=False)
    assert app.parse_args([]).max_wall_s is None and app.parse_args([]).per_client == 2  # off, 2 by default
    args = app.parse_args(["--max-wall-s", "300", "--per-client", "30"])
    app.apply_demo_limits(args)
    assert LIMITS.max_wall_s == 300.0 and compute.QUEUE.per_client == 30
    assert "A computation is stopped after 300 s of wall-clock time." in LIMITS.describe()
    with pytest.raises(SystemExit):
        app.parse_args(["--per-client", "0"])
    assert "--per-client: must be a whole number >= 1; got '0'" in capsys.readouterr().err


def test_a_lab_run_over_seeds_stopped_in_its_third_seed_shows_the_two_it_finished(monkeypatch, fake_clock):
    """The operator's cap stops a three-seed Lab run in seed 2: the page shows seeds 0 and 1 (the metrics over
    them), and the status line says the run is partial, why, and which seed did not finish. An identical request
    later is not answered with the partial result."""
    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(compute, "VIEWS", ResultCache())
    monkeypatch.setattr(LIMITS, "max_wall_s", 50.0)

    def progress(fraction, desc):  # seed 2's work takes a long wall-clock time, the others none
        if desc.startswith("seed 2:"):
            fake_clock[0] += 100.0

    values = handlers.run("digits-mlp", "class:3", "ga", "", 0, True, "none", 3, progress, None)
    status, summary, view = values[0], values[2], values[-1]
    assert status.startswith("**Partial**: stopped after 100 s by this app's wall-clock cap of 50 s; shown: the "
                             "seeds it finished (0, 1); not finished: 2. **Done**: ga on digits-mlp")
    assert "seeds 0-1 (2 runs)" in status
    assert view["seeds"]["seeds"] == [0, 1] and "of 2 seeds" in summary
    assert compute.VIEWS.get(compute.view_key("digits-mlp", "class:3", "ga", {}, 0, True, "none", 3)) is None


def test_a_sweep_stopped_in_its_second_share_plots_the_share_it_finished(monkeypatch):
    """A sweep whose second share's run does far more work than estimated: the plot keeps the first share, the
    status line says the sweep is partial and which share was not run."""
    from unlearn_core import sweep as sweep_module
    from unlearn_core.metering import Prices, Work, WorkExceeded

    monkeypatch.setattr(compute, "QUEUE", ComputeQueue())
    monkeypatch.setattr(compute, "SWEEPS", ResultCache())

    def fake_run(model, forget, method, seed, overrides, progress=None, allowance=None):
        if forget == "random:20":
            raise WorkExceeded("GA on digits-mlp", Work(100), Work(400), allowance, Prices(1e-3, 0.1))
        progress(1.0, "done")
        return types.SimpleNamespace(report={"method": method, "avg_gap": 2.0, "avg_gap_original": 3.0})

    monkeypatch.setattr(sweep_module, "run_unlearning", fake_run)
    status, figure, shown = handlers.sweep("digits-mlp", "10,20", ["ga"], 0, "", lambda *a, **k: None, None)
    assert shown == {"model": "digits-mlp"}
    assert status.startswith("**Partial**: stopped: GA on digits-mlp did more than 3 times the work its estimate "
                             "counts; shown: the shares it finished (10); not finished: 20. **Swept** 1 method over "
                             "10% of the training set")
    xs = {x for trace in figure.data for x in (trace.x or ())}
    assert xs == {10.0}
    assert len(compute.SWEEPS.items) == 0  # a partial sweep never answers the whole request later


def test_an_audit_over_the_budget_is_refused_before_it_queues(monkeypatch, tmp_path):
    """U-LiRA on digits-cnn with no shadows trained (an empty cache): refused with the estimate before it takes
    the compute slot (it used to start training 16 classifiers)."""
    monkeypatch.setenv("UNLEARNING_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(LIMITS, "budget_s", 120.0)

    def no_slot(*args, **kwargs):
        raise AssertionError("the audit took the compute slot")

    monkeypatch.setattr(compute, "compute_slot", no_slot)
    view = {"report": {"model": "digits-cnn", "forget": "class:3", "method": "salun", "hyperparameters": {},
                       "seed": 0}}
    with pytest.raises(gr.Error) as refused:
        user_errors(compute.compute_audit)(view, ["ulira"], {}, None, lambda f, m: None)
    assert refused.value.title == "Over the budget"
    assert "would take about" in refused.value.message and "fewer shadows for ulira (now 16)" in refused.value.message
