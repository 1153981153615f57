"""Conformance with the real librouteros 4.2 client: login, menus, queries, values, permissions."""

from __future__ import annotations

import re
import socket
import threading

import pytest
from librouteros import Api
from librouteros.exceptions import TrapError
from librouteros.query import And, Key, Or

from router.emulator import RouterEmulator
from tests.router.conftest import open_api, opened_api

USERS = ("ip", "hotspot", "user")


def names(rows: object) -> list[str]:
    return [str(row["name"]) for row in rows]  # type: ignore[attr-defined]


def add_users(api: Api, *specs: dict[str, object]) -> list[str]:
    return [api.path(*USERS).add(**spec) for spec in specs]


def test_connect_reads_identity_resource_and_clock(emulator: RouterEmulator, api: Api) -> None:
    assert [row["name"] for row in api.path("system", "identity")] == ["MikroTik"]
    resource = next(iter(api.path("system", "resource")))
    assert resource["version"] == "7.18 (stable)" and resource["board-name"] == "CHR"
    emulator.advance(3725)
    assert next(iter(api.path("system", "resource")))["uptime"] == "1h2m5s"
    clock_row = next(iter(api.path("system", "clock")))
    assert (clock_row["date"], clock_row["time"]) == ("2026-03-01", "10:02:05")


def test_bad_password_raises_trap_with_the_router_text_and_closes_the_socket(emulator: RouterEmulator) -> None:
    with pytest.raises(TrapError) as caught:
        open_api(emulator, password="wrong")
    assert caught.value.message == "invalid user name or password (6)"
    assert emulator.command_log[-1] == ("/login", {"name": "pay2connect"})  # password never logged


def test_user_without_api_policy_cannot_log_in(emulator: RouterEmulator) -> None:
    emulator.add_api_user("webonly", "pw", {"read", "write"})
    with pytest.raises(TrapError, match="invalid user name or password"):
        open_api(emulator, "webonly", "pw")


def test_add_returns_star_hex_ids_that_are_never_reused(api: Api) -> None:
    first, second = add_users(api, {"name": "a"}, {"name": "b"})
    assert (first, second) == ("*2", "*3")  # *1 is default-trial
    api.path(*USERS).remove(second)
    assert add_users(api, {"name": "c"}) == ["*4"]


def test_where_supports_every_librouteros_operator(api: Api) -> None:
    add_users(
        api,
        {"name": "u1", "limit-uptime": "1h", "disabled": True, "comment": "p2c:1"},
        {"name": "u2", "limit-uptime": "30m", "comment": "p2c:2"},
        {"name": "u3", "limit-uptime": "2h"},
    )
    users = api.path(*USERS)
    name, uptime, disabled, comment = Key("name"), Key("limit-uptime"), Key("disabled"), Key("comment")

    def select(*query: object) -> list[str]:
        return names(users.select(name).where(*query))

    assert select(name == "u2") == ["u2"]
    assert select(name != "u2") == ["default-trial", "u1", "u3"]
    assert select(disabled == False) == ["default-trial", "u2", "u3"]  # noqa: E712 (sends ?=disabled=no)
    assert select(name.In("u1", "u3", "nobody")) == ["u1", "u3"]
    assert select(Or(comment == "p2c:1", uptime == "2h")) == ["u1", "u3"]
    assert select(And(uptime > "45m", disabled == False)) == ["u3"]  # noqa: E712
    assert select(uptime < "3600") == ["u2"]  # typed: durations compare as seconds
    assert select(uptime > "00:59:59", uptime < "1d") == ["u1", "u3"]


def test_raw_query_words_presence_absence_and_stack_indices(api: Api) -> None:
    add_users(api, {"name": "u1", "comment": "x"}, {"name": "u2"})
    assert names(api.rawCmd("/ip/hotspot/user/print", "?comment")) == ["u1"]
    assert names(api.rawCmd("/ip/hotspot/user/print", "?-comment", "?name=u2")) == ["u2"]
    # u1 OR u2 written with a stack copy: push a, push b, "|" then index-at-end keeps the top only
    assert names(api.rawCmd("/ip/hotspot/user/print", "?=name=u1", "?=name=u2", "?#|0")) == ["u1", "u2"]
    assert names(api.rawCmd("/ip/hotspot/user/print", "?=name=u1", "?#!", "?=name=u2", "?#!&")) == ["default-trial"]


