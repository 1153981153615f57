"""Outbound messages: SMS (Africa's Talking), email (SMTP) and a JSON webhook.

Each channel takes an :class:`Outgoing` and returns a :class:`Delivery` or raises
:class:`DeliveryFailed` (``retryable`` says whether a later try may succeed); nothing from
``requests``, ``smtplib``, ``ssl`` or ``socket`` escapes. Each has a local simulator that is a
real server, for tests and the demo, as the Daraja simulator is for M-Pesa:

- :mod:`portal.notify.sms` / :mod:`portal.notify.sms_simulator` (HTTP, with an outbox page)
- :mod:`portal.notify.email` / :mod:`portal.notify.smtp_simulator` (SMTP, STARTTLS, AUTH)
- :mod:`portal.notify.webhook` / :mod:`portal.notify.webhook_simulator` (HTTP, signatures)

The simulators are not imported here: import them from their modules (the SMTP one needs
``aiosmtpd``, and ``cryptography`` for TLS). Queueing, retries and alert rules live above this
layer.
"""

from __future__ import annotations

from portal.notify.addresses import InvalidRecipient, mask_email, mask_phone, to_msisdn
from portal.notify.channel import (
    Channel,
    ChannelName,
    Delivery,
    DeliveryFailed,
    Outgoing,
)
from portal.notify.email import SmtpEmail
from portal.notify.sms import LIVE_BASE_URL, SANDBOX_BASE_URL, AfricasTalkingSms
from portal.notify.webhook import JsonWebhook, sign, verify_signature

__all__ = [
    "LIVE_BASE_URL",
    "SANDBOX_BASE_URL",
    "AfricasTalkingSms",
    "Channel",
    "ChannelName",
    "Delivery",
    "DeliveryFailed",
    "InvalidRecipient",
    "JsonWebhook",
    "Outgoing",
    "SmtpEmail",
    "mask_email",
    "mask_phone",
    "sign",
    "to_msisdn",
    "verify_signature",
]
