"""Fixtures for the outbound channels: a manual clock, the three simulators on loopback
sockets, and two broken "servers" (a port nobody listens on, a listener that never answers)
for connection and timeout failures."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.clock import ManualClock
from portal.notify import Channel, DeliveryFailed, Outgoing
from portal.notify.sms_simulator import SmsGatewaySimulator
from portal.notify.smtp_simulator import SmtpSimulator
from portal.notify.webhook_simulator import WebhookReceiver

PHONE = "254712345678"
SMTP_USER = "alerts@venue.co.ke"
SMTP_PASSWORD = "correct horse battery staple"
WEBHOOK_SECRET = "s3cret-for-the-owner-endpoint"


def failure(channel: Channel, message: Outgoing) -> DeliveryFailed:
    """The DeliveryFailed that sending ``message`` on ``channel`` raises (the test fails if none)."""
    with pytest.raises(DeliveryFailed) as info:
        channel.send(message)
    return info.value


@pytest.fixture
def sms_gateway(clock: ManualClock) -> Iterator[SmsGatewaySimulator]:
    with SmsGatewaySimulator(clock=clock, seed=14, api_key="test-at-key") as simulator:
        yield simulator


@pytest.fixture
def smtp_tls(clock: ManualClock) -> Iterator[SmtpSimulator]:
    """A port-587 style relay: STARTTLS required, then AUTH required."""
    with SmtpSimulator(clock=clock, tls="starttls", username=SMTP_USER, password=SMTP_PASSWORD) as simulator:
        yield simulator


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(clock=clock, secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (kernel backlog) and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


@pytest.fixture
def message() -> Callable[..., Outgoing]:
    """``message(channel, **overrides)``: a valid Outgoing for that channel."""

    def build(channel: str = "sms", **overrides: Any) -> Outgoing:
        to = {"sms": PHONE, "email": "owner@venue.co.ke"}.get(channel, "")
        values: dict[str, Any] = {
            "channel": channel,
            "to": to,
            "subject": "Payment received",
            "body": "KSh 50 received, 1 hour package. Receipt SC12AB34CD.",
            "reference": "receipt-42",
        }
        values.update(overrides)
        return Outgoing(**values)

    return build
