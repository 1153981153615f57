"""The router's own backstop (``limit-uptime``) never cuts a customer before our expiry.

``limit-uptime`` counts a user's total uptime over all sessions, so every (re)authorize must
leave the live session at least the grant's limit, whatever the user used before: after a
reboot, after a drop-off, after time was credited. Against the emulator over TCP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.emulator import RouterEmulator
from router.emulator.hotspot import HotspotModel
from router.mikrotik import MikrotikRouter
from router.ros_values import as_text, parse_duration
from tests.router.conftest import adapter_for, grant_for, join
from tests.router.test_mikrotik import for_mac, named

MARGIN = 120  # the portal's margin (portal.domain.outbox.ROUTER_BACKSTOP_MARGIN_SECONDS)


@pytest.fixture
def emu(emulator: RouterEmulator) -> RouterEmulator:
    return emulator


@pytest.fixture
def router(emu: RouterEmulator) -> Iterator[MikrotikRouter]:
    with adapter_for(emu) as adapter:
        yield adapter


def time_left(emu, mac: str) -> int:
    (session,) = for_mac(emu.active(), mac)
    return parse_duration(session["session-time-left"])


@pytest.mark.parametrize("booked", [True, False], ids=["uptime-booked-at-reboot", "uptime-lost-at-reboot"])
def test_reauthorize_after_a_reboot_gets_the_whole_remaining_time(emu, router, monkeypatch, booked):
    monkeypatch.setattr(HotspotModel, "book_uptime_on_reboot", booked)
    mac, ip = join(emu, 1)
    paid = 360
    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=paid + MARGIN))
    emu.advance(190)
    emu.reboot()

    remaining = paid - 190
    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=remaining + MARGIN))

    assert time_left(emu, mac) == remaining + MARGIN
    emu.advance(remaining)
    assert emu.is_online(mac), "the router must not cut the customer before the paid end"


def test_relogin_after_a_drop_off_is_not_refused_for_the_uptime_used(emu, router):
    mac, ip = join(emu, 1)
    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=300))
    emu.advance(250)
    router.connection.call("/ip/hotspot/active/remove", {".id": for_mac(emu.active(), mac)[0][".id"]})
    emu.advance(30)

    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=200))

    assert time_left(emu, mac) == 200
    (user,) = named(emu.users(), mac)
    assert parse_duration(user["uptime"]) == 250, "the counters are kept (a data cap still counts)"
    assert parse_duration(user["limit-uptime"]) == 450


def test_time_credited_to_a_live_session_logs_it_in_again_under_the_longer_limit(emu, router):
    mac, ip = join(emu, 1)
    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=300))
    emu.advance(100)

    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=200 + 90))  # 90 s credited

    assert time_left(emu, mac) == 290
    assert [r.reason for r in emu.session_history()] == ["admin"]


def test_a_repeat_authorize_keeps_the_live_session_and_says_how_long_it_has_run(emu, router):
    mac, ip = join(emu, 1)
    assert router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=300)) == 0, "a fresh login"
    emu.advance(100)

    kept_uptime = router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=200))

    assert emu.session_history() == []
    assert time_left(emu, mac) == 200
    assert kept_uptime == 100, "the customer's clock starts at the login the first call made"


def test_a_new_purchase_logs_in_afresh_and_its_time_starts_now(emu, router):
    mac, ip = join(emu, 1)
    router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=300))
    emu.advance(100)

    assert router.authorize(grant_for(mac, ip, "g-2", limit_uptime_seconds=300)) == 0


def test_revoke_many_logs_out_a_batch_and_leaves_the_rest(emu, router):
    devices = [join(emu, n) for n in range(1, 61)]
    for n, (mac, ip) in enumerate(devices):
        router.authorize(grant_for(mac, ip, f"g-{n}"))
    before = len(emu.command_log)

    router.revoke_many([mac.lower() for mac, _ip in devices[:55]])

    assert len(emu.command_log) - before <= 3 * 6, "a handful of commands per batch, not six per device"
    assert [mac for mac, _ip in devices if emu.is_online(mac)] == [mac for mac, _ip in devices[55:]]
    left = {as_text(user["name"]) for user in emu.users()}
    assert all(mac not in left for mac, _ip in devices[:55])
    assert all(mac in left for mac, _ip in devices[55:])


def test_system_uptime_drops_after_a_reboot(emu, router):
    emu.advance(500)
    assert router.system_uptime() == 500
    emu.reboot(boot_seconds=30)
    emu.advance(40)
    assert router.system_uptime() == 10
