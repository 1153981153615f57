"""Fixtures for tests that talk to the RouterOS API emulator over real TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.clock import ManualClock
from router.emulator import RouterEmulator


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time for the emulator; tests move it with ``clock.advance`` or ``emulator.advance``."""
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[RouterEmulator]:
    """A started emulator on an ephemeral loopback port (user ``pay2connect``/``secret``).

    Stalled connections are released after 5 real seconds at the latest, and all of them on stop.
    """
    with RouterEmulator(clock=clock, reply_timeout_ceiling=5.0) as running:
        yield running
