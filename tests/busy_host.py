"""Issue 26's demonstration: the app with its default limits on a busy machine (CPU-burning processes beside it)
still finishes the runs its budget admitted, and says how long each computed and how long it waited.

    python tests/busy_host.py [--burners 2] [--out benchmarks/busy-host.md]

Starts ``python app.py`` (default flags, so the start-up examples warm up as a visitor's app would), starts the
burners (each a bounded busy loop, killed at the end), waits for the 1-minute load average to pass 3, then sends
two requests at once from two sessions, so that the second waits in the queue behind the first. Writes a table of
what each request's status line said, its estimate and its wall time, with the load average seen while it ran.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from gradio_client import Client
from gradio_client.exceptions import AppError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.app_server import AppServer, stop_process_group  # noqa: E402
from unlearn_core.budget import estimate_run  # noqa: E402

# The two runs: each was stopped on a loaded machine by the old wall-clock budget.
REQUESTS = [
    ("digits-cnn", "random:10", "salun", "{}", 0, True, "none", 1),
    ("shapes-t2i", "concept:triangle", "esd", json.dumps({"iterations": 5}), 0, True, "none", 1),
]
BURN_S = 1800  # each burner stops by itself after this long, should the script die before killing it
LOAD_WANTED = 3.0


def burner() -> subprocess.Popen:
    loop = f"import time\nend = time.time() + {BURN_S}\nwhile time.time() < end:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)


def load_1min() -> float:
    return os.getloadavg()[0]


def send(url: str, request: tuple, results: dict[int, dict], index: int) -> None:
    client = Client(url, verbose=False)
    start = time.perf_counter()
    loads = []
    job = client.submit(*request, api_name="/run")
    while not job.done():
        loads.append(load_1min())
        time.sleep(2.0)
    try:
        status = job.result()[0]
        error = None
    except AppError as failure:  # a refusal or a stopped run: the demonstration records what the app said
        status, error = None, f"{type(failure).__name__}: {failure}"
    results[index] = {"request": request, "status": status, "error": error,
                      "wall_s": round(time.perf_counter() - start, 1),
                      "load_min": round(min(loads), 2) if loads else None,
                      "load_max": round(max(loads), 2) if loads else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/busy-host.md"))
    args = parser.parse_args()
    app = AppServer().wait(300)
    burners = [burner() for _ in range(args.burners)]
    try:
        deadline = time.time() + 180
        while load_1min() < LOAD_WANTED and time.time() < deadline:
            time.sleep(5)
        load_at_start = load_1min()
        results: dict[int, dict] = {}
        threads = [threading.Thread(target=send, args=(app.url, request, results, i))
                   for i, request in enumerate(REQUESTS)]
        for thread in threads:
            thread.start()
            time.sleep(1.0)  # the first request reaches the queue first
        for thread in threads:
            thread.join()
    finally:
        for process in burners:
            stop_process_group(process)
        log = app.log_text()
        app.stop()
    lines = [
        "# The app on a busy machine (issue 26)",
        "",
        f"Written by `python tests/busy_host.py --burners {args.burners}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: the app with its default limits (budget, warm-up "
        f"examples), {args.burners} CPU-burning processes beside it on a {os.cpu_count()}-core machine (1-minute load "
        f"{load_at_start:.1f} when the requests were sent), two requests sent at once from two sessions.",
        "",
        "| request | estimate (default budget 120 s) | status line | wall s | load while it ran |",
        "|---|---|---|---|---|",
    ]
    for index in sorted(results):
        result = results[index]
        model, forget, method, hp, seed, retrain = result["request"][:6]
        estimate = estimate_run(model, forget, method, json.loads(hp), seed, retrain).describe()
        what = f"{model} `{forget}` {method} {hp if hp != '{}' else ''}{' with Retrain' if retrain else ''}".strip()
        said = (result["status"] or f"**failed**: {result['error']}").replace("\n", " ").replace("|", "\\|")
        lines.append(f"| {what} | {estimate} | {said} | {result['wall_s']} | {result['load_min']}-{result['load_max']} |")
    budget_lines = [line for line in log.splitlines() if "budget" in line.lower()][:3]
    if budget_lines:
        lines += ["", "App log lines about the budget:", "", *[f"    {line}" for line in budget_lines]]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if any(result["status"] is None or "Done" not in result["status"] for result in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
