"""Headless Chromium and a ``harness serve`` subprocess, for the web view's browser tests
and benchmarks/web_tree.py (which imports this module).

Debian's ``chromium`` and ``chromedriver`` are used by path: with the driver's path given,
selenium never runs selenium-manager, so nothing is ever downloaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HARNESS = Path(sys.executable).with_name("harness")
REPO = Path(__file__).resolve().parent.parent

#: A quiet, isolated headless browser: no GPU, no sandbox (containers), no background
#: traffic (the machines running the tests are offline).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+/\S*")


def missing() -> str | None:
    """Why no browser can be started here (what is not installed), or None."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return f"{' and '.join(absent)} missing (apt-get install chromium chromium-driver)"


def chromium(profile: Path, size: tuple[int, int] = (1400, 1000)) -> Any:
    """A headless Chromium driven through chromedriver, with the fresh profile ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 30) -> Any:
    """Poll ``condition(driver)`` until it is truthy (returned) or ``timeout`` passes."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.wait import WebDriverWait

    # A page that is being replaced may drop the elements a condition just found.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored)
    return wait.until(condition, f"waiting for {what}")


def artifacts() -> Path:
    """Where screenshots go: ``$HARNESS_TEST_ARTIFACTS``, else <repo>/test-artifacts/web."""
    folder = Path(os.environ.get("HARNESS_TEST_ARTIFACTS") or REPO / "test-artifacts" / "web")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(driver: Any, name: str) -> Path:
    """Save the page as ``name``.png among the artifacts; returns its path."""
    path = artifacts() / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"no screenshot saved to {path}")
    return path


class Served:
    """``harness serve ROOT --port 0 ARGS`` in a subprocess; ``url`` is what it printed.

    Its output is read on a thread for as long as it runs (a full pipe would block it);
    ``close`` (or the ``with`` block's end) stops it.
    """

    def __init__(self, root: Path, args: Sequence[str] = (), timeout: float = 60) -> None:
        self.output: list[str] = []
        self._found = threading.Event()
        self.url = ""
        self.process = subprocess.Popen(
            [str(HARNESS), "serve", str(root), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._found.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("harness serve printed no URL:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = URL.search(line)
            if match and not self._found.is_set():
                self.url = match.group(0)
                self._found.set()

    def page(self, path: str = "") -> str:
        """The absolute URL of ``path`` (relative to the served root)."""
        return self.url.rstrip("/") + "/" + path.lstrip("/")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
