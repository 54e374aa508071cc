"""Start the real app (``python app.py``) in a subprocess on a free port, for the app and browser tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM a process started with its own session, then SIGKILL if it has not gone within 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

class AppServer:
    """``python app.py --port N`` as a child process; ``url`` once it answers, ``stop()`` ends it (by pid)."""

    def __init__(self, *extra: str, log_path: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"unlearning-lab-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port), *extra],
                                        cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.ready_after: float | None = None

    def wait(self, timeout: float = 120.0) -> "AppServer":
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(self.url, timeout=2.0).status_code == 200:
                    self.ready_after = time.perf_counter() - self.started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"app did not answer within {timeout} s:\n{self.log_text()}")

    def alive(self) -> bool:
        if self.process.poll() is not None:
            return False
        try:
            return httpx.get(self.url, timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        stop_process_group(self.process)
        self.log.close()


_SHARED: AppServer | None = None


def shared_server(timeout: float = 180.0) -> AppServer:
    """One app for the whole test run (the app tests and the browser test share it, so the one Retrain of
    the default forget target, computed by the start-up warm-up, is reused). Stopped at exit."""
    global _SHARED
    if os.environ.get("UNLEARNING_LAB_URL"):  # reuse an app that is already running (development)
        return ExternalServer(os.environ["UNLEARNING_LAB_URL"])
    if _SHARED is None or not _SHARED.alive():
        import atexit

        _SHARED = AppServer("--warmup-examples", "1")
        atexit.register(_SHARED.stop)
        _SHARED.wait(timeout)
    return _SHARED


class ExternalServer:
    """An app started elsewhere (``UNLEARNING_LAB_URL``); start-up time is not measured."""

    def __init__(self, url: str):
        self.url = url if url.endswith("/") else url + "/"
        self.ready_after = None

    def alive(self) -> bool:
        try:
            return httpx.get(self.url, timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        return ""
