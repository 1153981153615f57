"""Print the page weights and accessibility results the customer-page checks measured."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    module = next((m for name, m in sys.modules.items() if name.endswith("test_customer_pages_quality")), None)
    lines = getattr(module, "WEIGHTS", [])
    if lines:
        terminalreporter.section("CUSTOMER PAGES: WEIGHT AND ACCESSIBILITY")
        for line in lines:
            terminalreporter.write_line(line)
