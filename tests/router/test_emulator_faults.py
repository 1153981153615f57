"""Failure injection: each fault kind makes librouteros raise what a real router would."""

from __future__ import annotations

import functools
import ssl
import time

import pytest
from librouteros import Api
from librouteros.exceptions import ConnectionClosed, FatalError, MultiTrapError, TrapError
from librouteros.query import Key

from portal.clock import ManualClock
from router.emulator import RouterEmulator
from tests.router.conftest import open_api, opened_api

CLIENT_TIMEOUT = 0.5


@pytest.fixture
def api_timeout() -> float:
    """The ``api`` client gives up after CLIENT_TIMEOUT here (stalls must end fast)."""
    return CLIENT_TIMEOUT


def identity(api: Api) -> list[str]:
    return [str(row["name"]) for row in api.path("system", "identity")]


def user_names(emulator: RouterEmulator) -> list[str]:
    return [row["name"] for row in emulator.users()]


def test_close_on_accept_raises_connection_closed_during_login(emulator: RouterEmulator) -> None:
    emulator.fail_next("close_on_accept")
    with pytest.raises(ConnectionClosed):
        open_api(emulator, timeout=CLIENT_TIMEOUT)
    with opened_api(emulator, timeout=CLIENT_TIMEOUT) as again:
        assert identity(again) == ["MikroTik"]  # only the next connection was refused


def test_drop_before_reply_runs_the_command_but_loses_the_reply(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("drop_before_reply", path="/ip/hotspot/user/add")
    with pytest.raises(ConnectionClosed):
        api.path("ip", "hotspot", "user").add(name="ghost")
    assert "ghost" in user_names(emulator)


def test_drop_before_reply_without_execution(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("drop_before_reply", path="/ip/hotspot/user/add", execute=False)
    with pytest.raises(ConnectionClosed):
        api.path("ip", "hotspot", "user").add(name="ghost")
    assert "ghost" not in user_names(emulator)


def test_drop_mid_reply_cuts_a_print_in_half(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("drop_mid_reply", path="/ip/hotspot/user")
    with pytest.raises(ConnectionClosed):
        list(api.path("ip", "hotspot", "user"))


def test_stall_makes_the_client_time_out(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("stall", path="/ip/hotspot/host/print")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        list(api.path("ip", "hotspot", "host"))
    assert time.monotonic() - started < 3


def test_stalled_connections_are_released_by_stop(clock: ManualClock) -> None:
    with RouterEmulator(clock=clock) as emulator, opened_api(emulator, timeout=5) as client:  # no ceiling
        emulator.fail_next("stall")
        client.protocol.writeSentence("/system/identity/print")
        deadline = time.monotonic() + 2
        while emulator.faults.pending() and time.monotonic() < deadline:  # wait until the stall took it
            time.sleep(0.005)
        started = time.monotonic()
        emulator.stop()  # only stop() can end the stall (stopping again on exit is harmless)
        with pytest.raises(ConnectionClosed):
            client.protocol.readSentence()
        assert time.monotonic() - started < 3 and emulator.connection_count() == 0


def test_reply_timeout_ceiling_ends_a_stall_for_patient_clients(clock: ManualClock) -> None:
    with RouterEmulator(clock=clock, reply_timeout_ceiling=0.2) as router, opened_api(router, timeout=5) as client:
        router.fail_next("stall")
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            identity(client)
        assert time.monotonic() - started < 2


def test_reset_raises_connection_reset_error(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("reset")
    with pytest.raises(ConnectionResetError):
        identity(api)


def test_fatal_raises_fatal_error_with_the_reason(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("fatal", message="out of memory")
    with pytest.raises(FatalError, match="out of memory"):
        identity(api)


def test_trap_keeps_the_connection_usable(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("trap", path="/ip/hotspot/active/login", message="already authorizing, retry later", category=4)
    emulator.device_join("02:00:00:00:00:01", "10.5.50.11")
    with pytest.raises(TrapError) as caught:
        tuple(api("/ip/hotspot/active/login", user="x", password="y", ip="10.5.50.11"))
    assert (caught.value.message, caught.value.category) == ("already authorizing, retry later", 4)
    assert identity(api) == ["MikroTik"]


def test_multi_trap_raises_multi_trap_error(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("multi_trap", message="failure: first")
    with pytest.raises(MultiTrapError) as caught:
        identity(api)
    assert [trap.message for trap in caught.value.traps] == ["failure: first", "failure: second injected trap"]


def test_not_permitted_matches_only_the_given_path_and_count(emulator: RouterEmulator, api: Api) -> None:
    emulator.fail_next("not_permitted", path="/ip/hotspot/user", count=2)
    users = api.path("ip", "hotspot", "user")
    for _ in range(2):
        with pytest.raises(TrapError, match=r"not enough permissions \(9\)"):
            users.add(name="denied")
    assert identity(api) == ["MikroTik"]
    assert users.add(name="allowed") == "*2"


def test_unknown_fault_kind_is_rejected(emulator: RouterEmulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emulator.fail_next("explode")


def test_set_down_refuses_connections_and_up_serves_the_same_port(emulator: RouterEmulator, api: Api) -> None:
    port = emulator.port
    emulator.set_down(True)
    with pytest.raises(ConnectionRefusedError):
        open_api(emulator, timeout=CLIENT_TIMEOUT)
    with pytest.raises((ConnectionClosed, ConnectionResetError, BrokenPipeError)):
        identity(api)  # open connections went down with the router
    emulator.set_down(False)
    assert emulator.port == port
    with opened_api(emulator, timeout=CLIENT_TIMEOUT) as again:
        assert identity(again) == ["MikroTik"]


def test_tls_with_a_verified_self_signed_certificate(clock: ManualClock) -> None:
    with RouterEmulator(clock=clock, tls=True) as router:
        context = router.tls_context_for_clients()
        assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
        with opened_api(router, timeout=CLIENT_TIMEOUT, ssl_wrapper=context.wrap_socket) as client:
            assert client.protocol.transport.sock.version() is not None
            client.path("ip", "hotspot", "user").add(name="over-tls")
            assert [
                r["port"] for r in client.path("ip", "service").select(Key("port")).where(Key("name") == "api-ssl")
            ] == [router.port]
        strict = ssl.create_default_context()  # does not trust the emulator's certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            open_api(
                router,
                timeout=CLIENT_TIMEOUT,
                ssl_wrapper=functools.partial(strict.wrap_socket, server_hostname="127.0.0.1"),
            )


def test_command_log_records_every_command_without_passwords(emulator: RouterEmulator, api: Api) -> None:
    list(api.path("ip", "hotspot", "user").select(Key("name")).where(Key("name") == "x"))
    api.path("ip", "hotspot", "user").add(name="u", password="very-secret")
    assert emulator.command_log[-2:] == [
        ("/ip/hotspot/user/print", {".proplist": "name", "?": "?=name=x"}),
        ("/ip/hotspot/user/add", {"name": "u"}),
    ]
