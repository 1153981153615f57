"""Version 6: vouchers (batches of printed codes, stored only as keyed hashes), the devices
each voucher was redeemed on, and agents who resell vouchers from a float.

A redeemed voucher is paid for by a ``payment`` row of method ``voucher`` (version 2), so
its grant, router calls, expiry and timeline are those of any purchase. The tables are
described here as they are at version 6, not imported from ``models.py``.
"""

from __future__ import annotations

import peewee

from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "vouchers"


class _Frozen(peewee.Model):
    class Meta:
        legacy_table_names = False


class Package(_Frozen):  # existing tables, named only so the foreign keys point at them
    pass


class Payment(_Frozen):
    pass


class AdminUser(_Frozen):
    pass


class VoucherAgent(_Frozen):
    admin = peewee.ForeignKeyField(AdminUser, unique=True, on_delete="RESTRICT")
    name = peewee.CharField(max_length=60)
    commission_bp = peewee.IntegerField(default=0)
    active = peewee.BooleanField(default=True)
    created_at = _UTC()


class VoucherBatch(_Frozen):
    package = peewee.ForeignKeyField(Package, on_delete="RESTRICT")
    count = peewee.IntegerField()
    price = peewee.IntegerField()
    label = peewee.CharField(max_length=60, default="")
    use_by = _UTC(null=True)
    agent = peewee.ForeignKeyField(VoucherAgent, null=True, on_delete="RESTRICT")
    key_id = peewee.CharField(max_length=16)
    request_id = peewee.CharField(max_length=40, null=True, unique=True)
    created_at = _UTC(index=True)
    created_by = peewee.CharField(max_length=40)
    revoked_at = _UTC(null=True)
    revoked_by = peewee.CharField(max_length=40, default="")


class Voucher(_Frozen):
    batch = peewee.ForeignKeyField(VoucherBatch, on_delete="RESTRICT")
    code_hash = peewee.CharField(max_length=64, unique=True)
    first_used_at = _UTC(null=True)
    ends_at = _UTC(null=True, index=True)


class VoucherUse(_Frozen):
    voucher = peewee.ForeignKeyField(Voucher, on_delete="RESTRICT")
    payment = peewee.ForeignKeyField(Payment, unique=True, on_delete="RESTRICT")
    router = peewee.CharField(max_length=32)
    mac = peewee.CharField(max_length=17)
    at = _UTC()

    class Meta:
        indexes = ((("voucher", "router", "mac"), True),)


class AgentFloatEntry(_Frozen):
    agent = peewee.ForeignKeyField(VoucherAgent, on_delete="RESTRICT")
    at = _UTC(index=True)
    amount = peewee.IntegerField()
    kind = peewee.CharField(max_length=12)
    batch = peewee.ForeignKeyField(VoucherBatch, null=True, on_delete="RESTRICT")
    actor = peewee.CharField(max_length=40)
    note = peewee.CharField(max_length=200, default="")


TABLES: list[type[peewee.Model]] = [VoucherAgent, VoucherBatch, Voucher, VoucherUse, AgentFloatEntry]


def apply(db: peewee.Database) -> None:
    with db.bind_ctx([Package, Payment, AdminUser, *TABLES]):
        db.create_tables(TABLES, safe=True)
