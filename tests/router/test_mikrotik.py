"""MikrotikRouter against the RouterOS emulator over TCP, through the real librouteros.

Every test checks the router's state as the emulator holds it (users, profiles, active
sessions), not just that a call returned. Time moves only through the emulator's clock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from router import DeviceNotOnHotspot
from router.emulator import RouterEmulator
from router.ros_values import as_text, parse_duration
from tests.router.conftest import API_PASSWORD, SERVER, grant_for, join


def named(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [row for row in rows if as_text(row.get("name")) == name]


def for_mac(rows: list[dict[str, Any]], mac: str) -> list[dict[str, Any]]:
    return [row for row in rows if as_text(row.get("mac-address")).upper() == mac]


def state_changing(emulator: RouterEmulator) -> list[str]:
    """Commands in the emulator's log that could change its state."""
    return [path for path, _attrs in emulator.command_log if not path.endswith("/print") and path != "/login"]


# -- authorize ---------------------------------------------------------------------------


def test_authorize_logs_the_device_in_with_a_user_named_by_its_mac(emulator, router):
    mac, ip = join(emulator, 1)

    router.authorize(grant_for(mac, ip, "g-7", limit_bytes_total=500_000_000))

    assert emulator.is_online(mac)
    (user,) = named(emulator.users(), mac)
    assert as_text(user["mac-address"]).upper() == mac
    assert user["server"] == SERVER
    assert user["profile"] == "p2c-1h-2M"
    assert parse_duration(user["limit-uptime"]) == 3600
    assert int(user["limit-bytes-total"]) == 500_000_000
    assert user["comment"] == "p2c:g-7"
    (profile,) = named(emulator.profiles(), "p2c-1h-2M")
    assert profile["rate-limit"] == "2M/2M"
    assert int(profile["shared-users"]) == 1
    (session,) = for_mac(emulator.active(), mac)
    assert session["user"] == mac and session["address"] == ip


def test_authorize_accepts_any_mac_spelling(emulator, router):
    mac, ip = join(emulator, 2)

    router.authorize(grant_for(mac.lower().replace(":", "-"), ip))

    assert emulator.is_online(mac)
    assert len(named(emulator.users(), mac)) == 1


def test_authorize_twice_is_harmless(emulator, router):
    mac, ip = join(emulator, 1)
    grant = grant_for(mac, ip)

    router.authorize(grant)
    router.authorize(grant)

    assert emulator.is_online(mac)
    assert len(named(emulator.users(), mac)) == 1
    assert len(for_mac(emulator.active(), mac)) == 1


def test_a_second_purchase_replaces_the_first_and_resets_the_uptime_used(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, "first", limit_uptime_seconds=3600))
    emulator.advance(50 * 60)

    router.authorize(grant_for(mac, ip, "second", limit_uptime_seconds=3600))
    emulator.advance(30 * 60)  # 80 min in total: only the reset keeps the backstop from firing

    assert emulator.is_online(mac)
    (user,) = named(emulator.users(), mac)
    assert user["comment"] == "p2c:second"


def test_a_returning_customer_is_read_in_one_round_trip_and_updated_in_place(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, "first", limit_uptime_seconds=3600))
    emulator.command_log.clear()

    router.authorize(grant_for(mac, ip, "second", limit_uptime_seconds=3600))

    paths = [path for path, _attrs in emulator.command_log]
    assert paths[:3] == ["/ip/hotspot/host/print", "/ip/hotspot/user/print", "/ip/hotspot/active/print"]
    assert "/ip/hotspot/user/add" not in paths, "the user it already has is set, not added and refused"
    assert paths.count("/ip/hotspot/user/set") == 1
    assert emulator.is_online(mac)


def test_an_add_refused_as_a_duplicate_reads_the_user_again_and_never_doubles_it(emulator, router):
    mac, ip = join(emulator, 1)
    # Refused as "already have user" although the read found none (another process added it
    # and removed it again meanwhile): read again, then add once more.
    emulator.fail_next("trap", path="/ip/hotspot/user/add", message="failure: already have user with this name")

    router.authorize(grant_for(mac, ip, "first", limit_uptime_seconds=3600))

    users = ("/ip/hotspot/user/print", "/ip/hotspot/user/add", "/ip/hotspot/user/set")
    paths = [path for path, _attrs in emulator.command_log if path in users]
    assert paths == ["/ip/hotspot/user/print", "/ip/hotspot/user/add", "/ip/hotspot/user/print", "/ip/hotspot/user/add"]
    assert emulator.is_online(mac)
    assert len(named(emulator.users(), mac)) == 1