def test_select_limits_properties_and_count_only_returns_ret(api: Api) -> None:
    add_users(api, {"name": "u1", "password": "pw", "comment": "c"})
    rows = list(api.path(*USERS).select(Key(".id"), Key("comment")).where(Key("name") == "u1"))
    assert rows == [{".id": "*2", "comment": "c"}]
    assert tuple(api("/ip/hotspot/user/print", **{"count-only": ""})) == ({"ret": 2},)


def test_empty_print_is_tolerated_and_returns_nothing(api: Api) -> None:
    assert list(api.path("ip", "hotspot", "active")) == []
    assert list(api.path(*USERS).select(Key("name")).where(Key("name") == "nobody")) == []


def test_update_and_remove_with_comma_separated_ids(api: Api) -> None:
    first, second, third = add_users(api, {"name": "a"}, {"name": "b"}, {"name": "c"})
    users = api.path(*USERS)
    users.update(**{".id": f"{first},{second}", "comment": "batch", "limit-uptime": "00:05:00"})
    rows = {row["name"]: row for row in users}
    assert rows["a"]["comment"] == rows["b"]["comment"] == "batch"
    assert rows["a"]["limit-uptime"] == "5m" and "comment" not in rows["c"]
    users.remove(first, third)
    assert names(users) == ["default-trial", "b"]


def test_remove_is_all_or_nothing_and_unknown_ids_trap(api: Api) -> None:
    (first,) = add_users(api, {"name": "a"})
    with pytest.raises(TrapError) as caught:
        api.path(*USERS).remove(first, "*7F")
    assert caught.value.message == "no such item"
    assert names(api.path(*USERS)) == ["default-trial", "a"]


def test_trap_category_is_an_int_for_a_missing_profile(api: Api) -> None:
    with pytest.raises(TrapError) as caught:
        api.path(*USERS).add(name="a", profile="p2c-missing")
    assert caught.value.message == "input does not match any value of profile"
    assert caught.value.category == 1 and isinstance(caught.value.category, int)


@pytest.mark.parametrize(
    "command, arguments, message",
    [
        ("/ip/hotspot/user/add", {"name": "a", "colour": "red"}, "unknown parameter colour"),
        ("/ip/hotspot/user/add", {"name": "a", "uptime": "1h"}, "unknown parameter uptime"),  # read-only
        (
            "/ip/hotspot/user/add",
            {"name": "a", "mac-address": "nope"},
            "invalid value of mac-address, mac address required",
        ),
        ("/ip/hotspot/user/add", {"name": "a", "limit-uptime": "soon"}, "invalid value for argument limit-uptime"),
        ("/ip/hotspot/user/add", {"name": "a", "disabled": "maybe"}, "invalid value for argument disabled"),
        ("/ip/hotspot/user/frobnicate", {}, "no such command"),
        ("/ip/hotspot/active/add", {}, "no such command"),
        ("/ip/nothing/print", {}, "no such command prefix"),
        ("/ip/hotspot/user/set", {".id": "*99", "comment": "x"}, "no such item"),
        ("/ip/hotspot/user/profile/remove", {".id": "default"}, "failure: can not remove default item"),
    ],
)
def test_refusals_carry_the_routeros_message(api: Api, command: str, arguments: dict[str, str], message: str) -> None:
    with pytest.raises(TrapError) as caught:
        tuple(api(command, **arguments))
    assert caught.value.message == message
    assert names(api.path("system", "identity")) == ["MikroTik"]  # the connection is still usable


def test_duplicate_hotspot_user_is_refused_per_server(api: Api) -> None:
    api.path(*USERS).add(name="dup", server="hotspot1")
    with pytest.raises(TrapError, match="already have user with this name for this server"):
        api.path(*USERS).add(name="dup")  # server=all clashes with every server


