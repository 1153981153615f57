"""Steps of the in-process fault tests: customers buying over HTTP, business time moved
with the real running worker (tests/faults/conftest.py's ``worker``) acting on it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from portal.domain import confirmations
from portal.ledger.models import Grant
from portal.worker.scheduler import Worker

SIX_MINUTES = 360


def step(portal: Any, worker: Worker, seconds: float) -> None:
    """Move business time; the timer and lanes act on it. The STK Query job runs on APScheduler's
    real-time interval, so it is run here too, as ``worker --once`` would."""
    portal.clock.advance(seconds)
    assert worker.settle(timeout=60)
    if confirmations.poll_open_payments(worker.services):
        assert worker.settle(timeout=60)


def buy(portal: Any, package: Any, count: int, block: int) -> list[tuple[str, str]]:
    """``count`` customers join the hotspot and pay (the prompts are answered on :meth:`settle`)."""
    devices = [
        portal.join(f"AA:BB:{block:02X}:00:{n // 256:02X}:{n % 256:02X}", f"10.{block}.{n // 250}.{n % 250 + 2}")
        for n in range(count)
    ]
    for n, (mac, ip) in enumerate(devices):
        portal.pay_ids(package.id, mac=mac, ip=ip, phone=f"071{block:02d}{n:05d}")
    return devices


def finish(portal: Any, worker: Worker, emulator: Any, devices: list[tuple[str, str]]) -> None:
    """Run to the end of every grant: online a second before it, logged out at it."""
    for end in sorted({grant.expires_at for grant in Grant.select().where(Grant.status == "active")}):
        portal.clock.set(end - timedelta(seconds=1))
        assert worker.settle(timeout=60)
        portal.clock.set(end)
        assert worker.settle(timeout=60)
    assert not any(emulator.is_online(mac) for mac, _ in devices)


def buy_devices(portal: Any, count: int, block: int) -> list[tuple[str, str]]:
    return [(f"AA:BB:{block:02X}:00:00:{n:02X}", f"10.{block}.0.{n + 2}") for n in range(count)]
