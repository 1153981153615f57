"""Version 4: running the money side day to day.

- ``operator_switch``: switches the owner flips, the ledger being their truth (today one:
  ``payments_paused``, which stops every STK push and survives restarts and a lost Redis).
- ``statement_import`` / ``statement_line``: M-Pesa statements the owner imported, one row
  per receipt (so importing the same file again adds nothing), and how each line that
  the ledger did not know was resolved (time granted, or a refund made outside).
- ``recheck_run``: "re-check every pending payment older than N minutes" and its progress.

The tables are described here as they were created, not imported from ``models.py``.
"""

from __future__ import annotations

import peewee

from portal.ledger.migrations.m0001_baseline import Payment
from portal.ledger.models import UTCDateTimeField as _UTC

NAME = "pause switch, statements and re-checks"


class _Frozen(peewee.Model):
    class Meta:
        legacy_table_names = False


class OperatorSwitch(_Frozen):
    name = peewee.CharField(max_length=40, unique=True)
    on = peewee.BooleanField(default=False)
    reason = peewee.CharField(max_length=200, default="")
    changed_by = peewee.CharField(max_length=40, default="")
    changed_at = _UTC()


class StatementImport(_Frozen):
    imported_at = _UTC(index=True)
    actor = peewee.CharField(max_length=40)
    filename = peewee.CharField(max_length=200, default="")
    sha256 = peewee.CharField(max_length=64, unique=True)
    rows_read = peewee.IntegerField(default=0)
    lines_added = peewee.IntegerField(default=0)
    lines_known = peewee.IntegerField(default=0)
    lines_conflicting = peewee.IntegerField(default=0)
    rows_skipped = peewee.IntegerField(default=0)
    rows_ignored = peewee.IntegerField(default=0)
    problems = peewee.TextField(default="")
    period_from = _UTC(null=True)
    period_to = _UTC(null=True)


class StatementLine(_Frozen):
    receipt = peewee.CharField(max_length=20, unique=True)
    statement_import = peewee.ForeignKeyField(StatementImport, backref="lines", on_delete="CASCADE")
    completed_at = _UTC(index=True)
    initiated_at = _UTC(null=True)
    details = peewee.CharField(max_length=200, default="")
    status = peewee.CharField(max_length=30, default="")
    paid_in_cents = peewee.BigIntegerField(default=0)
    withdrawn_cents = peewee.BigIntegerField(default=0)
    reason_type = peewee.CharField(max_length=80, default="")
    party = peewee.CharField(max_length=120, default="")
    account_ref = peewee.CharField(max_length=60, default="")
    resolution = peewee.CharField(max_length=16, default="", index=True)
    resolution_note = peewee.CharField(max_length=200, default="")
    resolved_by = peewee.CharField(max_length=40, default="")
    resolved_at = _UTC(null=True)
    resolved_payment = peewee.ForeignKeyField(Payment, null=True, on_delete="SET NULL")


class RecheckRun(_Frozen):
    started_at = _UTC()
    updated_at = _UTC()
    finished_at = _UTC(null=True)
    actor = peewee.CharField(max_length=40)
    older_than_seconds = peewee.IntegerField()
    payment_ids = peewee.TextField(default="[]")
    total = peewee.IntegerField(default=0)
    checked = peewee.IntegerField(default=0)
    paid = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    still_pending = peewee.IntegerField(default=0)
    errors = peewee.IntegerField(default=0)


TABLES: list[type[peewee.Model]] = [OperatorSwitch, StatementImport, StatementLine, RecheckRun]


def apply(db: peewee.Database) -> None:
    with db.bind_ctx([*TABLES, Payment]):
        db.create_tables(TABLES, safe=True)
