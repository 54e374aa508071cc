"""A minimal W3C WebDriver client (chromedriver + Debian's chromium), over httpx: no extra dependency.

Only what the browser test needs: open a page, find elements by CSS, click, type, run a script, read text,
wait for a condition and save a screenshot.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from app_server import stop_process_group

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1500,2200"]


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver" if os.path.exists("/usr/lib/chromium/chromedriver") else None)
    return (chromium, driver) if chromium and driver else None


class WebDriverError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium: str, driver: str, port: int, log_path: Path):
        self.log = open(log_path, "w")
        self.driver = subprocess.Popen([driver, f"--port={port}"], stdout=self.log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(timeout=120.0)
        deadline = time.time() + 30
        while True:
            try:
                if self.http.get(f"{self.base}/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.time() > deadline:
                self.quit()
                raise WebDriverError("chromedriver did not start")
            time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROMIUM_FLAGS}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.http.request(method, f"{self.base}{path}", json=body if body is not None else
                                     ({} if method == "POST" else None))
        data = response.json()
        value = data.get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value}")
        return value

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def get(self, url: str) -> None:
        self._call("POST", self._s("/url"), {"url": url})

    def find(self, css: str) -> str:
        return self._call("POST", self._s("/element"), {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css: str) -> list[str]:
        return [e[ELEMENT] for e in self._call("POST", self._s("/elements"), {"using": "css selector", "value": css})]

    def click(self, element: str) -> None:
        self._call("POST", self._s(f"/element/{element}/click"))

    def clear(self, element: str) -> None:
        self._call("POST", self._s(f"/element/{element}/clear"))

    def type(self, element: str, text: str) -> None:
        self._call("POST", self._s(f"/element/{element}/value"), {"text": text})

    def text(self, element: str) -> str:
        return self._call("GET", self._s(f"/element/{element}/text"))

    def script(self, source: str, *args: Any) -> Any:
        return self._call("POST", self._s("/execute/sync"), {"script": source, "args": list(args)})

    def wait(self, condition: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
        deadline = time.time() + timeout
        last_error: Exception | None = None
        while time.time() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except WebDriverError as error:
                last_error = error
            time.sleep(every)
        detail = f" ({last_error})" if last_error else ""
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}{detail}")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._call("GET", self._s("/screenshot"))))
        return path

    def resize(self, width: int, height: int) -> None:
        """Set the window's outer size (the viewport is a little smaller: ``window.innerHeight`` says by how much)."""
        self._call("POST", self._s("/window/rect"), {"width": int(width), "height": int(height)})
        time.sleep(0.3)

    def full_page_screenshot(self, path: Path) -> Path:
        """Resize the window to the page's height first, so the whole page is in the picture."""
        height = int(self.script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"))
        self._call("POST", self._s("/window/rect"), {"width": 1500, "height": min(max(height + 100, 800), 8000)})
        time.sleep(0.5)
        return self.screenshot(path)

    def quit(self) -> None:
        try:
            if getattr(self, "session", None):
                self._call("DELETE", self._s(""))
        except (httpx.HTTPError, WebDriverError, ValueError):
            pass
        finally:
            stop_process_group(self.driver)
            self.http.close()
            self.log.close()