def test_profile_is_created_once_and_updated_when_the_package_changes(emulator, router):
    first, second = join(emulator, 1), join(emulator, 2)
    router.authorize(grant_for(*first, rate_limit="1M/1M"))
    router.authorize(grant_for(*second, "g-2", rate_limit="4M/4M", shared_users=2))

    (profile,) = named(emulator.profiles(), "p2c-1h-2M")
    assert profile["rate-limit"] == "4M/4M"
    assert int(profile["shared-users"]) == 2


def test_spoofed_device_is_refused_before_anything_is_written(emulator, router):
    with pytest.raises(DeviceNotOnHotspot) as caught:
        router.authorize(grant_for("02:DE:AD:BE:EF:01", "10.5.50.66"))

    assert "02:DE:AD:BE:EF:01" in caught.value.message
    assert "host table" in caught.value.message
    assert caught.value.router == "main"
    assert state_changing(emulator) == []
    assert named(emulator.users(), "02:DE:AD:BE:EF:01") == []


@pytest.mark.parametrize(("mac", "ip"), [("not-a-mac", "10.5.50.2"), ("02:00:00:00:00:01", "10.5.50.999")])
def test_malformed_device_identity_is_refused(emulator, router, mac, ip):
    with pytest.raises(DeviceNotOnHotspot) as caught:
        router.authorize(grant_for(mac, ip))

    assert repr(mac) in caught.value.message and repr(ip) in caught.value.message
    assert emulator.command_log == []


def test_known_mac_with_the_wrong_ip_is_refused(emulator, router):
    mac, ip = join(emulator, 1)

    with pytest.raises(DeviceNotOnHotspot) as caught:
        router.authorize(grant_for(mac, "10.5.50.99"))

    assert ip in caught.value.message and "10.5.50.99" in caught.value.message
    assert not emulator.is_online(mac)
    assert state_changing(emulator) == []


def test_limit_uptime_ends_the_session_when_the_backend_misses_expiry(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, limit_uptime_seconds=600))

    emulator.advance(590)
    assert emulator.is_online(mac)
    emulator.advance(20)
    assert not emulator.is_online(mac)
    assert mac not in {session.mac for session in router.active_sessions()}


def test_a_session_of_another_user_on_the_device_is_replaced_by_ours(emulator, router):
    mac, ip = join(emulator, 1)
    router.connection.call("/ip/hotspot/user/add", {"name": "voucher-17", "password": "v"})
    router.connection.call("/ip/hotspot/active/login", {"user": "voucher-17", "password": "v", "ip": ip})

    router.authorize(grant_for(mac, ip))

    assert [as_text(s["user"]) for s in for_mac(emulator.active(), mac)] == [mac]
    assert len(named(emulator.users(), "voucher-17")) == 1, "the operator's voucher user is not ours to remove"


def test_a_device_that_moved_to_a_new_ip_is_logged_in_at_the_new_one(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip))
    emulator.device_join(mac, "10.5.50.200")

    router.authorize(grant_for(mac, "10.5.50.200"))

    (session,) = for_mac(emulator.active(), mac)
    assert session["address"] == "10.5.50.200"


def test_a_device_on_another_hotspot_server_is_refused(emulator, router):
    router.connection.call("/ip/hotspot/add", {"name": "hotspot-staff", "interface": "bridge-staff"})
    mac, ip = "02:00:00:00:00:31", "10.5.60.2"
    emulator.device_join(mac, ip, server="hotspot-staff")
    emulator.command_log.clear()

    with pytest.raises(DeviceNotOnHotspot) as caught:
        router.authorize(grant_for(mac, ip))

    assert "hotspot-staff" in caught.value.message
    assert state_changing(emulator) == []


def test_a_profile_removed_behind_our_back_is_created_again(emulator, router):
    first, second = join(emulator, 1), join(emulator, 2)
    router.authorize(grant_for(*first))
    router.revoke(first[0])
    (profile,) = named(emulator.profiles(), "p2c-1h-2M")
    router.connection.call("/ip/hotspot/user/profile/remove", {".id": profile[".id"]})

    router.authorize(grant_for(*second, "g-2"))

    assert emulator.is_online(second[0])
    (recreated,) = named(emulator.profiles(), "p2c-1h-2M")
    assert recreated[".id"] != profile[".id"] and recreated["rate-limit"] == "2M/2M"


def test_limit_bytes_total_ends_the_session_when_the_data_is_used(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, limit_bytes_total=10_000))

    emulator.device_traffic(mac, 2_000, 3_000)
    assert emulator.is_online(mac)
    emulator.device_traffic(mac, 2_000, 4_000)
    assert not emulator.is_online(mac)


