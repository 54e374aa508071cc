"""What app.py needs before the page is built: the public demo's limit flags and the instance's private folder."""
from __future__ import annotations

import argparse
import atexit
import os
import signal

import gradio as gr

from lab_ui.compute import instance_dir, remove_instance_dir, remove_stale_instance_dirs, runs_dir
from lab_ui.config import DEFAULT_BUDGET_S, DEFAULT_CACHE_MB, DEFAULT_PER_CLIENT
from lab_ui.state import LIMITS, QUEUE


def optional_seconds(none: str):
    """An argparse type for a number of seconds where 0 means ``none`` (e.g. "no budget"): None for 0."""

    def parse(text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number of seconds (0 = {none}); got {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0 (0 = {none}); got {text!r}")
        return value or None

    return parse


budget_seconds = optional_seconds("no budget")
wall_cap_seconds = optional_seconds("no cap")  # --max-wall-s: wall-clock seconds after which a computation stops


def positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return int(text)


def prepare_instance_folder() -> list:
    """Every file this instance writes goes in its own private folder, gradio's cache included, and the folder
    goes at exit, SIGTERM included; the folders of instances killed before their clean-up (kill -9) go now.
    The runs' files are a static path: gradio serves them from where they are instead of copying each into its
    cache (they are stored once; ``compute.drop_run_folder`` removes them with their view). Returns the stale
    folders removed."""
    stale = remove_stale_instance_dirs()
    os.environ["GRADIO_TEMP_DIR"] = str(instance_dir() / "gradio")
    gr.set_static_paths([str(runs_dir())])
    atexit.register(remove_instance_dir)
    signal.signal(signal.SIGTERM, exit_quietly)
    return stale


def exit_quietly(signum, frame) -> None:
    """SIGTERM (a stop, a deploy) ends the process through SystemExit, so the atexit clean-up runs."""
    raise SystemExit(0)


def add_demo_limit_flags(parser: argparse.ArgumentParser) -> None:
    """app.py's flags for a shared demo: the run budget, the operator's wall-clock cap, the queue's share per
    address, the cache's size and the runs computed at once (each with its environment variable)."""
    parser.add_argument("--budget", type=budget_seconds,
                        default=os.environ.get("UNLEARNING_LAB_BUDGET_S", str(DEFAULT_BUDGET_S)),
                        help="seconds of compute one request may use, by its estimate: requests estimated over it "
                             "are refused before they start; one admitted is never stopped for a slow host (see "
                             "--max-wall-s); 0 = no budget (default: $UNLEARNING_LAB_BUDGET_S, else "
                             f"{DEFAULT_BUDGET_S:.0f}). The command line (python -m unlearn_core) has no budget.")
    parser.add_argument("--max-wall-s", type=wall_cap_seconds,
                        default=os.environ.get("UNLEARNING_LAB_MAX_WALL_S", "0"),
                        help="operator's hard cap: stop any computation after this many seconds of wall-clock "
                             "time, however busy the host (a stopped Compare keeps the methods it finished); 0 = "
                             "no cap (default: $UNLEARNING_LAB_MAX_WALL_S, else 0)")
    parser.add_argument("--per-client", type=positive_int,
                        default=os.environ.get("UNLEARNING_LAB_PER_CLIENT", str(DEFAULT_PER_CLIENT)),
                        help="requests that may wait in the queue from one network address (each browser "
                             "session has at most one); raise it for a classroom behind one address (default: "
                             f"$UNLEARNING_LAB_PER_CLIENT, else {DEFAULT_PER_CLIENT})")
    parser.add_argument("--cache-mb", type=positive_int,
                        default=os.environ.get("UNLEARNING_LAB_CACHE_MB", str(DEFAULT_CACHE_MB)),
                        help="megabytes gradio's cache of served images may hold (default: "
                             f"$UNLEARNING_LAB_CACHE_MB, else {DEFAULT_CACHE_MB})")
    parser.add_argument("--concurrent-runs", type=positive_int,
                        default=os.environ.get("UNLEARNING_LAB_CONCURRENT_RUNS", "1"),
                        help="runs computed at once: 1 on a CPU, more allowed on a GPU (default: "
                             "$UNLEARNING_LAB_CONCURRENT_RUNS, else 1); the device is $UNLEARN_DEVICE, else cuda if any")


def apply_demo_limits(args: argparse.Namespace) -> None:
    """Set the parsed limits where the compute bridge reads them (``state.LIMITS``, ``state.QUEUE``)."""
    LIMITS.budget_s, LIMITS.max_wall_s, LIMITS.cache_bytes = args.budget, args.max_wall_s, args.cache_mb * 2**20
    QUEUE.per_client = args.per_client
