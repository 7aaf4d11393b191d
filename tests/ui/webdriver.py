"""A small W3C WebDriver client over Debian's chromedriver and headless Chromium (no Selenium).

The browser tests drive the real UIs (Superset, Airflow) as a person would: type into the login
form, open pages, wait for what a person waits for, and save screenshots. chromedriver runs on a
free loopback port and is stopped by its pid; Chromium only ever loads 127.0.0.1 addresses.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


class WebDriverError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One Chromium session."""

    def __init__(self, base: str, session: str) -> None:
        self._base = f"{base}/session/{session}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as err:
            detail = json.loads(err.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('message', err)}") from None

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def resize(self, width: int, height: int) -> None:
        self._call("POST", "/window/rect", {"width": width, "height": height})

    def find(self, css: str) -> str:
        return str(self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` holds ``args``) in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout: float, what: str, *args: Any) -> Any:
        """Poll ``script`` until it returns something truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = self.run(script, *args)
            if last:
                return last
            time.sleep(0.5)
        raise WebDriverError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    def login(
        self, url: str, user: tuple[str, str], password: tuple[str, str], submit: str
    ) -> None:
        """Type a login form's (css, text) fields at ``url`` and submit it, as a person does.

        A person whose first try did nothing tries again: on a loaded machine a form can be on
        screen before its page's scripts take the typing, and then the submit does nothing."""
        left_on_page = ""
        for _attempt in range(3):
            self.get(url)
            self.wait_for(
                "return document.querySelector(arguments[0])", 60, "the login form", user[0]
            )
            self.type(*user)
            self.type(*password)
            self.click(submit)
            try:
                self.wait_for("return !location.pathname.includes('/login')", 40, "the login")
                return
            except WebDriverError:
                left_on_page = str(self.run("return document.body.innerText.slice(0, 300)"))
        raise WebDriverError(f"three logins at {url} stayed on the form; it said: {left_on_page!r}")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))
        return path


@contextmanager
def chromium(width: int = 1600, height: int = 1000) -> Iterator[Browser]:
    """A headless Chromium driven through chromedriver; both stopped at the end."""
    driver, binary = shutil.which("chromedriver"), shutil.which("chromium")
    if driver is None or binary is None:
        raise WebDriverError("chromium and chromedriver are missing: run `make install`")
    port = _free_port()
    proc = subprocess.Popen(
        [driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    session: str | None = None
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{base}/status", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise WebDriverError("chromedriver did not answer within 20s") from None
                time.sleep(0.2)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": binary,
                        "args": [*CHROMIUM_ARGS, f"--window-size={width},{height}"],
                    },
                }
            }
        }
        req = urllib.request.Request(
            f"{base}/session",
            data=json.dumps(caps).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            session = str(json.loads(resp.read())["value"]["sessionId"])
        yield Browser(base, session)
    finally:
        if session is not None:
            req = urllib.request.Request(f"{base}/session/{session}", method="DELETE")
            with suppress(OSError):
                urllib.request.urlopen(req, timeout=20).close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