def test_values_are_typed_on_the_way_in_and_canonical_on_the_way_out(api: Api) -> None:
    api.path(*USERS).add(
        name="v",
        **{"mac-address": "aa-bb-cc-dd-ee-0f", "limit-uptime": "1d2h3m", "disabled": "true", "limit-bytes-total": 500},
    )
    row = next(iter(api.path(*USERS).select().where(Key("name") == "v")))
    assert row["mac-address"] == "AA:BB:CC:DD:EE:0F"
    assert row["limit-uptime"] == "1d2h3m"
    assert row["disabled"] is True and row["limit-bytes-total"] == 500
    assert "password" not in row and "email" not in row  # unset or secret: omitted
    assert [
        r["name"] for r in api.path(*USERS).select(Key("name")).where(Key("mac-address") == "aa:bb:cc:dd:ee:0f")
    ] == ["v"]


def test_name_may_stand_in_for_id_and_unset_clears_a_property(api: Api) -> None:
    profiles = api.path("ip", "hotspot", "user", "profile")
    profiles.add(name="p2c-1h", **{"rate-limit": "2M/2M", "shared-users": 2})
    profiles.update(**{".id": "p2c-1h", "session-timeout": "1h"})
    tuple(api("/ip/hotspot/user/profile/unset", **{".id": "p2c-1h", "value-name": "rate-limit"}))
    row = next(r for r in profiles if r["name"] == "p2c-1h")
    assert row["session-timeout"] == "1h" and row["shared-users"] == 2 and "rate-limit" not in row


def test_long_words_round_trip_with_two_and_three_byte_prefixes(api: Api) -> None:
    users = api.path(*USERS)
    for size in (256, 70_000):
        comment = ("p2c:" + "x" * size)[:size]
        user_id = users.add(name=f"long{size}", comment=comment)
        rows = list(users.select(Key("comment")).where(Key(".id") == user_id))
        assert rows == [{"comment": comment}]


def test_non_ascii_values_round_trip_with_utf8_encoding(emulator: RouterEmulator) -> None:
    with opened_api(emulator, encoding="utf-8") as client:
        client.path(*USERS).add(name="mteja", comment="Karibu ☕ café")
        assert next(r for r in client.path(*USERS) if r["name"] == "mteja")["comment"] == "Karibu ☕ café"


def test_two_clients_on_two_threads_at_once(emulator: RouterEmulator) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            with opened_api(emulator) as client:
                for n in range(25):
                    client.path(*USERS).add(name=f"w{worker}-{n}")
                    assert len(list(client.path(*USERS).select(Key("name")))) >= n + 2
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert len(emulator.users()) == 1 + 50


def test_permissions_read_write_and_sensitive(emulator: RouterEmulator, api: Api) -> None:
    api.path(*USERS).add(name="secretive", password="hunter2")
    emulator.add_api_user("reader", "r", {"api", "read"})
    emulator.add_api_user("writer", "w", {"api", "write"})
    emulator.add_api_user("auditor", "a", {"api", "read", "sensitive"})
    reader, writer, auditor = (
        open_api(emulator, n, p) for n, p in (("reader", "r"), ("writer", "w"), ("auditor", "a"))
    )
    try:
        with pytest.raises(TrapError, match=r"not enough permissions \(9\)"):
            reader.path(*USERS).add(name="nope")
        with pytest.raises(TrapError, match=r"not enough permissions \(9\)"):
            list(writer.path(*USERS))
        assert writer.path(*USERS).add(name="blind") == "*3"
        assert "password" not in next(r for r in api.path(*USERS) if r["name"] == "secretive")
        assert next(r for r in auditor.path(*USERS) if r["name"] == "secretive")["password"] == "hunter2"
    finally:
        for client in (reader, writer, auditor):
            client.close()


