"""Messages the worker sends (alerts, receipts, reminders) and where each owner alert stands."""

from __future__ import annotations

import peewee

from portal.ledger.models.base import BaseModel, UTCDateTimeField
from portal.ledger.models.core import Grant, Payment

DELIVERY_KINDS = ("alert", "resolved", "receipt", "topup")
DELIVERY_STATES = ("queued", "sent", "failed", "cancelled")


class Delivery(BaseModel):
    """One message to send (an alert, a receipt, a reminder): durable, sent and retried by the
    worker. ``key`` is unique, so the same message is never queued twice (schema 5)."""

    key = peewee.CharField(max_length=120, unique=True)
    kind = peewee.CharField(max_length=16)  # see DELIVERY_KINDS
    channel = peewee.CharField(max_length=8)  # sms | email | webhook
    recipient = peewee.CharField(max_length=254, default="")  # phone, address, "" for the webhook
    subject = peewee.CharField(max_length=200, default="")
    body = peewee.TextField(default="")  # receipts and reminders: written when sent
    event = peewee.CharField(max_length=40, default="message")
    severity = peewee.CharField(max_length=12, default="info")
    data = peewee.TextField(default="")  # JSON for webhooks
    language = peewee.CharField(max_length=2, default="en")
    payment = peewee.ForeignKeyField(Payment, null=True, backref="deliveries", on_delete="CASCADE")
    grant = peewee.ForeignKeyField(Grant, null=True, backref="deliveries", on_delete="CASCADE")
    status = peewee.CharField(max_length=10, default="queued")  # see DELIVERY_STATES
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField()
    last_error = peewee.CharField(max_length=300, default="")
    provider_id = peewee.CharField(max_length=120, null=True)
    created_at = UTCDateTimeField()
    sent_at = UTCDateTimeField(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)


class AlertState(BaseModel):
    """Where one alert stands (``ok``, ``pending`` until its duration is met, ``firing``), so it
    fires once, repeats at most every ``repeat_hours`` and resolves once (schema 5)."""

    key = peewee.CharField(max_length=80, unique=True)  # "payment_success_low", "router_down:main"
    status = peewee.CharField(max_length=10, default="ok")
    severity = peewee.CharField(max_length=12, default="warning")
    summary = peewee.CharField(max_length=300, default="")
    since = UTCDateTimeField(null=True)  # the condition was first seen
    fired_at = UTCDateTimeField(null=True)
    last_sent_at = UTCDateTimeField(null=True)
    resolved_at = UTCDateTimeField(null=True)
    times_sent = peewee.IntegerField(default=0)
    updated_at = UTCDateTimeField()
