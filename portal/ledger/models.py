"""The durable ledger: packages, payments and their timelines, grants, outbox, admins, audit.

The database is the truth. Redis only mirrors live grants for speed and is rebuilt from
here after a loss.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee

from portal.ledger.database import database

PAYMENT_STATES = ("created", "pending", "paid", "failed", "cancelled", "timeout")
FINAL_FAILURES = ("failed", "cancelled", "timeout")


class UTCDateTimeField(peewee.DateTimeField):
    """Stores naive UTC, hands back aware UTC datetimes."""

    def db_value(self, value: datetime | None) -> Any:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> datetime | None:
        if isinstance(value, str):  # SQLite's text: fromisoformat is many times faster than strptime
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = super().python_value(value)
        else:
            value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


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


ROLES = ("owner", "cashier", "agent")
PAYMENT_METHODS = ("mpesa", "voucher", "complimentary", "statement")


class AdminUser(BaseModel):
    """Someone who signs in to /admin: an ``owner`` (everything), a ``cashier``, or an ``agent``
    (a voucher reseller: only their own voucher page; see :class:`VoucherAgent`)."""

    username = peewee.CharField(max_length=40, unique=True)
    password_hash = peewee.CharField(max_length=200)
    created_at = UTCDateTimeField()
    last_login_at = UTCDateTimeField(null=True)
    role = peewee.CharField(max_length=12, default="owner")
    #: Base32 TOTP secret once the admin turned on an authenticator app; None when off.
    totp_secret = peewee.CharField(max_length=64, null=True)
    #: The newest TOTP time step accepted, so a code is never accepted twice.
    totp_last_step = peewee.BigIntegerField(default=0)


class AdminSession(BaseModel):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is stored,
    so deleting the row ends that browser's session on the server (sign-out, removal)."""

    token_hash = peewee.CharField(max_length=64, unique=True)
    user = peewee.ForeignKeyField(AdminUser, backref="sessions", on_delete="CASCADE")
    created_at = UTCDateTimeField()
    last_seen_at = UTCDateTimeField()
    address = peewee.CharField(max_length=45, default="")
    agent = peewee.CharField(max_length=200, default="")


class AdminRecoveryCode(BaseModel):
    """A one-time code that stands in for the authenticator app (stored as SHA-256)."""

    user = peewee.ForeignKeyField(AdminUser, backref="recovery_codes", on_delete="CASCADE")
    code_hash = peewee.CharField(max_length=64, index=True)
    used_at = UTCDateTimeField(null=True)


class SignInFailure(BaseModel):
    """A wrong password or code: what the sign-in delays are counted from (see domain.signin)."""

    at = UTCDateTimeField(index=True)
    address = peewee.CharField(max_length=45)
    username = peewee.CharField(max_length=40)
    device = peewee.CharField(max_length=40, null=True)  # the trusted-browser token's id, if any

    class Meta:
        indexes = ((("address", "at"), False), (("username", "at"), False), (("device", "at"), False))


class AuditLog(BaseModel):
    at = UTCDateTimeField(index=True)
    actor = peewee.CharField(max_length=40)
    action = peewee.CharField(max_length=60)
    detail = peewee.TextField(default="")


class OperatorSwitch(BaseModel):
    """A switch the owner flips (``payments_paused``); the ledger is its only truth."""

    name = peewee.CharField(max_length=40, unique=True)
    on = peewee.BooleanField(default=False)
    reason = peewee.CharField(max_length=200, default="")
    changed_by = peewee.CharField(max_length=40, default="")
    changed_at = UTCDateTimeField()


class StatementImport(BaseModel):
    """One M-Pesa statement file the owner imported (a file is imported once: ``sha256``)."""

    imported_at = UTCDateTimeField(index=True)
    actor = peewee.CharField(max_length=40)
    filename = peewee.CharField(max_length=200, default="")
    sha256 = peewee.CharField(max_length=64, unique=True)
    rows_read = peewee.IntegerField(default=0)
    lines_added = peewee.IntegerField(default=0)
    lines_known = peewee.IntegerField(default=0)  # receipts an earlier import already had
    lines_conflicting = peewee.IntegerField(default=0)  # known receipt, different content
    rows_ignored = peewee.IntegerField(default=0)  # money out, or not completed
    rows_skipped = peewee.IntegerField(default=0)  # rows that could not be read
    problems = peewee.TextField(default="")  # JSON list of "line N: ..." texts
    period_from = UTCDateTimeField(null=True)
    period_to = UTCDateTimeField(null=True)


STATEMENT_RESOLUTIONS = ("", "granted", "refunded")


