"""What app.py needs before the page is built: its limits' argument types and the instance's private folder."""
from __future__ import annotations

import argparse
import atexit
import os
import signal

from lab_ui.compute import instance_dir, remove_instance_dir


def budget_seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds (0 = no budget); got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0 (0 = no budget); got {text!r}")
    return value or None


def positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {text!r}")
    return int(text)


def prepare_instance_folder() -> None:
    """Every file this instance writes goes in its own private folder, gradio's cache included (so gradio
    serves the runs' files without copying them), and the folder goes at exit, SIGTERM included."""
    os.environ["GRADIO_TEMP_DIR"] = str(instance_dir() / "gradio")
    atexit.register(remove_instance_dir)
    signal.signal(signal.SIGTERM, exit_quietly)


def exit_quietly(signum, frame) -> None:
    """SIGTERM (a stop, a deploy) ends the process through SystemExit, so the atexit clean-up runs."""
    raise SystemExit(0)