# -- revoke ------------------------------------------------------------------------------


def test_revoke_logs_out_and_leaves_no_user_or_cookie(emulator, router):
    mac, ip = join(emulator, 1)
    other_mac, other_ip = join(emulator, 2)
    router.authorize(grant_for(mac, ip))
    router.authorize(grant_for(other_mac, other_ip, "g-2"))

    router.revoke(mac)

    assert not emulator.is_online(mac)
    assert named(emulator.users(), mac) == []
    assert for_mac(emulator.active(), mac) == []
    cookies = router.connection.call("/ip/hotspot/cookie/print")
    assert for_mac(cookies, mac) == [] and [c for c in cookies if as_text(c.get("user")) == mac] == []
    assert emulator.is_online(other_mac), "revoking one device must not touch another"


def test_revoke_of_a_device_with_nothing_on_the_router_is_success(emulator, router):
    mac, _ip = join(emulator, 1)

    router.revoke(mac)
    router.revoke("02:00:00:00:99:99")

    assert named(emulator.users(), mac) == []


def test_revoke_twice_is_harmless(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip))

    router.revoke(mac)
    router.revoke(mac)

    assert not emulator.is_online(mac)


# -- reading -----------------------------------------------------------------------------


def test_host_lookups(emulator, router):
    mac, ip = join(emulator, 3)

    by_ip = router.host_for_ip(ip)
    by_mac = router.host_for_mac(mac.lower())

    assert by_ip is not None and by_ip.mac == mac and by_ip.ip == ip and not by_ip.authorized
    assert by_mac == by_ip
    assert router.host_for_ip("10.5.50.250") is None
    assert router.host_for_mac("02:00:00:00:99:99") is None
    assert router.host_for_ip("not-an-ip") is None
    assert router.host_for_mac("zz") is None
    router.authorize(grant_for(mac, ip))
    assert router.host_for_mac(mac).authorized


def test_active_sessions_report_uptime_and_traffic(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip))
    emulator.device_traffic(mac, 1_000, 5_000)
    emulator.advance(125)

    (session,) = router.active_sessions()

    assert (session.user, session.mac, session.ip) == (mac, mac, ip)
    assert session.uptime_seconds == 125
    assert session.bytes_in + session.bytes_out == 6_000


def test_session_uptimes_list_each_logged_in_device_with_its_seconds_online(emulator, router):
    (first, second, away) = (join(emulator, n) for n in (1, 2, 3))
    router.authorize(grant_for(*first))
    emulator.advance(40)
    router.authorize(grant_for(*second, "g-2"))
    emulator.advance(5)

    assert router.session_uptimes() == {first[0]: 45, second[0]: 5}
    assert away[0] not in router.session_uptimes()


def test_managed_users_lists_ours_only_with_text_ids(emulator, router):
    first, second = join(emulator, 1), join(emulator, 2)
    router.authorize(grant_for(*first, "42"))  # numeric-looking id: librouteros would cast it
    router.authorize(grant_for(*second, "g-2"))
    router.connection.call("/ip/hotspot/user/add", {"name": "254712345678", "comment": "staff voucher"})
    router.connection.call("/ip/hotspot/user/add", {"name": "guest", "comment": "12345"})

    users = sorted(router.managed_users(), key=lambda user: user.grant_id)

    assert [(u.mac, u.grant_id) for u in users] == [(first[0], "42"), (second[0], "g-2")]


def test_logs_never_contain_passwords(emulator, router, caplog):
    mac, ip = join(emulator, 1)
    caplog.set_level(logging.DEBUG)

    router.authorize(grant_for(mac, ip))

    (user,) = named(emulator.users(), mac)
    hotspot_password = as_text(user.get("password"))
    assert API_PASSWORD not in caplog.text
    assert hotspot_password and hotspot_password not in caplog.text
    assert "/ip/hotspot/active/login" in caplog.text
    assert "=password=***" in caplog.text  # librouteros' own word log, redacted


# -- concurrency ---------------------------------------------------------------------------


def test_threads_share_one_router_safely(emulator, router):
    devices = [join(emulator, n) for n in range(1, 13)]
    errors: list[BaseException] = []

    def authorize(mac: str, ip: str, n: int) -> None:
        try:
            router.authorize(grant_for(mac, ip, f"g-{n}"))
        except BaseException as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=authorize, args=(*dev, n)) for n, dev in enumerate(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert all(emulator.is_online(mac) for mac, _ip in devices)
    assert all(len(named(emulator.users(), mac)) == 1 for mac, _ip in devices)
    assert router.connection.connect_count == 1
