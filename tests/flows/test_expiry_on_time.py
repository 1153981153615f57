"""Expiry on the second, in real time: the worker process's timer logs the device out on the
emulator within a second of its paid end (never before). Business time runs at the real
rate after a jump (JumpingClock), so the lateness measured here is real elapsed time."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from portal.clock import JumpingClock
from portal.ledger.models import Grant, PaymentEvent
from portal.worker.scheduler import Worker
from tests.conftest import START


@pytest.fixture
def clock() -> JumpingClock:
    return JumpingClock(START)


def wait_for(condition: Any, timeout: float) -> bool:
    """Poll a condition for up to ``timeout`` real seconds (what is measured is real time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_the_device_is_logged_out_within_a_second_of_its_paid_end(portal, package, emulator, services):
    worker = Worker(services)
    worker.start()
    try:
        devices = [portal.join(f"AA:BB:CC:00:20:{n:02X}", f"10.5.70.{n + 2}") for n in range(5)]
        for n, (mac, ip) in enumerate(devices):
            portal.pay_ids(package.id, mac=mac, ip=ip, phone=f"07{21000000 + n:08d}")
            portal.clock.advance(0.2)  # five different due times
        portal.settle(5)
        assert all(emulator.is_online(mac) for mac, _ip in devices)
        first_end = min(g.expires_at for g in Grant.select())
        portal.clock.jump((first_end - portal.clock.now()).total_seconds() - 0.5)  # an hour later

        assert wait_for(lambda: not any(emulator.is_online(mac) for mac, _ip in devices), timeout=3.0)
        # The router answers the logout a moment before the worker records it.
        assert wait_for(lambda: PaymentEvent.select().where(PaymentEvent.kind == "router_revoked").count() == 5, 3.0)
        for grant in Grant.select():
            assert grant.status == "expired" and grant.ended_at >= grant.expires_at
            done = PaymentEvent.get(PaymentEvent.payment == grant.payment_id, PaymentEvent.kind == "router_revoked")
            late = done.at - grant.expires_at
            assert timedelta(0) <= late <= timedelta(seconds=1), late
    finally:
        worker.stop()
