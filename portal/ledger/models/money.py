"""The owner's money operations: the payments switch, imported M-Pesa statements and their
lines, and bulk re-check runs."""

from __future__ import annotations

import peewee

from portal.ledger.models.base import BaseModel, UTCDateTimeField
from portal.ledger.models.core import Payment


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
