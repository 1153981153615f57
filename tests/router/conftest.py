"""Fixtures for the router tests: the RouterOS API emulator over real TCP, the real librouteros
client connected to it (``api``), and our MikrotikRouter adapter pointed at it (``router``).

The ``clock`` is the suite's shared ManualClock (tests/conftest.py). Helpers that tests call
directly (``open_api``, ``opened_api``, ``adapter_for``, ``join``) are imported from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from librouteros import Api, connect

from portal.clock import ManualClock
from router import DeviceGrant
from router.emulator import RouterEmulator
from router.mikrotik import MikrotikRouter

API_USER, API_PASSWORD, SERVER = "pay2connect", "secret", "hotspot1"


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[RouterEmulator]:
    """A started emulator on an ephemeral loopback port (user ``pay2connect``/``secret``).

    Stalled connections are released after 5 real seconds at the latest, and all of them on stop.
    """
    with RouterEmulator(clock=clock, reply_timeout_ceiling=5.0) as running:
        yield running


# -- the librouteros client -------------------------------------------------------------------


def open_api(
    emulator: RouterEmulator,
    username: str = API_USER,
    password: str = API_PASSWORD,
    *,
    timeout: float = 2.0,
    **options: Any,
) -> Api:
    """A logged-in librouteros connection; the caller closes it (or uses :func:`opened_api`)."""
    return connect(emulator.host, username, password, port=emulator.port, timeout=timeout, **options)


@contextmanager
def opened_api(emulator: RouterEmulator, *args: Any, **options: Any) -> Iterator[Api]:
    """:func:`open_api` that always closes its socket, even when the test fails."""
    client = open_api(emulator, *args, **options)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def api_timeout() -> float:
    """Seconds the ``api`` client waits for a reply; a module overrides this to fail faster."""
    return 2.0


@pytest.fixture
def api(emulator: RouterEmulator, api_timeout: float) -> Iterator[Api]:
    with opened_api(emulator, timeout=api_timeout) as client:
        yield client


# -- our adapter ------------------------------------------------------------------------------


def adapter_for(emulator: RouterEmulator, **overrides: Any) -> MikrotikRouter:
    """A MikrotikRouter named ``main`` for the emulator; use it as a context manager (it closes)."""
    settings: dict[str, Any] = {
        "username": API_USER,
        "password": API_PASSWORD,
        "hotspot_server": SERVER,
        "timeout": 2.0,
    }
    settings.update(overrides)
    return MikrotikRouter("main", emulator.host, emulator.port, **settings)


@pytest.fixture
def adapter_options() -> dict[str, Any]:
    """Overrides for the ``router`` fixture's adapter (a module overrides this, e.g. a timeout)."""
    return {}


@pytest.fixture
def router(emulator: RouterEmulator, adapter_options: dict[str, Any]) -> Iterator[MikrotikRouter]:
    with adapter_for(emulator, **adapter_options) as adapter:
        yield adapter


def grant_for(mac: str, ip: str, grant_id: str = "g-1", **overrides: Any) -> DeviceGrant:
    """A one-hour grant at 2M/2M for the device (``overrides`` change any field)."""
    values: dict[str, Any] = {
        "grant_id": grant_id,
        "mac": mac,
        "ip": ip,
        "profile": "p2c-1h-2M",
        "limit_uptime_seconds": 3600,
        "rate_limit": "2M/2M",
    }
    values.update(overrides)
    return DeviceGrant(**values)


def join(emulator: RouterEmulator, n: int) -> tuple[str, str]:
    """Let simulated device ``n`` (0..65535) join the Wi-Fi; return its (MAC, IP)."""
    mac, ip = f"02:00:00:00:{n // 256:02X}:{n % 256:02X}", f"10.5.{50 + n // 250}.{n % 250 + 1}"
    emulator.device_join(mac, ip)
    return mac, ip
