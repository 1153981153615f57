"""The composition root builds each channel from config, aimed at the real service or at its
in-process simulator, wraps the gateway and routers for metrics, and closes what it started."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from portal.config import ConfigError
from portal.notify import LIVE_BASE_URL, SANDBOX_BASE_URL, Outgoing
from portal.notify.sms_simulator import SmsGatewaySimulator
from portal.wiring import build_services
from tests.conftest import make_settings


def build(tmp_path, simulator, redis_handle, clock, **sections: Any):
    settings = make_settings(tmp_path, "http://127.0.0.1:9", simulator.base_url, **sections)
    return build_services(settings, clock=clock, simulator=simulator, redis_handle=redis_handle, background=False)


def test_simulators_are_started_used_and_stopped(tmp_path, simulator, redis_handle, clock):
    services = build(
        tmp_path,
        simulator,
        redis_handle,
        clock,
        sms={"environment": "simulator"},
        email={"environment": "simulator", "sender": "wifi@venue.co.ke"},
        webhook={"url": "simulator", "secret": "0123456789abcdef"},
    )
    assert set(services.channels) == {"sms", "email", "webhook"}
    services.channels["sms"].send(Outgoing(channel="sms", to="0712345678", subject="", body="hi", reference="t1"))
    services.channels["email"].send(
        Outgoing(channel="email", to="o@venue.co.ke", subject="s", body="hi", reference="t2")
    )
    services.channels["webhook"].send(Outgoing(channel="webhook", to="", subject="s", body="hi", reference="t3"))
    assert [m.number for m in services.sms_gateway.messages()] == ["+254712345678"]
    (mail,) = services.smtp_server.messages()
    assert mail.tls_version and mail.authenticated_as == "wifi@venue.co.ke"  # STARTTLS and AUTH, as at port 587
    assert services.webhook_receiver.received()[0].signature_valid is True
    ports = [services.sms_gateway.port, services.smtp_server.port, services.smtp_outbox.port]
    services.close()
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_a_simulator_passed_in_is_used_not_started(tmp_path, simulator, redis_handle, clock):
    with SmsGatewaySimulator(clock=clock) as gateway:
        services = build(tmp_path, simulator, redis_handle, clock, sms={"environment": "simulator"})
        assert services.sms_gateway is not gateway  # built its own
        services.close()
        settings = make_settings(tmp_path, "http://127.0.0.1:9", simulator.base_url, sms={"environment": "simulator"})
        services = build_services(
            settings, clock=clock, simulator=simulator, redis_handle=redis_handle, background=False, sms_gateway=gateway
        )
        assert services.sms_gateway is gateway
        services.channels["sms"].send(Outgoing(channel="sms", to="0712345678", subject="", body="x", reference="r"))
        services.close()
        assert len(gateway.messages()) == 1  # still running: not ours to stop


@pytest.mark.parametrize(
    ("environment", "username", "base_url"),
    [("sandbox", "sandbox", SANDBOX_BASE_URL), ("production", "mamanjeri", LIVE_BASE_URL)],
)
def test_real_services_are_aimed_at_africas_talking(
    tmp_path, simulator, redis_handle, clock, environment, username, base_url
):
    services = build(
        tmp_path,
        simulator,
        redis_handle,
        clock,
        sms={"environment": environment, "username": username, "api_key": "k", "sender_id": "MAMANJERI"},
        email={
            "environment": "smtp",
            "host": "smtp.example.co.ke",
            "port": 465,
            "security": "ssl",
            "sender": "wifi@venue.co.ke",
            "username": "wifi@venue.co.ke",
            "password": "pw",
        },
        webhook={"url": "https://hooks.example.com/T/B/token", "style": "slack"},
    )
    sms, mail, hook = services.channels["sms"], services.channels["email"], services.channels["webhook"]
    assert sms.url == base_url + "/version1/messaging" and sms.sender_id == "MAMANJERI"  # type: ignore[attr-defined]
    assert (mail.host, mail.port, mail.security) == ("smtp.example.co.ke", 465, "ssl")  # type: ignore[attr-defined]
    assert hook.where == "https://hooks.example.com" and hook.style == "slack"  # type: ignore[attr-defined]
    assert services.sms_gateway is None and services.smtp_server is None and services.webhook_receiver is None
    services.close()


def test_no_channel_when_everything_is_off(tmp_path, simulator, redis_handle, clock):
    services = build(tmp_path, simulator, redis_handle, clock)
    assert services.channels == {}
    assert type(services.gateway).__name__ == "ObservedGateway"
    assert {type(r).__name__ for r in services.routers.values()} == {"ObservedRouter"}
    services.close()


def test_a_channel_the_config_checks_missed_is_one_clear_line(tmp_path, simulator, redis_handle, clock):
    """Port 0 passes the config's URL rule but no client can use it: one line, nothing left running."""
    settings = make_settings(
        tmp_path,
        "http://127.0.0.1:9",
        simulator.base_url,
        sms={"environment": "sandbox", "username": "sandbox", "api_key": "k", "base_url": "http://127.0.0.1:0"},
    )
    with pytest.raises(ConfigError) as caught:
        build_services(settings, clock=clock, simulator=simulator, redis_handle=redis_handle, background=False)
    assert caught.value.problems == ["notification channels: base_url has an invalid port"]