class StatementLine(BaseModel):
    """One transaction of an M-Pesa statement, keyed by its receipt (unique)."""

    receipt = peewee.CharField(max_length=20, unique=True)
    statement_import = peewee.ForeignKeyField(StatementImport, backref="lines", on_delete="CASCADE")
    completed_at = UTCDateTimeField(index=True)
    initiated_at = UTCDateTimeField(null=True)
    details = peewee.CharField(max_length=200, default="")
    status = peewee.CharField(max_length=30, default="")
    paid_in_cents = peewee.BigIntegerField(default=0)
    withdrawn_cents = peewee.BigIntegerField(default=0)
    reason_type = peewee.CharField(max_length=80, default="")
    party = peewee.CharField(max_length=120, default="")  # "2547******678 - JANE DOE" as printed
    account_ref = peewee.CharField(max_length=60, default="")
    resolution = peewee.CharField(max_length=16, default="", index=True)  # see STATEMENT_RESOLUTIONS
    resolution_note = peewee.CharField(max_length=200, default="")
    resolved_by = peewee.CharField(max_length=40, default="")
    resolved_at = UTCDateTimeField(null=True)
    resolved_payment = peewee.ForeignKeyField(Payment, null=True, on_delete="SET NULL")


class RecheckRun(BaseModel):
    """ "Re-check every pending payment older than N minutes": what it covers and how far it got."""

    started_at = UTCDateTimeField()
    updated_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True)
    actor = peewee.CharField(max_length=40)
    older_than_seconds = peewee.IntegerField()
    payment_ids = peewee.TextField(default="[]")  # JSON list, fixed when the run starts
    total = peewee.IntegerField(default=0)
    checked = peewee.IntegerField(default=0)
    paid = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    still_pending = peewee.IntegerField(default=0)
    errors = peewee.IntegerField(default=0)


class VoucherAgent(BaseModel):
    """A reseller who issues vouchers from a float the owner tops up, for a commission."""

    admin = peewee.ForeignKeyField(AdminUser, backref="agent", unique=True, on_delete="RESTRICT")
    name = peewee.CharField(max_length=60)
    commission_bp = peewee.IntegerField(default=0)  # basis points: 1000 = 10 % of what they sell
    active = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField()


class VoucherBatch(BaseModel):
    """N codes for one package, made at once. The codes themselves are never stored."""

    package = peewee.ForeignKeyField(Package, backref="voucher_batches", on_delete="RESTRICT")
    count = peewee.IntegerField()
    price = peewee.IntegerField()  # face value of one voucher (the package price when made), whole KES
    label = peewee.CharField(max_length=60, default="")
    use_by = UTCDateTimeField(null=True)  # last moment a voucher may be used for the first time
    agent = peewee.ForeignKeyField(VoucherAgent, backref="batches", null=True, on_delete="RESTRICT")
    key_id = peewee.CharField(max_length=16)  # which secret hashed the codes (key rotation)
    request_id = peewee.CharField(max_length=40, null=True, unique=True)  # a resubmitted form makes no 2nd batch
    created_at = UTCDateTimeField(index=True)
    created_by = peewee.CharField(max_length=40)
    revoked_at = UTCDateTimeField(null=True)
    revoked_by = peewee.CharField(max_length=40, default="")


class Voucher(BaseModel):
    """One code, as its keyed hash (HMAC-SHA256); its clock starts at first use."""

    batch = peewee.ForeignKeyField(VoucherBatch, backref="vouchers", on_delete="RESTRICT")
    code_hash = peewee.CharField(max_length=64, unique=True)
    first_used_at = UTCDateTimeField(null=True)
    ends_at = UTCDateTimeField(null=True, index=True)  # when its time runs out (set at first use)


class VoucherUse(BaseModel):
    """A device a voucher was redeemed on, and the voucher payment that gave it its grant."""

    voucher = peewee.ForeignKeyField(Voucher, backref="uses", on_delete="RESTRICT")
    payment = peewee.ForeignKeyField(Payment, backref="voucher_use", unique=True, on_delete="RESTRICT")
    router = peewee.CharField(max_length=32)
    mac = peewee.CharField(max_length=17)
    at = UTCDateTimeField()

    class Meta:
        indexes = ((("voucher", "router", "mac"), True),)


class AgentFloatEntry(BaseModel):
    """The agent's float as a ledger: top-ups (+), vouchers issued (-), refunds on revoke (+)."""

    agent = peewee.ForeignKeyField(VoucherAgent, backref="float_entries", on_delete="RESTRICT")
    at = UTCDateTimeField(index=True)
    amount = peewee.IntegerField()  # signed whole KES
    kind = peewee.CharField(max_length=12)  # top_up | issue | refund | adjust
    batch = peewee.ForeignKeyField(VoucherBatch, null=True, on_delete="RESTRICT")
    actor = peewee.CharField(max_length=40)
    note = peewee.CharField(max_length=200, default="")


VOUCHER_MODELS: list[type[BaseModel]] = [VoucherAgent, VoucherBatch, Voucher, VoucherUse, AgentFloatEntry]

MODELS: list[type[BaseModel]] = [
    Package,
    Payment,
    PaymentEvent,
    Grant,
    OutboxItem,
    RouterLink,
    UnmatchedCallback,
    AdminUser,
    AuditLog,
    OperatorSwitch,
    StatementImport,
    StatementLine,
    RecheckRun,
    *VOUCHER_MODELS,
    AdminSession,
    AdminRecoveryCode,
    SignInFailure,
    Delivery,
    AlertState,
]


def create_tables() -> None:
    """Bring the ledger to this release's schema (new or old ledger alike); safe to repeat."""
    from portal.ledger import migrations

    migrations.upgrade(database.obj)
