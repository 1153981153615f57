"""The delivery queue over real sockets: the Africa's Talking simulator over HTTP, the SMTP
simulator (STARTTLS + AUTH) and the webhook receiver. Retries with backoff on failures that
may pass, gives up (recorded) on those that cannot, never queues a key twice, masks numbers."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from portal.domain import deliveries
from portal.domain.deliveries import Message
from portal.ledger.models import Delivery
from portal.notify import verify_signature

MSISDN = "254712345678"
SECRET = "a-webhook-secret-of-some-length"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "sms": {"environment": "simulator"},
        "email": {"environment": "simulator", "sender": "wifi@venue.co.ke"},
        "webhook": {"url": "simulator", "secret": SECRET},
        "alerts": {"enabled": False},
        "worker": {"delivery_base_delay_seconds": 30, "delivery_max_delay_seconds": 300, "delivery_give_up_hours": 2},
    }


def sms(key: str, to: str = MSISDN, body: str = "Hello from the venue") -> Message:
    return Message(key=key, kind="alert", channel="sms", recipient=to, body=body)


def test_each_channel_delivers_over_its_socket(services):
    deliveries.enqueue(services, sms("a1"))
    deliveries.enqueue(
        services,
        Message(
            key="a2", kind="alert", channel="email", recipient="owner@venue.co.ke", subject="Router down", body="x"
        ),
    )
    deliveries.enqueue(
        services,
        Message(
            key="a3",
            kind="alert",
            channel="webhook",
            subject="Router down",
            body="main does not answer",
            event="router_down",
            severity="critical",
            data={"alert": "router_down:main"},
        ),
    )
    assert deliveries.send_due(services) == 3
    (text,) = services.sms_gateway.messages()
    assert text.number == "+" + MSISDN and text.message == "Hello from the venue"
    (mail,) = services.smtp_server.messages()
    assert mail.rcpt_tos == ("owner@venue.co.ke",) and mail.subject == "Router down"
    assert mail.tls_version and mail.authenticated_as == "wifi@venue.co.ke"
    (hook,) = services.webhook_receiver.received()
    assert hook.signature_valid is True and verify_signature(SECRET, hook.body, hook.signature)
    assert hook.json["event"] == "router_down" and hook.json["severity"] == "critical"
    assert hook.json["data"] == {"alert": "router_down:main"}
    assert {d.status for d in Delivery.select()} == {"sent"}
    assert Delivery.get(Delivery.key == "a1").provider_id.startswith("ATXid_")


def test_a_key_is_queued_once(services):
    assert deliveries.enqueue(services, sms("same")) is True
    assert deliveries.enqueue(services, sms("same", body="different")) is False
    assert Delivery.select().count() == 1


def test_a_gateway_that_is_down_delays_and_the_message_goes_when_it_is_back(services, clock):
    gateway = services.sms_gateway
    gateway.fail_with_status = 503
    deliveries.enqueue(services, sms("r1"))
    assert deliveries.send_due(services) == 0
    row = Delivery.get()
    assert row.status == "queued" and row.attempts == 1 and row.last_error.startswith("http_503")
    assert (row.next_attempt_at - clock.now()).total_seconds() == 30
    clock.advance(29)
    assert deliveries.send_due(services) == 0 and gateway.requests_seen == 1  # not due yet
    clock.advance(1)
    deliveries.send_due(services)
    assert (Delivery.get().next_attempt_at - clock.now()).total_seconds() == 60  # doubled
    gateway.fail_with_status = None
    clock.advance(60)
    assert deliveries.send_due(services) == 1
    assert Delivery.get().status == "sent" and len(gateway.messages()) == 1


def test_backoff_stops_at_the_maximum(services, clock):
    services.sms_gateway.fail_with_status = 500
    deliveries.enqueue(services, sms("m1"))
    delays = []
    for _ in range(6):
        deliveries.send_due(services)
        row = Delivery.get()
        delays.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    assert delays == [30, 60, 120, 240, 300, 300]


def test_a_permanent_refusal_is_given_up_at_once_with_its_reason(services):
    services.sms_gateway.set_number_status(MSISDN, 406)  # UserInBlacklist
    deliveries.enqueue(services, sms("p1"))
    assert deliveries.send_due(services) == 0
    row = Delivery.get()
    assert row.status == "failed" and row.attempts == 1 and "UserInBlacklist" in row.last_error
    deliveries.send_due(services)
    assert services.sms_gateway.requests_seen == 1


def test_a_message_still_failing_after_the_give_up_time_is_given_up(services, clock):
    services.smtp_server.fail_with_code = 451
    deliveries.enqueue(services, Message(key="e1", kind="alert", channel="email", recipient="o@venue.co.ke", body="x"))
    for _ in range(40):
        deliveries.send_due(services)
        row = Delivery.get()
        if row.status != "queued":
            break
        clock.set(row.next_attempt_at)
    assert row.status == "failed" and "smtp_451" in row.last_error
    assert (clock.now() - row.created_at).total_seconds() >= 2 * 3600


def test_after_one_failure_the_channel_is_left_alone_for_this_pass(services):
    services.sms_gateway.fail_with_status = 502
    for n in range(5):
        deliveries.enqueue(services, sms(f"c{n}"))
    deliveries.enqueue(services, Message(key="hook", kind="alert", channel="webhook", body="still goes"))
    deliveries.send_due(services)
    assert services.sms_gateway.requests_seen == 1  # not five timeouts in a row
    assert len(services.webhook_receiver.received()) == 1  # other channels carry on
    assert Delivery.select().where(Delivery.status == "queued").count() == 5


@pytest.mark.parametrize("settings_overrides", [{"alerts": {"enabled": False}}])
def test_a_channel_that_is_not_configured_is_recorded_not_retried(services):
    deliveries.enqueue(services, sms("nc"))
    deliveries.send_due(services)
    row = Delivery.get()
    assert row.status == "failed" and "not configured" in row.last_error


def test_numbers_and_addresses_are_masked_in_the_logs(services, caplog):
    caplog.set_level(logging.DEBUG)
    services.sms_gateway.fail_next = 1
    deliveries.enqueue(services, sms("l1"))
    deliveries.enqueue(
        services, Message(key="l2", kind="alert", channel="email", recipient="owner@venue.co.ke", body="x")
    )
    deliveries.send_due(services)
    deliveries.send_due(services)
    services.clock.advance(60)
    deliveries.send_due(services)
    # Our own log lines (the SMTP simulator's aiosmtpd protocol trace is a test server's).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("portal"))
    assert "2547****5678" in logged and "o***@venue.co.ke" in logged
    assert MSISDN not in logged and "0712345678" not in logged and "owner@venue.co.ke" not in logged
    assert json.loads(Delivery.get(Delivery.key == "l1").data) == {}
