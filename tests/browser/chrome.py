"""Headless Chromium for the browser tests: where it is, the skip mark when it is not, one way
to start it, where screenshots go, and waiting for the browser (not for time).

Screenshots go to a folder under the system's temporary directory; ``UPDATE_SCREENSHOTS=1``
writes them to docs/screenshots/ instead: a normal run must not change files in the repository.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "pay2connect-screenshots"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="Debian chromium and chromium-driver are not installed (scripts/test installs them as root)",
)
PHONE_SIZE = "390,844"


def start_chrome(
    profile: Path, *, size: str = PHONE_SIZE, javascript: bool = True, performance_log: bool = False
) -> Any:
    """A headless Chromium with its own profile folder; the caller quits it.

    ``javascript=False`` is the captive mini-browser with scripts off; ``performance_log``
    records every network event (the page-weight checks read it).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={size}",
    ):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    if performance_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Wait for another thread (or the browser's navigation) to finish something, not for time
    to pass. A page caught between two loads has no body yet: that counts as "not yet"."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except WebDriverException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def page_left(element: Any) -> Callable[[Any], bool]:
    """A WebDriverWait condition: the page holding ``element`` was replaced (a form submitted,
    a link followed). Selenium's ``staleness_of`` knows only StaleElementReferenceException;
    asked in the middle of the navigation, chromedriver may answer "Node with given id does
    not belong to the document" instead, which means the same."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def left(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as err:
            if "does not belong to the document" in str(err):
                return True
            raise
        return False

    return left
