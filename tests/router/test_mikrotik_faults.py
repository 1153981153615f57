"""MikrotikRouter when the router or the network misbehaves, or the router says no.

Each connection failure must surface as our own RouterUnreachable, within the adapter's
timeout (plus a small margin), and the next call must reconnect and work. Traps keep the
connection and surface as RouterRejected (or a more specific subclass).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from router import (
    DeviceNotOnHotspot,
    RouterAuthFailed,
    RouterError,
    RouterNotPermitted,
    RouterRejected,
    RouterUnreachable,
)
from tests.router.conftest import adapter_for, grant_for, join

TIMEOUT = 0.5
MARGIN = 0.5  # scheduling slack on a busy CI machine; far below a second timeout


@pytest.fixture
def adapter_options() -> dict[str, Any]:
    """The ``router`` fixture's adapter gives up after TIMEOUT here (failures must be fast)."""
    return {"timeout": TIMEOUT}


def timed_failure(call: Any, *args: Any) -> tuple[RouterError, float]:
    started = time.monotonic()
    with pytest.raises(RouterError) as caught:
        call(*args)
    return caught.value, time.monotonic() - started


WRITE_FAULTS = [
    ("drop_before_reply", "closed the connection"),
    ("drop_mid_reply", "closed the connection"),
    ("stall", f"did not answer within {TIMEOUT:.1f} s"),
    ("reset", "reset the connection"),
    ("fatal", "ended the API session"),
]


@pytest.mark.parametrize(("kind", "says"), WRITE_FAULTS, ids=[kind for kind, _ in WRITE_FAULTS])
def test_failure_during_login_command_is_unreachable_and_the_next_call_reconnects(emulator, router, kind, says):
    mac, ip = join(emulator, 1)
    router.host_for_ip(ip)  # an established session that the fault will break
    emulator.fail_next(kind, path="/ip/hotspot/active/login")

    error, elapsed = timed_failure(router.authorize, grant_for(mac, ip))

    assert type(error) is RouterUnreachable
    assert says in error.message and "main" in error.message and error.router == "main"
    assert elapsed < TIMEOUT + MARGIN
    assert not router.connection.is_connected
    router.authorize(grant_for(mac, ip))  # a whole authorize is safe to repeat
    assert emulator.is_online(mac)
    assert router.connection.connect_count == 2


def test_router_down_is_unreachable_fast_and_recovers(emulator, router):
    mac, _ip = join(emulator, 1)
    emulator.set_down(True)

    error, elapsed = timed_failure(router.host_for_mac, mac)

    assert isinstance(error, RouterUnreachable) and "refused the connection" in error.message
    assert elapsed < TIMEOUT + MARGIN
    emulator.set_down(False)
    assert router.host_for_mac(mac) is not None


def test_connection_closed_on_accept_is_unreachable(emulator, router):
    mac, _ip = join(emulator, 1)
    emulator.fail_next("close_on_accept")

    error, elapsed = timed_failure(router.host_for_mac, mac)

    assert isinstance(error, RouterUnreachable) and "while logging in" in error.message
    assert elapsed < TIMEOUT + MARGIN
    assert router.host_for_mac(mac) is not None


def test_a_read_on_a_stale_connection_is_retried_once_transparently(emulator, router):
    mac, ip = join(emulator, 1)
    router.host_for_ip(ip)
    emulator.fail_next("drop_mid_reply", path="/ip/hotspot/host/print")

    host = router.host_for_mac(mac)

    assert host is not None and host.ip == ip
    assert router.connection.connect_count == 2


def test_a_read_that_fails_twice_is_unreachable(emulator, router):
    mac, ip = join(emulator, 1)
    router.host_for_ip(ip)
    emulator.fail_next("reset", path="/ip/hotspot/host/print", count=2)

    error, elapsed = timed_failure(router.host_for_mac, mac)

    assert isinstance(error, RouterUnreachable)
    assert elapsed < TIMEOUT + MARGIN
    assert router.host_for_mac(mac) is not None


def test_a_stalled_read_is_not_retried(emulator, router):
    mac, ip = join(emulator, 1)
    router.host_for_ip(ip)
    emulator.fail_next("stall", path="/ip/hotspot/host/print")

    error, elapsed = timed_failure(router.host_for_mac, mac)

    assert isinstance(error, RouterUnreachable) and "did not answer within 0.5 s" in error.message
    assert elapsed < TIMEOUT + MARGIN
    assert router.host_for_mac(mac) is not None


