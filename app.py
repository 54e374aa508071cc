"""Unlearning Lab: the Gradio app's entry point.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--no-warmup] [--warmup-examples N]
                  [--budget SECONDS] [--max-wall-s SECONDS] [--per-client N] [--cache-mb MB]
                  [--concurrent-runs N]

Pick a shipped model, a forget target and a method (its hyperparameters are generated from the method's
dataclass), run it, and inspect the metrics against Retrain, the weight-saliency heatmaps, SLUG's Pareto plot,
input attributions and, for generative models, before/after samples. This file parses the command line and
launches the page; the UI lives in ``lab_ui/`` (``lab_ui.layout.build_app``), the runs come from
``unlearn_core.runner``, the per-run data from ``unlearn_core.inspection`` and every figure from
``unlearn_core.plots``.
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import threading

from lab_ui.compute import instance_dir, runs_dir
from lab_ui.config import EXAMPLES
from lab_ui.gpu import configure_compute
from lab_ui.launch import add_demo_limit_flags, apply_demo_limits, prepare_instance_folder
from lab_ui.layout import CSS, THEME, build_app
from lab_ui.state import WARMUP_DONE
from lab_ui.warmup import warm_up

LOG = logging.getLogger("unlearning-lab")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Unlearning Lab (Gradio app)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (default 127.0.0.1, local only; 0.0.0.0 for all; "
                             "$GRADIO_SERVER_NAME as on Hugging Face Spaces)")
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port (default: $PORT, else $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    parser.add_argument("--no-warmup", action="store_true", help="do not compute the examples at start-up")
    parser.add_argument("--warmup-examples", type=int, default=len(EXAMPLES),
                        help="how many examples to compute at start-up (the first fills the page)")
    add_demo_limit_flags(parser)
    return parser.parse_args(argv)


def port_in_use(host: str, port: int) -> bool:
    """Whether another server already listens on ``host:port`` (bound as the app's server binds, so a port left
    in TIME_WAIT by an earlier run counts as free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if port_in_use(args.host, args.port):  # before building the app: one line instead of Gradio's traceback
        raise SystemExit(f"error: port {args.port} on {args.host} is already in use (another Unlearning Lab?); "
                         "start this one with --port N, e.g. --port 7861")
    device = configure_compute(args.concurrent_runs)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    examples = None if args.no_warmup else EXAMPLES[:max(args.warmup_examples, 0)]
    apply_demo_limits(args)
    for folder in prepare_instance_folder():
        LOG.info("removed the folder of an instance that ended without its clean-up: %s", folder)
    demo = build_app(examples)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                allowed_paths=[str(runs_dir())], footer_links=["api", "gradio"], theme=THEME, css=CSS)
    LOG.info("Unlearning Lab is up on http://%s:%d (computing on %s; budget per request: %s; files in %s)",
             args.host, args.port, device, f"{args.budget:.0f} s" if args.budget else "none", instance_dir())
    if examples:
        threading.Thread(target=warm_up, args=(examples,), name="warm-up", daemon=True).start()
    else:
        WARMUP_DONE.set()  # nothing to wait for: the page stops polling for the example
    demo.block_thread()


if __name__ == "__main__":
    main()
