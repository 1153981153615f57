"""The money path: packages, payments and their timelines, grants, the router outbox, what the
worker last saw of each router, and callbacks that matched nothing."""

from __future__ import annotations

import json
from typing import Any

import peewee

from portal.ledger.models.base import BaseModel, UTCDateTimeField

PAYMENT_STATES = ("created", "pending", "paid", "failed", "cancelled", "timeout")
FINAL_FAILURES = ("failed", "cancelled", "timeout")
PAYMENT_METHODS = ("mpesa", "voucher", "complimentary", "statement")


class Package(BaseModel):
    """Something a customer can buy: time (wall clock from payment), optional cap and speed."""

    name = peewee.CharField(max_length=60)
    name_sw = peewee.CharField(max_length=60, default="")
    price = peewee.IntegerField()  # whole KES
    duration_seconds = peewee.IntegerField()
    data_cap_bytes = peewee.BigIntegerField(null=True)
    rate_limit = peewee.CharField(max_length=40, null=True)  # "rx/tx" e.g. "2M/2M"
    devices = peewee.IntegerField(default=1)
    active = peewee.BooleanField(default=True)
    sort_order = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField()

    def label(self, language: str = "en") -> str:
        return (self.name_sw or self.name) if language == "sw" else self.name

    @property
    def profile_name(self) -> str:
        """Hotspot user profile name on the router for this package."""
        return f"p2c-pkg{self.id}"


class Payment(BaseModel):
    """One STK push request and everything that happened to it."""

    public_id = peewee.CharField(max_length=40, unique=True)  # unguessable, used in URLs
    package = peewee.ForeignKeyField(Package, backref="payments", on_delete="RESTRICT")
    router = peewee.CharField(max_length=32)
    mac = peewee.CharField(max_length=17, index=True)
    ip = peewee.CharField(max_length=45)
    phone = peewee.CharField(max_length=12, index=True)
    amount = peewee.IntegerField()
    status = peewee.CharField(max_length=12, default="created", index=True)
    checkout_request_id = peewee.CharField(max_length=80, null=True, unique=True)
    merchant_request_id = peewee.CharField(max_length=80, null=True)
    receipt = peewee.CharField(max_length=20, null=True, unique=True)
    result_code = peewee.CharField(max_length=20, null=True)
    result_desc = peewee.CharField(max_length=200, null=True)
    message_key = peewee.CharField(max_length=40, null=True)
    language = peewee.CharField(max_length=2, default="en")
    link_orig = peewee.CharField(max_length=500, default="")
    link_login_only = peewee.CharField(max_length=500, default="")
    idempotency_key = peewee.CharField(max_length=64, null=True, unique=True)
    query_attempts = peewee.IntegerField(default=0)
    next_query_at = UTCDateTimeField(null=True, index=True)
    created_at = UTCDateTimeField(index=True)
    updated_at = UTCDateTimeField()
    paid_at = UTCDateTimeField(null=True)
    method = peewee.CharField(max_length=16, default="mpesa", index=True)  # see PAYMENT_METHODS
    receipt_consent = peewee.BooleanField(default=False)  # ticked "send me an SMS receipt" (schema 5)
    source = peewee.CharField(max_length=45, default="")  # address the pay request came from

    class Meta:
        # Push limits count recent pushes per phone, device and address (portal.domain.limits).
        indexes = (
            (("phone", "method", "created_at"), False),
            (("mac", "method", "created_at"), False),
            (("source", "method", "created_at"), False),
            (("method", "created_at"), False),
        )


class PaymentEvent(BaseModel):
    """The payment's timeline: push, callback, query, grant, router call, expiry..."""

    payment = peewee.ForeignKeyField(Payment, backref="events", on_delete="CASCADE")
    at = UTCDateTimeField()
    kind = peewee.CharField(max_length=32)
    detail = peewee.TextField(default="")

    @property
    def detail_data(self) -> dict[str, Any]:
        try:
            data = json.loads(self.detail or "{}")
        except ValueError:
            return {"text": self.detail}
        return data if isinstance(data, dict) else {"value": data}


class Grant(BaseModel):
    """Paid access for one device until ``expires_at`` (wall clock). One per paying purchase.

    The grant's clock runs from the router's confirmation (``online_at``): until then
    ``starts_at``/``expires_at`` say when it would run if the device came online now. While
    ``offline_since`` is set a router fault keeps the device off and the clock is stopped;
    the time is credited back (``credited_seconds``). Always
    ``expires_at == starts_at + granted_seconds + credited_seconds``.
    """

    payment = peewee.ForeignKeyField(Payment, backref="grants", unique=True, on_delete="RESTRICT")
    package = peewee.ForeignKeyField(Package, backref="grants", on_delete="RESTRICT")
    router = peewee.CharField(max_length=32, index=True)
    mac = peewee.CharField(max_length=17, index=True)
    ip = peewee.CharField(max_length=45)
    starts_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)
    status = peewee.CharField(max_length=12, default="active", index=True)  # active|expired|revoked
    router_state = peewee.CharField(max_length=12, default="pending")  # pending | online | removed
    moves = peewee.IntegerField(default=0)
    ended_at = UTCDateTimeField(null=True)
    online_at = UTCDateTimeField(null=True)  # router first confirmed the device online
    granted_seconds = peewee.IntegerField(default=0)  # package time plus admin extensions
    credited_seconds = peewee.IntegerField(default=0)  # given back for router faults
    offline_since = UTCDateTimeField(null=True)  # a router fault keeps the device off since

    class Meta:
        indexes = ((("status", "expires_at"), False), (("router", "mac", "status"), False))

    @property
    def running(self) -> bool:
        """True when the grant's clock runs (confirmed online, no router fault pending)."""
        return self.online_at is not None and self.offline_since is None


class OutboxItem(BaseModel):
    """A router operation that must happen; retried with backoff until it does."""

    grant = peewee.ForeignKeyField(Grant, backref="outbox", on_delete="CASCADE")
    action = peewee.CharField(max_length=12)  # authorize | revoke
    router = peewee.CharField(max_length=32)
    mac = peewee.CharField(max_length=17)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(index=True)
    last_error = peewee.CharField(max_length=300, default="")
    created_at = UTCDateTimeField()
    done_at = UTCDateTimeField(null=True, index=True)


class RouterLink(BaseModel):
    """What the worker last saw of one router: tells a reboot or an outage from a device leaving."""

    router = peewee.CharField(max_length=32, primary_key=True)
    last_ok_at = UTCDateTimeField(null=True)  # the router last answered
    boot_at = UTCDateTimeField(null=True)  # when it booted (now - its uptime), as last seen
    down_since = UTCDateTimeField(null=True)  # unreachable since (NULL: answering)
    recovered_at = UTCDateTimeField(null=True)  # back after a fault at (restores run since)


class UnmatchedCallback(BaseModel):
    """A callback that matched no pending push (forged, replayed, late, malformed)."""

    received_at = UTCDateTimeField(index=True)
    source_ip = peewee.CharField(max_length=45, default="")
    reason = peewee.CharField(max_length=200)
    checkout_request_id = peewee.CharField(max_length=80, null=True)
    body = peewee.TextField(default="")
