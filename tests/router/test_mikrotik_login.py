"""A purchase's login in one round trip (router/mikrotik_login.py), against the emulator over
TCP: the plain cases leave the router exactly as the step-by-step way leaves a twin device,
in two round trips instead of four or five; everything else, and a batch the router refused
a part of, goes step by step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from router import mikrotik as mikrotik_adapter
from router.emulator import RouterEmulator
from router.mikrotik import MikrotikRouter
from router.ros_values import parse_duration
from tests.router.conftest import adapter_for, grant_for, join
from tests.router.test_mikrotik import for_mac, named

MARGIN = 120
#: What a user holds that a login depends on (its counters included).
USER_FIELDS = ("limit-uptime", "limit-bytes-total", "profile", "uptime", "disabled", "server", "comment")


@pytest.fixture
def router(emulator: RouterEmulator) -> Iterator[MikrotikRouter]:
    with adapter_for(emulator) as adapter:
        yield adapter


class Trips(list[str]):
    """The round trips an operation took (a batch of a few commands is one): ``read_many``,
    ``call_many``, or ``call`` and its command."""

    def past_profiles(self) -> list[str]:
        """Without the package's profile looked up (once per connection: a reboot drops it)."""
        return [trip for trip in self if not trip.startswith("call /ip/hotspot/user/profile/")]


def round_trips(adapter: MikrotikRouter, monkeypatch: pytest.MonkeyPatch) -> Trips:
    trips = Trips()
    connection = adapter.connection
    for name in ("call", "read_many", "call_many"):
        method: Callable[..., Any] = getattr(connection, name)

        def counted(*args: Any, _method: Callable[..., Any] = method, _name: str = name, **kwargs: Any) -> Any:
            trips.append(f"call {args[0]}" if _name == "call" else _name)
            return _method(*args, **kwargs)

        monkeypatch.setattr(connection, name, counted)
    return trips


