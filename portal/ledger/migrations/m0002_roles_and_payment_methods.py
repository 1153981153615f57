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

NAME = "roles and payment methods"


def apply(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("admin_user", "role", peewee.CharField(max_length=12, default="owner")),
        migrator.add_column("payment", "method", peewee.CharField(max_length=16, default="mpesa")),
        migrator.add_index("payment", ("method",), False),
    )
