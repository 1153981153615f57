"""Many rows written with one composed statement (portal/ledger/bulk.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee

from portal.ledger.bulk import update_each
from portal.ledger.models import Package, create_tables

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_each_row_gets_its_own_values_and_the_others_are_untouched(db: peewee.Database):
    create_tables()
    packages = [Package.create(name=f"p{n}", price=10 + n, duration_seconds=60, created_at=NOW) for n in range(4)]
    with db.atomic():
        update_each(
            Package,
            (Package.price, Package.created_at),
            [(99, NOW + timedelta(hours=1), packages[0].id), (77, NOW + timedelta(hours=2), packages[2].id)],
        )
    rows = {package.id: (package.price, package.created_at) for package in Package.select()}
    assert rows[packages[0].id] == (99, NOW + timedelta(hours=1))  # an aware datetime, stored as UTC
    assert rows[packages[2].id] == (77, NOW + timedelta(hours=2))
    assert rows[packages[1].id] == (11, NOW) and rows[packages[3].id] == (13, NOW)


def test_no_rows_writes_nothing(db: peewee.Database):
    create_tables()
    update_each(Package, (Package.price,), [])
    assert Package.select().count() == 0