def test_writes_are_never_retried_blindly(emulator, router):
    mac, ip = join(emulator, 1)
    router.host_for_ip(ip)
    emulator.fail_next("drop_before_reply", path="/ip/hotspot/user/add")

    timed_failure(router.authorize, grant_for(mac, ip))

    sent = [path for path, _attrs in emulator.command_log if path == "/ip/hotspot/user/add"]
    assert len(sent) == 1
    assert not emulator.is_online(mac)


def test_router_reboot_is_survived(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip))

    emulator.reboot()
    mac, ip = join(emulator, 1)  # hosts are dynamic: the device shows up again after the reboot
    router.authorize(grant_for(mac, ip))

    assert emulator.is_online(mac)
    assert router.connection.connect_count == 2


def test_revoke_during_an_outage_raises_and_succeeds_later(emulator, router):
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip))
    emulator.set_down(True)
    router.close()

    error, _elapsed = timed_failure(router.revoke, mac)
    assert isinstance(error, RouterUnreachable)

    emulator.set_down(False)
    router.revoke(mac)
    assert not emulator.is_online(mac)


# -- traps and refused logins: the connection is fine, the router said no -----------------


def test_wrong_api_password_is_router_auth_failed(emulator):
    with adapter_for(emulator, password="wrong", timeout=TIMEOUT) as router, pytest.raises(RouterAuthFailed) as caught:
        router.host_for_ip("10.5.50.2")

    assert "main" in caught.value.message and caught.value.router == "main"


def test_api_user_without_write_policy_is_not_permitted(emulator):
    emulator.add_api_user("viewer", "view", {"api", "read"})
    mac, ip = join(emulator, 1)

    with adapter_for(emulator, username="viewer", password="view", timeout=TIMEOUT) as router:
        assert router.host_for_mac(mac) is not None  # reading is fine
        with pytest.raises(RouterNotPermitted) as caught:
            router.authorize(grant_for(mac, ip))

    assert "viewer" in caught.value.message
    assert not emulator.is_online(mac)


def test_trap_on_login_is_rejected_with_the_routers_message(emulator, router):
    """Refused in the one-trip batch and again when tried step by step (router/mikrotik_login.py)."""
    mac, ip = join(emulator, 1)
    emulator.fail_next("trap", path="/ip/hotspot/active/login", message="already authorizing, retry later", count=2)

    with pytest.raises(RouterRejected) as caught:
        router.authorize(grant_for(mac, ip))

    assert not isinstance(caught.value, DeviceNotOnHotspot)
    assert "already authorizing, retry later" in caught.value.message
    router.authorize(grant_for(mac, ip))  # a trap leaves the connection usable
    assert emulator.is_online(mac)
    assert router.connection.connect_count == 1


def test_two_traps_are_rejected_with_both_messages(emulator, router):
    mac, ip = join(emulator, 1)
    emulator.fail_next("multi_trap", path="/ip/hotspot/user/add", count=2)  # the batch's add, then the step's

    with pytest.raises(RouterRejected) as caught:
        router.authorize(grant_for(mac, ip))

    assert "injected trap" in caught.value.message and "second injected trap" in caught.value.message
    assert router.connection.connect_count == 1 and router.connection.is_connected


@pytest.mark.parametrize(
    "message",
    [
        "unknown host IP 10.5.50.2",
        "wrong MAC provided",
        "user 02:00:00:00:00:01 is not allowed to log in from this MAC address",
    ],
)
def test_hotspot_login_refusals_about_the_device_are_device_not_on_hotspot(emulator, router, message):
    mac, ip = join(emulator, 1)
    emulator.fail_next("trap", path="/ip/hotspot/active/login", message=message)

    with pytest.raises(DeviceNotOnHotspot) as caught:
        router.authorize(grant_for(mac, ip))

    assert message in caught.value.message and "main" in caught.value.message


def test_permission_trap_on_a_read_is_not_permitted(emulator, router):
    emulator.fail_next("not_permitted", path="/ip/hotspot/active/print")

    with pytest.raises(RouterNotPermitted) as caught:
        router.active_sessions()

    assert "not enough permissions" in caught.value.message
