"""The phone-sized headless Chromium the browser tests share, and the summary that prints the
page weights and accessibility results the customer-page checks measured."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chrome import start_chrome


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium the size of a phone, with JavaScript on."""
    driver = start_chrome(tmp_path / "chrome")
    yield driver
    driver.quit()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    module = next((m for name, m in sys.modules.items() if name.endswith("test_customer_pages_quality")), None)
    lines = getattr(module, "WEIGHTS", [])
    if lines:
        terminalreporter.section("CUSTOMER PAGES: WEIGHT AND ACCESSIBILITY")
        for line in lines:
            terminalreporter.write_line(line)
