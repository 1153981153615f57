"""Who signs in to the admin: users and their roles, signed-in browsers, recovery codes,
failed sign-ins (what the delays count), and the audit log of what they did."""

from __future__ import annotations

import peewee

from portal.ledger.models.base import BaseModel, UTCDateTimeField

ROLES = ("owner", "cashier", "agent")


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
