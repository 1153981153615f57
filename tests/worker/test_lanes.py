"""A router lane: the full reconciliation a reboot sets off counts as the regular one, so the
next regular pass (listing every user and session) comes a whole interval later, not at once.
The RouterOS emulator over TCP, the ledger, a real Redis, a manual clock, the lane's thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.domain.context import Services
from portal.worker.lanes import RouterLane
from tests.grant_factory import grant_now

STRANGER = "AA:BB:17:00:00:01"


@pytest.fixture
def lane(services: Services) -> Iterator[RouterLane]:
    lane = RouterLane(services, "main", lambda: True, probe_seconds=1.0, reconcile_seconds=120.0)
    lane.start()
    try:
        yield lane
    finally:
        lane.stop()


def add_stranger(services: Services) -> None:
    """A user of ours (our comment prefix) that no grant covers: only a full pass removes it."""
    services.routers["main"].connection.call(  # type: ignore[attr-defined]
        "/ip/hotspot/user/add", {"name": STRANGER, "mac-address": STRANGER, "comment": "p2c:9100"}
    )


def has_stranger(emulator) -> bool:
    return any(user["name"] == STRANGER for user in emulator.users())


def advance(services: Services, lane: RouterLane, seconds: int) -> None:
    services.clock.advance(seconds)
    assert lane.wait_idle(timeout=30)


def test_the_reconciliation_after_a_reboot_moves_the_regular_pass_back(services, package, emulator, lane):
    grant = grant_now(services, package, emulator, seconds=3600)
    assert lane.wait_idle(timeout=30)  # the first probe: a full pass, the next one due in 120 s
    advance(services, lane, 100)
    emulator.reboot(boot_seconds=0)
    advance(services, lane, 1)  # the probe finds the reboot: clocks stopped, a full pass
    assert emulator.is_online(grant.mac)
    add_stranger(services)

    advance(services, lane, 39)  # 140 s after the first pass, 40 s after the reboot's
    assert has_stranger(emulator), "the regular pass waits a whole interval after the reboot's"

    advance(services, lane, 81)  # 121 s after the reboot's pass
    assert not has_stranger(emulator)
    assert emulator.is_online(grant.mac)
