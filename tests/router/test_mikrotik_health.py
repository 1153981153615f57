"""MikrotikRouter health checks and the api-ssl (TLS) transport, against the emulator.

health() must never raise: every failure becomes one plain sentence in ``problems``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from portal.clock import ManualClock
from router import DeviceGrant, RouterUnreachable
from router.emulator import RouterEmulator
from router.mikrotik import MikrotikRouter
from tests.router.conftest import API_PASSWORD, API_USER, SERVER, adapter_for

# -- health ------------------------------------------------------------------------------


def test_health_of_a_good_router(emulator, router):
    health = router.health()

    assert health.ok, health.problems
    assert health.identity == "MikroTik"
    assert health.version and health.version.startswith("7.18")


def test_health_when_the_hotspot_server_has_another_name(emulator):
    with adapter_for(emulator, hotspot_server="hs-lobby") as router:
        health = router.health()

    assert health.reachable and not health.hotspot_present and not health.ok
    assert any("'hs-lobby'" in problem and "'hotspot1'" in problem for problem in health.problems)


def test_health_of_a_down_router_does_not_raise(emulator):
    emulator.set_down(True)
    with adapter_for(emulator, timeout=0.5) as router:
        health = router.health()

    assert not health.reachable and not health.ok
    assert len(health.problems) == 1 and "main" in health.problems[0]


def test_health_reports_bad_credentials_and_missing_write(emulator):
    emulator.add_api_user("viewer", "view", {"api", "read"})
    with adapter_for(emulator, password="wrong") as router:
        bad_login = router.health()
    with adapter_for(emulator, username="viewer", password="view") as router:
        read_only = router.health()

    assert not bad_login.ok and "refused the API login" in bad_login.problems[0]
    assert read_only.hotspot_present and not read_only.ok
    assert read_only.problems == ["API user 'viewer' on router main lacks the write policy."]


def test_health_reports_a_disabled_hotspot_server(emulator, router):
    router.connection.call("/ip/hotspot/disable", {".id": SERVER})

    health = router.health()

    assert health.hotspot_present and not health.ok
    assert health.problems == ["Hotspot server 'hotspot1' on router main is disabled."]


def test_health_falls_back_to_a_no_op_write_when_user_groups_are_unreadable(emulator):
    emulator.add_api_user("viewer", "view", {"api", "read"})
    emulator.fail_next("not_permitted", path="/user/print", count=2)
    with adapter_for(emulator) as full, adapter_for(emulator, username="viewer", password="view") as viewer:
        full_health, viewer_health = full.health(), viewer.health()

    assert full_health.ok, full_health.problems
    assert viewer_health.problems == ["API user 'viewer' on router main lacks the write policy."]
    identity_writes = [attrs for path, attrs in emulator.command_log if path == "/system/identity/set"]
    assert identity_writes == [{"name": "MikroTik"}] * 2  # the name it had: nothing changes
    with adapter_for(emulator) as again:
        assert again.health().identity == "MikroTik"


# -- api-ssl ------------------------------------------------------------------------------


@pytest.mark.parametrize("verify", [True, False], ids=["verified-cert", "unverified"])
def test_api_ssl_authorizes_and_checks_health(verify):
    mac, ip = "02:00:00:00:00:01", "10.5.50.2"
    with RouterEmulator(clock=ManualClock(), tls=True, reply_timeout_ceiling=5.0) as emulator:
        emulator.device_join(mac, ip)
        context = emulator.tls_context_for_clients() if verify else None  # None: our unverified default
        with adapter_for(emulator, tls=True, tls_context=context) as router:
            router.authorize(DeviceGrant("g-1", mac, ip, "p2c-1h-2M", 3600, rate_limit="2M/2M"))
            health = router.health()

        assert emulator.is_online(mac)
    assert health.ok, health.problems


def test_api_ssl_with_an_untrusted_certificate_is_unreachable():
    with RouterEmulator(clock=ManualClock(), tls=True, reply_timeout_ceiling=5.0) as emulator:
        system_trust = ssl.create_default_context()  # does not know the emulator's self-signed cert
        with adapter_for(emulator, tls=True, tls_context=system_trust, timeout=0.5) as router:
            with pytest.raises(RouterUnreachable) as caught:
                router.host_for_ip("10.5.50.2")
            health = router.health()

    assert "TLS certificate of router main could not be verified" in caught.value.message
    assert not health.reachable and "could not be verified" in health.problems[0]


def test_api_ssl_against_a_plain_api_port_is_unreachable(emulator):
    with adapter_for(emulator, tls=True, timeout=0.5) as router, pytest.raises(RouterUnreachable) as caught:
        router.host_for_ip("10.5.50.2")

    assert "main" in caught.value.message


# RFC 7919 ffdhe2048: public, standard DH parameters (generating fresh ones takes seconds).
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


class CertificateLessApiSsl:
    """What api-ssl with ``certificate=none`` offers (anonymous DH only, TLS 1.2), as a
    TLS-terminating relay in front of the emulator's plain API port."""

    def __init__(self, target: tuple[str, int], dh_params: Path) -> None:
        self.target = target
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_ciphers("ADH:@SECLEVEL=0")
        self.context.load_dh_params(str(dh_params))
        self.ciphers: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self.ciphers.append(tls.cipher()[0])
        threading.Thread(target=_pump, args=(upstream, tls), daemon=True).start()
        _pump(tls, upstream)

    def close(self) -> None:
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            sock.close()


def test_api_ssl_to_a_router_without_certificate_uses_anonymous_dh(emulator, tmp_path):
    """RouterOS api-ssl without a certificate uses anonymous ciphers: the default context must get through
    where a normal one fails."""
    (tmp_path / "dh.pem").write_text(FFDHE2048)
    relay = CertificateLessApiSsl((emulator.host, emulator.port), tmp_path / "dh.pem")
    mac, ip = "02:00:00:00:00:01", "10.5.50.2"
    emulator.device_join(mac, ip)
    try:
        with MikrotikRouter("main", "127.0.0.1", relay.port, API_USER, API_PASSWORD, tls=True) as router:
            router.authorize(DeviceGrant("g-1", mac, ip, "p2c-1h-2M", 3600))
        with MikrotikRouter(
            "main",
            "127.0.0.1",
            relay.port,
            API_USER,
            API_PASSWORD,
            tls=True,
            tls_context=ssl.create_default_context(),
            timeout=0.5,
        ) as strict:
            health = strict.health()
    finally:
        relay.close()

    assert emulator.is_online(mac)
    assert relay.ciphers[0].startswith("ADH-")
    assert not health.reachable and "TLS with router main failed" in health.problems[0]
