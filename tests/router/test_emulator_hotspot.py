"""The hotspot model through the real client: host table, active/login, limits on virtual time."""

from __future__ import annotations

import pytest
from librouteros import Api
from librouteros.exceptions import ConnectionClosed, TrapError
from librouteros.query import Key

from router.emulator import RouterEmulator
from tests.router.conftest import opened_api

MAC, IP = "02:00:00:00:00:01", "10.5.50.11"
OTHER_MAC, OTHER_IP = "02:00:00:00:00:02", "10.5.50.12"


def add_user(api: Api, name: str = MAC, /, **extra: object) -> str:
    """A hotspot user; the password is ``pw`` unless given."""
    extra.setdefault("password", "pw")
    return str(api.path("ip", "hotspot", "user").add(name=name, **extra))


def login(api: Api, user: str = MAC, password: str = "pw", mac: str | None = MAC, ip: str = IP) -> None:
    arguments: dict[str, str] = {"user": user, "password": password, "ip": ip}
    if mac is not None:
        arguments["mac-address"] = mac
    tuple(api("/ip/hotspot/active/login", **arguments))


def active(api: Api) -> list[dict[str, object]]:
    return list(api.path("ip", "hotspot", "active"))


def user_row(api: Api, name: str = MAC) -> dict[str, object]:
    return next(iter(api.path("ip", "hotspot", "user").select().where(Key("name") == name)))


def test_join_creates_an_unauthorized_host(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC.lower(), IP)
    (host,) = api.path("ip", "hotspot", "host").select().where(Key("mac-address") == MAC)
    assert (host["address"], host["server"], host["authorized"], host["bypassed"]) == (IP, "hotspot1", False, False)


@pytest.mark.parametrize(
    "login_kwargs, message",
    [
        ({"ip": "10.5.50.99"}, "unknown host IP 10.5.50.99"),
        ({"mac": OTHER_MAC}, "wrong MAC provided"),
        ({"password": "bad"}, "invalid username or password"),
        ({"user": "nobody"}, "invalid username or password"),
        ({"ip": "10.5.50"}, "invalid value for argument ip"),
    ],
)
def test_login_refusals(emulator: RouterEmulator, api: Api, login_kwargs: dict[str, str], message: str) -> None:
    emulator.device_join(MAC, IP)
    add_user(api)
    with pytest.raises(TrapError) as caught:
        login(api, **login_kwargs)
    assert caught.value.message == message
    assert not emulator.is_online(MAC)


def test_login_makes_an_active_session_and_a_mac_cookie(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api, **{"limit-uptime": "1h"})
    login(api)
    (session,) = active(api)
    assert (session["user"], session["address"], session["mac-address"], session["login-by"]) == (MAC, IP, MAC, "api")
    assert (session["uptime"], session["session-time-left"], session["server"]) == ("0s", "1h", "hotspot1")
    assert emulator.hosts()[0]["authorized"] == "true" and emulator.is_online(MAC)
    (cookie,) = list(api.path("ip", "hotspot", "cookie"))
    assert (cookie["user"], cookie["mac-address"], cookie["mac-cookie"]) == (MAC, MAC, True)
    login(api)  # the same user again on an active host: a no-op
    assert len(active(api)) == 1


def test_login_without_mac_uses_the_host_of_the_ip(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api)
    login(api, mac=None)
    assert [row["mac-address"] for row in active(api)] == [MAC]


def test_user_bound_to_another_mac_is_refused(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api, **{"mac-address": OTHER_MAC})
    with pytest.raises(TrapError, match=f"user {MAC} is not allowed to log in from this MAC address"):
        login(api)


def test_limit_uptime_ends_the_session_and_blocks_new_logins(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api, **{"limit-uptime": "5m"})
    login(api)
    emulator.advance(60)
    (session,) = active(api)
    assert (session["uptime"], session["session-time-left"]) == ("1m", "4m")
    emulator.advance(10 * 60)  # far past the limit: exactly 5 minutes are booked
    assert active(api) == [] and not emulator.is_online(MAC)
    assert user_row(api)["uptime"] == "5m"
    assert emulator.hosts()[0]["authorized"] == "false"
    with pytest.raises(TrapError, match=f"user {MAC} has reached uptime limit"):
        login(api)
    tuple(api("/ip/hotspot/user/reset-counters", **{".id": MAC}))
    login(api)
    assert emulator.is_online(MAC)


