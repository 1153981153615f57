"""Push limits read from the ledger: where each push was asked from, and indexes to count fast.

``payment.source``: the address the pay request came from (after trusted proxies), so the
fair share per address (``limits.source_pushes_per_minute``) is counted from the ledger
like the per-phone and per-device caps; "" for rows from before this version and for
payments that were not pushes.

Indexes (phone | mac | source, method, created_at) and (method, created_at): the
cool-downs, daily caps and the minute's budgets are counted from the M-Pesa payment rows
on every push, so they hold when Redis is restarted or flushed. Each count must be one
index range (an index on ``method`` alone made SQLite read every M-Pesa payment to count
the last minute's); bench/push_limits.py measures the cost.
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from portal.ledger.migrations.columns import add_not_null_column

NAME = "push limits from the ledger"


def apply(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    add_not_null_column(db, "payment", "source", "VARCHAR(45)", "''")
    migrate(
        migrator.add_index("payment", ("phone", "method", "created_at"), False),
        migrator.add_index("payment", ("mac", "method", "created_at"), False),
        migrator.add_index("payment", ("source", "method", "created_at"), False),
        migrator.add_index("payment", ("method", "created_at"), False),
    )
