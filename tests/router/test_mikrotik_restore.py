"""Logging devices back in after a reboot in one pass (``restore_many``), against the
emulator over TCP: the plain cases come back with the router's backstop right, in a couple
of commands each; everything else is left alone for ``authorize``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router import DeviceGrant, RouterNotPermitted
from router.emulator import RouterEmulator
from router.mikrotik import MikrotikRouter
from router.ros_values import parse_duration
from tests.router.conftest import adapter_for, grant_for, join
from tests.router.test_mikrotik import for_mac, named

MARGIN = 120


@pytest.fixture
def router(emulator: RouterEmulator) -> Iterator[MikrotikRouter]:
    with adapter_for(emulator) as adapter:
        yield adapter


def time_left(emu: RouterEmulator, mac: str) -> int:
    (session,) = for_mac(emu.active(), mac)
    return parse_duration(session["session-time-left"])


def forty_online_then_rebooted(emulator: RouterEmulator, router: MikrotikRouter) -> list[tuple[str, str]]:
    """40 devices logged in for 600 s by ``router``, 250 s used, then the router reboots."""
    devices = [join(emulator, n) for n in range(1, 41)]
    for n, (mac, ip) in enumerate(devices):
        router.authorize(grant_for(mac, ip, f"g-{n}", limit_uptime_seconds=600 + MARGIN))
    emulator.advance(250)
    emulator.reboot()
    return devices


def the_350_s_left(devices: list[tuple[str, str]]) -> list[DeviceGrant]:
    return [grant_for(mac, ip, f"g-{n}", limit_uptime_seconds=350 + MARGIN) for n, (mac, ip) in enumerate(devices)]


def test_after_a_reboot_every_device_comes_back_with_its_whole_remaining_time(emulator, router):
    devices = forty_online_then_rebooted(emulator, router)
    before = len(emulator.command_log)

    restored = router.restore_many(the_350_s_left(devices))

    assert sorted(restored) == sorted(mac for mac, _ip in devices)
    assert all(time_left(emulator, mac) == 350 + MARGIN for mac, _ip in devices)
    # two commands a device; four listings, and the reconnect and profile check a reboot brings
    assert len(emulator.command_log) - before <= 6 + 2 * len(devices)
    emulator.advance(350)
    assert all(emulator.is_online(mac) for mac, _ip in devices), "the backstop never cuts before the paid end"


SECRET = b"install-secret-key-0123456789"


def test_with_the_install_secret_a_device_comes_back_with_its_login_alone(emulator):
    """The web process logs the devices in; after a reboot the worker's adapter (another
    connection, the same secret) logs them back in without writing their users first."""
    with adapter_for(emulator, login_secret=SECRET) as web, adapter_for(emulator, login_secret=SECRET) as worker:
        devices = forty_online_then_rebooted(emulator, web)
        before = len(emulator.command_log)

        restored = worker.restore_many(the_350_s_left(devices))

    assert sorted(restored) == sorted(mac for mac, _ip in devices)
    sent = [command for command, *_ in emulator.command_log[before:]]
    assert "/ip/hotspot/user/set" not in sent, "the users already fit: nothing written"
    assert sent.count("/ip/hotspot/active/login") == len(devices)
    assert len(sent) <= 6 + len(devices)
    assert all(time_left(emulator, mac) == 350 + MARGIN for mac, _ip in devices)
    emulator.advance(350)
    assert all(emulator.is_online(mac) for mac, _ip in devices), "the backstop never cuts before the paid end"


def test_a_credit_beyond_the_slack_has_the_limit_written_before_the_login(emulator):
    mac, ip = join(emulator, 1)
    with adapter_for(emulator, login_secret=SECRET) as router:
        router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=600 + MARGIN))
        emulator.advance(250)
        emulator.reboot()
        before = len(emulator.command_log)
        credited = 350 + 60  # the reboot's downtime credited: the paid end moved 60 s on

        assert router.restore_many([grant_for(mac, ip, "g-1", limit_uptime_seconds=credited + MARGIN)]) == [mac]

    assert "/ip/hotspot/user/set" in [command for command, *_ in emulator.command_log[before:]]
    assert time_left(emulator, mac) == credited + MARGIN
    emulator.advance(credited)
    assert emulator.is_online(mac), "the backstop never cuts before the paid end"


def test_a_user_written_under_another_secret_is_left_for_authorize(emulator):
    mac, ip = join(emulator, 1)
    with adapter_for(emulator, login_secret=b"the-old-secret-key-000000") as before_rotation:
        before_rotation.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=600 + MARGIN))
    emulator.advance(100)
    emulator.reboot()
    with adapter_for(emulator, login_secret=SECRET) as router:
        assert router.restore_many([grant_for(mac, ip, "g-1", limit_uptime_seconds=500 + MARGIN)]) == []
        assert not emulator.is_online(mac)
        router.authorize(grant_for(mac, ip, "g-1", limit_uptime_seconds=500 + MARGIN))
    assert emulator.is_online(mac) and time_left(emulator, mac) == 500 + MARGIN


def test_anything_but_the_plain_case_is_left_for_authorize(emulator, router):
    plain, away, other_user, online = (join(emulator, n) for n in range(1, 5))
    for n, (mac, ip) in enumerate((plain, away, other_user, online)):
        router.authorize(grant_for(mac, ip, f"g-{n}"))
    emulator.reboot()
    emulator.device_leave(away[0])
    router.authorize(grant_for(*online, "g-3"))  # already back
    router.connection.call("/ip/hotspot/user/add", {"name": "trial-1", "password": "x"})
    router.connection.call(
        "/ip/hotspot/active/login",
        {"user": "trial-1", "password": "x", "mac-address": other_user[0], "ip": other_user[1]},
    )

    restored = router.restore_many(
        [
            grant_for(*plain, "g-0"),
            grant_for(*away, "g-1"),
            grant_for(*other_user, "g-2"),  # a trial session is in the way
            grant_for(*online, "g-3"),
        ]
    )

    assert restored == [plain[0]]
    assert not emulator.is_online(away[0])
    assert [s["user"] for s in for_mac(emulator.active(), other_user[0])] == ["trial-1"]


def test_a_stacked_purchase_comes_back_as_authorize_would_log_it_in(emulator, router):
    """The user carries the device's first purchase; the one running now is another: its
    counters are reset and the user rewritten for it, in the batch, exactly as authorize
    does it on a twin device."""
    batched, twin = join(emulator, 1), join(emulator, 2)
    for n, (mac, ip) in enumerate((batched, twin)):
        router.authorize(grant_for(mac, ip, f"g-first-{n}", limit_uptime_seconds=600 + MARGIN, limit_bytes_total=10**9))
    emulator.advance(250)
    emulator.reboot()

    stacked = {"limit_uptime_seconds": 400 + MARGIN, "profile": "p2c-fast", "rate_limit": "2M/2M"}
    assert router.restore_many([grant_for(*batched, "g-next-0", **stacked)]) == [batched[0]]
    router.authorize(grant_for(*twin, "g-next-1", **stacked))

    assert time_left(emulator, batched[0]) == 400 + MARGIN, "counters reset: the 250 s booked are not taken again"
    fields = ("limit-uptime", "limit-bytes-total", "profile", "uptime", "disabled", "server")
    (restored,) = named(emulator.users(), batched[0])
    (authorized,) = named(emulator.users(), twin[0])
    assert restored["comment"] == "p2c:g-next-0"
    assert {f: restored.get(f) for f in fields} == {f: authorized.get(f) for f in fields}
    emulator.advance(400)
    assert emulator.is_online(batched[0]), "the backstop never cuts before the paid end"


def test_nothing_to_restore_sends_nothing(emulator, router):
    before = len(emulator.command_log)
    assert router.restore_many([]) == []
    assert len(emulator.command_log) == before


def test_an_api_user_without_the_right_is_not_permitted_rather_than_left_device_by_device(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, "g-1"))
    emulator.reboot()
    emulator.fail_next("trap", path="/ip/hotspot/active/login", message="not enough permissions (9)")

    with pytest.raises(RouterNotPermitted):
        router.restore_many([grant_for(mac, ip, "g-1")])


def test_a_large_pass_hands_over_each_part_as_the_router_confirms_it(emulator, router, monkeypatch):
    import router.mikrotik_restore as restore

    monkeypatch.setattr(restore, "PART_SIZE", 10)
    devices = forty_online_then_rebooted(emulator, router)
    parts: list[list[str]] = []

    def record(macs: list[str]) -> None:
        assert all(emulator.is_online(mac) for mac in macs), "handed over once confirmed online"
        parts.append(macs)

    restored = router.restore_many(the_350_s_left(devices), record)

    assert [len(part) for part in parts] == [20, 20]
    assert parts[0] + parts[1] == restored and sorted(restored) == sorted(mac for mac, _ip in devices)
    assert all(time_left(emulator, mac) == 350 + MARGIN for mac, _ip in devices)


def test_a_part_that_cannot_be_recorded_stops_the_pass_and_the_router_is_usable_after(emulator, router, monkeypatch):
    import router.mikrotik_restore as restore

    monkeypatch.setattr(restore, "PART_SIZE", 10)
    devices = forty_online_then_rebooted(emulator, router)

    def ledger_down(macs: list[str]) -> None:
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="database is locked"):
        router.restore_many(the_350_s_left(devices), ledger_down)

    # The first half was confirmed before it failed to be recorded; what the router did of
    # the second half is found by the next pass, as after a crash: it puts back the rest.
    sessions_before = router.connection.connect_count
    router.restore_many(the_350_s_left(devices))
    assert router.connection.connect_count == sessions_before + 1, "a fresh session after the unread answers"
    assert all(emulator.is_online(mac) for mac, _ip in devices)


def test_a_small_pass_is_handed_over_whole(emulator, router):
    devices = forty_online_then_rebooted(emulator, router)
    parts: list[list[str]] = []

    restored = router.restore_many(the_350_s_left(devices), parts.append)

    assert parts == [restored] and len(restored) == len(devices), "below PART_SIZE: one part, one listing"