def test_max_sessions_closes_extra_connections(emulator: RouterEmulator) -> None:
    clients = [open_api(emulator) for _ in range(20)]
    try:
        extra = socket.create_connection((emulator.host, emulator.port), timeout=2)
        assert extra.recv(10) == b""  # closed without a byte, like available-from
        extra.close()
    finally:
        for client in clients:
            client.close()


def test_enable_disable_and_getall(api: Api) -> None:
    (user_id,) = add_users(api, {"name": "toggle"})
    tuple(api("/ip/hotspot/user/disable", **{".id": user_id}))
    rows = tuple(api("/ip/hotspot/user/getall", **{".proplist": "name,disabled"}))
    assert {"name": "toggle", "disabled": True} in rows
    tuple(api("/ip/hotspot/user/enable", **{".id": "toggle"}))
    rows = tuple(api("/ip/hotspot/user/getall", **{".proplist": "name,disabled"}))
    assert {"name": "toggle", "disabled": False} in rows


def test_references_to_servers_are_checked(api: Api) -> None:
    with pytest.raises(TrapError, match="input does not match any value of server"):
        api.path("ip", "hotspot", "ip-binding").add(**{"mac-address": "02:00:00:00:00:01", "server": "nowhere"})
    assert api.path("ip", "hotspot", "walled-garden", "ip").add(**{"dst-address": "203.0.113.0/24"}) == "*1"
    assert api.path("ip", "hotspot", "walled-garden").add(**{"dst-host": "*.safaricom.co.ke"}) == "*1"


def test_world_snapshots_use_routeros_field_names(emulator: RouterEmulator, api: Api) -> None:
    api.path("ip", "hotspot", "user", "profile").add(name="p2c-1h", **{"rate-limit": "2M/2M"})
    api.path(*USERS).add(name="u", password="pw", profile="p2c-1h")
    assert [(p["name"], p.get("rate-limit")) for p in emulator.profiles()] == [("default", None), ("p2c-1h", "2M/2M")]
    assert emulator.users()[-1]["password"] == "pw"  # snapshots see secrets
    with pytest.raises(ValueError, match="not a MAC address"):
        emulator.device_join("nope", "10.5.50.11")
    with pytest.raises(ValueError, match="not an IP address"):
        emulator.device_join("02:00:00:00:00:01", "10.5.50")
    with pytest.raises(ValueError, match="no hotspot server"):
        emulator.device_join("02:00:00:00:00:01", "10.5.50.11", server="hotspot9")
    with pytest.raises(KeyError):
        emulator.device_traffic("02:00:00:00:00:09", 1, 1)
    emulator.device_join("02:00:00:00:00:01", "10.5.50.11")
    with pytest.raises(ValueError, match=re.escape("10.5.50.11 is already used by 02:00:00:00:00:01")):
        emulator.device_join("02:00:00:00:00:02", "10.5.50.11")


def test_a_bad_stack_operation_is_a_trap_not_a_dropped_connection(emulator: RouterEmulator, api: Api) -> None:
    emulator.device_join("AA:BB:CC:00:00:01", "10.5.50.11")
    with pytest.raises(TrapError):
        tuple(api.rawCmd("/ip/hotspot/host/print", "?#x"))
    assert tuple(api.rawCmd("/system/identity/print"))  # the connection is still usable


def test_a_limited_command_log_keeps_the_newest_commands_only() -> None:
    """A soak day sends millions of commands; kept whole they cost gigabytes."""
    with RouterEmulator(command_log_limit=10) as emulator, opened_api(emulator) as api:
        for n in range(45):
            tuple(api.path("/system/identity").select("name").where(Key("name") == f"probe-{n}"))
        log = emulator.command_log
        assert 10 <= len(log) <= 20
        assert log[-1][1]["?"] == "?=name=probe-44"


def test_a_command_log_limit_of_0_keeps_no_command() -> None:
    """A soak day never reads the log: it keeps none of its millions."""
    with RouterEmulator(command_log_limit=0) as emulator, opened_api(emulator) as api:
        assert tuple(api.path("/system/identity").select("name"))
        assert emulator.command_log == []
