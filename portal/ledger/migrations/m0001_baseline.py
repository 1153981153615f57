"""Version 1: the ledger as the first release created it (packages, payments and their
timelines, grants, the router outbox, unmatched callbacks, admins, the audit log).

The tables are described here as they were then, not imported from ``models.py``: later
migrations change the models, and replaying version 1 must always build version 1.
"""

from __future__ import annotations

import peewee

from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "baseline"


class _Frozen(peewee.Model):
    class Meta:
        legacy_table_names = False


class Package(_Frozen):
    name = peewee.CharField(max_length=60)
    name_sw = peewee.CharField(max_length=60, default="")
    price = peewee.IntegerField()  # whole KES
    duration_seconds = peewee.IntegerField()
    data_cap_bytes = peewee.BigIntegerField(null=True)
    rate_limit = peewee.CharField(max_length=40, null=True)  # "rx/tx" e.g. "2M/2M"
    devices = peewee.IntegerField(default=1)
    active = peewee.BooleanField(default=True)
    sort_order = peewee.IntegerField(default=0)
    created_at = _UTC()


class Payment(_Frozen):
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
    next_query_at = _UTC(null=True, index=True)
    created_at = _UTC(index=True)
    updated_at = _UTC()
    paid_at = _UTC(null=True)


class PaymentEvent(_Frozen):
    payment = peewee.ForeignKeyField(Payment, backref="events", on_delete="CASCADE")
    at = _UTC()
    kind = peewee.CharField(max_length=32)
    detail = peewee.TextField(default="")


class Grant(_Frozen):
    payment = peewee.ForeignKeyField(Payment, backref="grants", unique=True, on_delete="RESTRICT")
    package = peewee.ForeignKeyField(Package, backref="grants", on_delete="RESTRICT")
    router = peewee.CharField(max_length=32, index=True)
    mac = peewee.CharField(max_length=17, index=True)
    ip = peewee.CharField(max_length=45)
    starts_at = _UTC()
    expires_at = _UTC(index=True)
    status = peewee.CharField(max_length=12, default="active", index=True)  # active|expired|revoked
    router_state = peewee.CharField(max_length=12, default="pending")  # pending|online|failed|removed
    moves = peewee.IntegerField(default=0)
    ended_at = _UTC(null=True)


class OutboxItem(_Frozen):
    grant = peewee.ForeignKeyField(Grant, backref="outbox", on_delete="CASCADE")
    action = peewee.CharField(max_length=12)  # authorize | revoke
    router = peewee.CharField(max_length=32)
    mac = peewee.CharField(max_length=17)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = _UTC(index=True)
    last_error = peewee.CharField(max_length=300, default="")
    created_at = _UTC()
    done_at = _UTC(null=True, index=True)


class UnmatchedCallback(_Frozen):
    received_at = _UTC(index=True)
    source_ip = peewee.CharField(max_length=45, default="")
    reason = peewee.CharField(max_length=200)
    checkout_request_id = peewee.CharField(max_length=80, null=True)
    body = peewee.TextField(default="")


class AdminUser(_Frozen):
    username = peewee.CharField(max_length=40, unique=True)
    password_hash = peewee.CharField(max_length=200)
    created_at = _UTC()
    last_login_at = _UTC(null=True)


class AuditLog(_Frozen):
    at = _UTC(index=True)
    actor = peewee.CharField(max_length=40)
    action = peewee.CharField(max_length=60)
    detail = peewee.TextField(default="")


TABLES: list[type[peewee.Model]] = [
    Package,
    Payment,
    PaymentEvent,
    Grant,
    OutboxItem,
    UnmatchedCallback,
    AdminUser,
    AuditLog,
]


def apply(db: peewee.Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES, safe=True)
