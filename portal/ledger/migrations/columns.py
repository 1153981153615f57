"""Column changes that keep foreign keys intact on SQLite.

:meth:`playhouse.migrate.SchemaMigrator.add_column` adds a NOT NULL column in three steps,
the last of which rebuilds the whole table on SQLite; with ``foreign_keys`` on (our
pragmas) that rebuild fails as soon as another table references a row of it (a payment
with its grants, a grant with its outbox items). ``ADD COLUMN ... NOT NULL DEFAULT`` is one
plain statement on SQLite, PostgreSQL and MySQL alike.
"""

from __future__ import annotations

import peewee


def add_not_null_column(db: peewee.Database, table: str, column: str, sql_type: str, default: str) -> None:
    """Add ``column`` to ``table`` as ``sql_type NOT NULL DEFAULT default`` (``default`` is SQL)."""
    context = db.get_sql_context()
    table_sql = context.sql(peewee.Entity(table)).query()[0]
    column_sql = db.get_sql_context().sql(peewee.Entity(column)).query()[0]
    db.execute_sql(f"ALTER TABLE {table_sql} ADD COLUMN {column_sql} {sql_type} NOT NULL DEFAULT {default}")