def test_session_timeout_caps_one_session_only(emulator: RouterEmulator, api: Api) -> None:
    api.path("ip", "hotspot", "user", "profile").add(name="short", **{"session-timeout": "10m"})
    emulator.device_join(MAC, IP)
    add_user(api, profile="short")
    login(api)
    emulator.advance(10 * 60)
    assert not emulator.is_online(MAC)
    login(api)  # a new session may start
    assert emulator.is_online(MAC)


def test_traffic_limit_is_cumulative(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api, **{"limit-bytes-total": 1000})
    login(api)
    emulator.device_traffic(MAC, 300, 200)
    assert active(api)[0]["bytes-in"] == 300
    emulator.device_traffic(MAC, 0, 600)
    assert not emulator.is_online(MAC)
    row = user_row(api)
    assert (row["bytes-in"], row["bytes-out"]) == (300, 800)
    with pytest.raises(TrapError, match=f"user {MAC} has reached traffic limit"):
        login(api)


def test_idle_and_keepalive_timeouts(emulator: RouterEmulator, api: Api) -> None:
    api.path("ip", "hotspot", "user", "profile").add(name="idle", **{"idle-timeout": "5m"})
    emulator.device_join(MAC, IP)
    emulator.device_join(OTHER_MAC, OTHER_IP)
    add_user(api, profile="idle")
    add_user(api, "keep")
    login(api)
    login(api, user="keep", mac=OTHER_MAC, ip=OTHER_IP)
    emulator.advance(4 * 60)
    emulator.device_traffic(MAC, 10, 10)  # traffic resets the idle clock
    emulator.device_leave(OTHER_MAC)
    emulator.advance(3 * 60)  # default profile keepalive-timeout is 2m
    assert emulator.is_online(MAC) and not emulator.is_online(OTHER_MAC)
    assert [host["mac-address"] for host in emulator.hosts()] == [MAC]  # the absent host is gone
    emulator.advance(3 * 60)
    assert not emulator.is_online(MAC)


