"""A ledger as an older release left it, with rows, for the migration tests.

:class:`FirstRelease` builds the version-1 schema from the frozen tables in ``m0001_baseline``
(not from today's models) and adds rows to it as that release would have; :func:`upgrade_to`
brings a ledger to an older version the way that release's ``pay2connect migrate`` did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import peewee
import pytest

from portal.ledger import migrations
from portal.ledger.migrations import m0001_baseline

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class FirstRelease:
    """The version-1 tables (created if missing) and rows written through them."""

    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        with db.bind_ctx(m0001_baseline.TABLES):
            db.create_tables(m0001_baseline.TABLES)  # IF NOT EXISTS: also on a ledger migrated to 1

    def row(self, table: type[peewee.Model], **fields: Any) -> Any:
        """One row of a version-1 table (``m0001_baseline.Grant``, ``.AuditLog``, ...)."""
        with self.db.bind_ctx(m0001_baseline.TABLES):
            return table.create(**fields)

    def package(self, name: str = "1h", *, price: int = 20, duration_seconds: int = 3600) -> Any:
        return self.row(
            m0001_baseline.Package, name=name, price=price, duration_seconds=duration_seconds, created_at=NOW
        )

    def payment(self, package: Any, public_id: str = "p1", **fields: Any) -> Any:
        """A payment for ``package`` from one device; ``fields`` change any column."""
        values = {
            "public_id": public_id,
            "package": package,
            "router": "main",
            "mac": "AA:BB:CC:00:00:01",
            "ip": "10.5.50.2",
            "phone": "254712345678",
            "amount": package.price,
            "created_at": NOW,
            "updated_at": NOW,
        }
        return self.row(m0001_baseline.Payment, **{**values, **fields})

    def admin(self, username: str = "boss", password_hash: str = "x") -> Any:
        return self.row(m0001_baseline.AdminUser, username=username, password_hash=password_hash, created_at=NOW)


def upgrade_to(db: peewee.Database, version: int) -> None:
    """Upgrade as the release whose newest migration was ``version`` did (no further)."""
    with pytest.MonkeyPatch.context() as that_release:
        that_release.setattr(migrations, "MODULES", migrations.MODULES[:version])
        migrations.upgrade(db)
    assert migrations.current_version(db) == version
