"""What app.py needs before the page is built: its limits' argument types and the instance's private folder."""
from __future__ import annotations

import argparse
import atexit
import os
import signal

import gradio as gr

from lab_ui.compute import instance_dir, remove_instance_dir, remove_stale_instance_dirs, runs_dir


def budget_seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds (0 = no budget); got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0 (0 = no budget); got {text!r}")
    return value or None


def wall_cap_seconds(text: str) -> float | None:
    """``--max-wall-s``: seconds of wall-clock time after which a computation is stopped (0 = no cap)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds (0 = no cap); got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0 (0 = no cap); got {text!r}")
    return value or None


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
