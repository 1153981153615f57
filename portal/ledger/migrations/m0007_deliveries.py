"""Version 7: the delivery queue (alerts, receipts, reminders), alert state, and the customer's
consent to an SMS receipt.

``delivery``: one row per message to send; the worker sends due rows and retries them with
backoff, so a gateway that is down delays a message and never blocks a payment. ``key`` is
unique: at most one receipt per payment, one reminder per session, one row per alert message.
``alert_state``: one row per alert (``router_down:main``), so an alert fires once, repeats at
most every few hours, and says "resolved" once. ``payment.receipt_consent``: the box the
customer ticked on the splash page. The tables are described as they are at version 5.
"""

from __future__ import annotations

import peewee

from portal.ledger.migrations.columns import add_not_null_column
from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "deliveries and alerts"


class _Frozen(peewee.Model):
    class Meta:
        legacy_table_names = False


class Payment(_Frozen):  # existing tables, named only so the foreign keys point at them
    pass


class Grant(_Frozen):
    pass


class Delivery(_Frozen):
    key = peewee.CharField(max_length=120, unique=True)
    kind = peewee.CharField(max_length=16)
    channel = peewee.CharField(max_length=8)
    recipient = peewee.CharField(max_length=254, default="")
    subject = peewee.CharField(max_length=200, default="")
    body = peewee.TextField(default="")
    event = peewee.CharField(max_length=40, default="message")
    severity = peewee.CharField(max_length=12, default="info")
    data = peewee.TextField(default="")
    language = peewee.CharField(max_length=2, default="en")
    payment = peewee.ForeignKeyField(Payment, null=True, on_delete="CASCADE")
    grant = peewee.ForeignKeyField(Grant, null=True, on_delete="CASCADE")
    status = peewee.CharField(max_length=10, default="queued")
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = _UTC()
    last_error = peewee.CharField(max_length=300, default="")
    provider_id = peewee.CharField(max_length=120, null=True)
    created_at = _UTC()
    sent_at = _UTC(null=True)

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)


class AlertState(_Frozen):
    key = peewee.CharField(max_length=80, unique=True)
    status = peewee.CharField(max_length=10, default="ok")
    severity = peewee.CharField(max_length=12, default="warning")
    summary = peewee.CharField(max_length=300, default="")
    since = _UTC(null=True)
    fired_at = _UTC(null=True)
    last_sent_at = _UTC(null=True)
    resolved_at = _UTC(null=True)
    times_sent = peewee.IntegerField(default=0)
    updated_at = _UTC()


TABLES: list[type[peewee.Model]] = [Delivery, AlertState]


def apply(db: peewee.Database) -> None:
    with db.bind_ctx([Payment, Grant, *TABLES]):
        db.create_tables(TABLES)
    # One plain statement: a table rebuild of payment would break its grants' foreign keys.
    add_not_null_column(db, "payment", "receipt_consent", "BOOLEAN", "FALSE")
