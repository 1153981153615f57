"""Fixtures of the fault suite: the real ``serve`` and ``worker`` processes (tests/faults/world.py)
on a business clock they share with the test, and the FAULT REPORT at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.live import RedisHandle
from tests.faults.report import FAULT_LINES
from tests.faults.world import World


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per fault (tests/faults), like the ATTACK REPORT."""
    if FAULT_LINES:
        terminalreporter.section("FAULT REPORT")
        for line in FAULT_LINES:
            terminalreporter.write_line(line)


#: Bursts of customers from one address (the tests' loopback) are not what is tested here.
BURST_LIMITS = {
    "phone_cooldown_seconds": 0,
    "device_cooldown_seconds": 0,
    "global_pushes_per_minute": 100000,
    "source_pushes_per_minute": 99999,
    "phone_daily_cap": 100000,
    "device_daily_cap": 100000,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limits": dict(BURST_LIMITS)}


@pytest.fixture
def six_minutes(services: Any) -> Any:
    from portal.domain.packages import add_package, validate_changes

    return add_package(validate_changes({"name": "6 minutes", "price": "5", "duration": "6m"}), services.clock)


@pytest.fixture
def world(tmp_path: Path, redis_handle: RedisHandle, ledger_url: str) -> Iterator[World]:
    """Simulator (HTTP) and emulator (TCP) in this process, web and worker processes started
    by the test, one Redis and one ledger for all, and one shared business clock."""
    built = World.build(tmp_path, redis_handle, ledger_url)
    try:
        yield built
    finally:
        built.close()
