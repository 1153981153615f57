"""Vouchers: agents and their float, batches of codes (stored only as keyed hashes), and where
each code was used."""

from __future__ import annotations

import peewee

from portal.ledger.models.accounts import AdminUser
from portal.ledger.models.base import BaseModel, UTCDateTimeField
from portal.ledger.models.core import Package, Payment


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
