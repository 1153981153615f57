"""Version 2: admin roles, and payments that did not come through M-Pesa.

``admin_user.role``: ``owner`` (everything) or ``cashier`` (sessions and payments only).
Admins that existed before roles were owners, so they stay owners.

``payment.method``: ``mpesa`` (an STK push; every payment before this version), or another
way a grant was paid for (``voucher``, ``complimentary``, ``statement``), so reports can
tell M-Pesa money from the rest and such grants still have a timeline.
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from portal.ledger.migrations.columns import add_not_null_column

NAME = "roles and payment methods"


def apply(db: peewee.Database) -> None:
    # Not migrator.add_column: on SQLite it rebuilds the table, which fails once grants
    # reference the payments (see columns.py).
    add_not_null_column(db, "admin_user", "role", "VARCHAR(12)", "'owner'")
    add_not_null_column(db, "payment", "method", "VARCHAR(16)", "'mpesa'")
    migrate(SchemaMigrator.from_database(db).add_index("payment", ("method",), False))