def test_shared_users_limits_parallel_sessions(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    emulator.device_join(OTHER_MAC, OTHER_IP)
    add_user(api, "family")
    login(api, user="family")
    with pytest.raises(TrapError, match="no more sessions are allowed for user family"):
        login(api, user="family", mac=OTHER_MAC, ip=OTHER_IP)
    tuple(api("/ip/hotspot/user/profile/set", **{".id": "default", "shared-users": "2"}))
    login(api, user="family", mac=OTHER_MAC, ip=OTHER_IP)
    assert len(active(api)) == 2


def test_removing_the_user_does_not_kick_the_session(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    user_id = add_user(api)
    login(api)
    api.path("ip", "hotspot", "user").remove(user_id)
    assert emulator.is_online(MAC)
    api.path("ip", "hotspot", "active").remove(str(active(api)[0][".id"]))
    assert not emulator.is_online(MAC) and emulator.hosts()[0]["authorized"] == "false"


def test_admin_logout_books_uptime_and_keeps_the_cookie_until_removed(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    add_user(api)
    login(api)
    emulator.advance(90)
    emulator.device_traffic(MAC, 1500, 3001)
    api.path("ip", "hotspot", "active").remove(str(active(api)[0][".id"]))
    row = user_row(api)
    assert (row["uptime"], row["bytes-out"], row["packets-out"]) == ("1m30s", 3001, 3)
    cookies = api.path("ip", "hotspot", "cookie")
    cookies.remove(*[str(cookie[".id"]) for cookie in cookies])
    assert list(cookies) == []


def test_mac_cookie_logs_a_returning_device_in_while_its_user_exists(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    user_id = add_user(api)
    login(api)
    api.path("ip", "hotspot", "active").remove(str(active(api)[0][".id"]))
    emulator.device_leave(MAC)
    emulator.device_join(MAC, IP)
    assert [row["login-by"] for row in active(api)] == ["mac-cookie"]
    api.path("ip", "hotspot", "active").remove(str(active(api)[0][".id"]))
    api.path("ip", "hotspot", "user").remove(user_id)
    emulator.device_leave(MAC)
    emulator.device_join(MAC, IP)
    assert not emulator.is_online(MAC)


def test_mac_login_by_for_users_named_by_mac(emulator: RouterEmulator, api: Api) -> None:
    tuple(
        api(
            "/ip/hotspot/profile/set",
            **{".id": "hsprof1", "login-by": "mac,http-chap", "mac-auth-mode": "mac-as-username-and-password"},
        )
    )
    add_user(api, password=MAC)
    emulator.device_join(MAC, IP)
    assert [row["login-by"] for row in active(api)] == ["mac"]


def test_a_server_profile_changed_after_devices_were_seen_applies_to_the_next_device(
    emulator: RouterEmulator, api: Api
) -> None:
    """The profile a host's automatic login reads is kept between hosts (a boot sees
    thousands); a change to the profile, or to the server's choice of it, is seen at once."""
    api.path("ip", "hotspot", "profile").add(name="cookies-only", **{"login-by": "cookie"})
    emulator.device_join(OTHER_MAC, OTHER_IP)  # seen under the factory profile: no MAC login
    add_user(api, password=MAC)
    profile = {"login-by": "mac,http-chap", "mac-auth-mode": "mac-as-username-and-password"}
    tuple(api("/ip/hotspot/profile/set", **{".id": "hsprof1", **profile}))
    emulator.device_join(MAC, IP)
    assert [row["login-by"] for row in active(api)] == ["mac"]
    api.path("ip", "hotspot", "active").remove(str(active(api)[0][".id"]))
    emulator.device_leave(MAC)
    server_id = next(iter(api.path("ip", "hotspot")))[".id"]
    tuple(api("/ip/hotspot/set", **{".id": server_id, "profile": "cookies-only"}))
    emulator.device_join(MAC, IP)
    assert active(api) == []


def test_ip_binding_bypass_and_block(emulator: RouterEmulator, api: Api) -> None:
    bindings = api.path("ip", "hotspot", "ip-binding")
    emulator.device_join(MAC, IP)
    bypass_id = bindings.add(**{"mac-address": MAC, "type": "bypassed"})
    assert emulator.is_online(MAC) and emulator.hosts()[0]["bypassed"] == "true" and active(api) == []
    bindings.remove(bypass_id)
    assert not emulator.is_online(MAC)
    bindings.add(**{"mac-address": MAC, "type": "blocked"})
    assert emulator.hosts() == []
    emulator.device_traffic(MAC, 100, 100)
    assert emulator.hosts() == []


def test_host_remove_logs_out_and_the_device_reappears_on_traffic(emulator: RouterEmulator, api: Api) -> None:
    api.path("ip", "hotspot", "user", "profile").add(name="no-cookie", **{"add-mac-cookie": False})
    emulator.device_join(MAC, IP)
    add_user(api, profile="no-cookie")
    login(api)
    assert list(api.path("ip", "hotspot", "cookie")) == []
    hosts = api.path("ip", "hotspot", "host")
    hosts.remove(str(next(iter(hosts))[".id"]))
    assert not emulator.is_online(MAC) and emulator.hosts() == []
    emulator.device_traffic(MAC, 1, 1)
    assert [(h[".id"], h["authorized"]) for h in emulator.hosts()] == [("*2", "false")]


def test_reboot_clears_live_tables_drops_connections_and_renumbers(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join(MAC, IP)
    user_id = add_user(api)
    login(api)
    emulator.advance(30)
    emulator.reboot()
    with pytest.raises((ConnectionClosed, ConnectionResetError, BrokenPipeError)):
        list(api.path("system", "identity"))
    with opened_api(emulator) as fresh:
        assert list(fresh.path("ip", "hotspot", "active")) == []
        # The device is still in range: the router sees it again at once, unauthorized.
        assert [(h["mac-address"], h["authorized"]) for h in fresh.path("ip", "hotspot", "host")] == [(MAC, False)]
        assert list(fresh.path("ip", "hotspot", "cookie")) == []
        assert next(iter(fresh.path("system", "resource")))["uptime"] == "0s"
        (user,) = fresh.path("ip", "hotspot", "user").select(Key(".id"), Key("uptime")).where(Key("name") == MAC)
        assert user[".id"] != user_id and user["uptime"] == "30s"
        with pytest.raises(TrapError, match="no such item"):
            fresh.path("ip", "hotspot", "user").remove(user_id)
        emulator.device_traffic(MAC, 1, 1)
        assert [h["authorized"] for h in emulator.hosts()] == ["false"]