def step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Authorize as before the one-trip login: no case is plain."""
    monkeypatch.setattr(mikrotik_adapter, "plain_login", lambda *args, **kwargs: None)


def user_of(emulator: RouterEmulator, mac: str) -> dict[str, Any]:
    (user,) = named(emulator.users(), mac)
    fields = {field: user.get(field) for field in USER_FIELDS}
    # No cap is the field left out (as a user is added) or 0 (as authorize sets it): the same.
    fields["limit-bytes-total"] = int(fields["limit-bytes-total"] or 0)
    return fields


def time_left(emulator: RouterEmulator, mac: str) -> int:
    (session,) = for_mac(emulator.active(), mac)
    return parse_duration(session["session-time-left"])


def test_a_new_device_is_added_logged_in_and_listed_in_one_trip_after_the_read(emulator, router, monkeypatch):
    batched, twin = join(emulator, 1), join(emulator, 2)
    trips = round_trips(router, monkeypatch)
    router.authorize(grant_for(*batched, "g-a", limit_bytes_total=10**9))
    assert trips.past_profiles() == ["read_many", "call_many"]
    assert [path for path, _attrs in emulator.command_log][-3:] == [
        "/ip/hotspot/user/add",
        "/ip/hotspot/active/login",
        "/ip/hotspot/active/print",
    ]

    trips.clear()
    step_by_step(monkeypatch)
    router.authorize(grant_for(*twin, "g-a", limit_bytes_total=10**9))
    assert trips.past_profiles() == [
        "read_many",
        "call /ip/hotspot/user/add",
        "call /ip/hotspot/active/login",
        "call /ip/hotspot/active/print",
    ]

    assert emulator.is_online(batched[0]) and emulator.is_online(twin[0])
    assert user_of(emulator, batched[0]) == user_of(emulator, twin[0])
    assert time_left(emulator, batched[0]) == time_left(emulator, twin[0]) == 3600


def test_another_purchase_after_a_reboot_resets_the_counters_as_step_by_step_does(emulator, router, monkeypatch):
    """The user carries an earlier purchase that ran 250 s: the new one gets its whole limit."""
    batched, twin = join(emulator, 1), join(emulator, 2)
    for n, device in enumerate((batched, twin)):
        router.authorize(grant_for(*device, f"g-first-{n}", limit_uptime_seconds=600, limit_bytes_total=10**9))
    emulator.advance(250)
    emulator.reboot()
    new = {"limit_uptime_seconds": 400 + MARGIN, "profile": "p2c-fast", "rate_limit": "2M/2M"}

    trips = round_trips(router, monkeypatch)
    router.authorize(grant_for(*batched, "g-next-0", **new))
    assert trips.past_profiles() == ["read_many", "call_many"]
    step_by_step(monkeypatch)
    router.authorize(grant_for(*twin, "g-next-1", **new))

    first, second = user_of(emulator, batched[0]), user_of(emulator, twin[0])
    assert first.pop("comment") == "p2c:g-next-0" and second.pop("comment") == "p2c:g-next-1"
    assert first == second
    assert time_left(emulator, batched[0]) == time_left(emulator, twin[0]) == 400 + MARGIN
    emulator.advance(400)
    assert emulator.is_online(batched[0]), "the backstop never cuts before the paid end"


def test_the_same_purchase_again_gets_its_limit_on_top_of_the_uptime_booked(emulator, router, monkeypatch):
    """After a reboot (or a drop-off) the same grant logs in again: the 250 s it already ran
    stay booked, so the limit is raised by them, as _fit_backstop does it step by step."""
    batched, twin = join(emulator, 1), join(emulator, 2)
    for device in (batched, twin):
        router.authorize(grant_for(*device, "g-same", limit_uptime_seconds=600))
    emulator.advance(250)
    emulator.reboot()

    trips = round_trips(router, monkeypatch)
    router.authorize(grant_for(*batched, "g-same", limit_uptime_seconds=600))
    assert trips.past_profiles() == ["read_many", "call_many"]
    trips.clear()
    step_by_step(monkeypatch)
    router.authorize(grant_for(*twin, "g-same", limit_uptime_seconds=600))
    assert trips.past_profiles() == [
        "read_many",
        "call /ip/hotspot/user/set",
        "call /ip/hotspot/user/print",  # the uptime booked, read after any logout
        "call /ip/hotspot/user/set",
        "call /ip/hotspot/active/login",
        "call /ip/hotspot/active/print",
    ]

    assert user_of(emulator, batched[0]) == user_of(emulator, twin[0])
    assert parse_duration(user_of(emulator, batched[0])["limit-uptime"]) == 250 + 600
    assert time_left(emulator, batched[0]) == time_left(emulator, twin[0]) == 600


def test_a_device_with_a_session_goes_step_by_step(emulator, router, monkeypatch):
    """A session on the MAC (here the purchase before, still live) is ended first: not plain."""
    mac, ip = join(emulator, 1)
    router.authorize(grant_for(mac, ip, "g-first"))
    trips = round_trips(router, monkeypatch)

    router.authorize(grant_for(mac, ip, "g-second"))

    assert "call_many" not in trips
    assert "call /ip/hotspot/active/remove" in trips  # the earlier purchase's session ended first
    assert emulator.is_online(mac) and user_of(emulator, mac)["comment"] == "p2c:g-second"


def test_a_refusal_in_the_batch_is_tried_once_more_step_by_step(emulator, router, monkeypatch):
    mac, ip = join(emulator, 1)
    emulator.fail_next("trap", path="/ip/hotspot/active/login", message="already authorizing, retry later")
    trips = round_trips(router, monkeypatch)

    router.authorize(grant_for(mac, ip))

    assert trips.past_profiles()[:3] == ["read_many", "call_many", "read_many"]  # refused, then read again
    logins = [path for path, _attrs in emulator.command_log if path == "/ip/hotspot/active/login"]
    assert len(logins) == 2
    assert emulator.is_online(mac)
    assert len(named(emulator.users(), mac)) == 1
