"""Ledger questions shared by several rules (portal/ledger/queries.py): ``among`` lists."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from portal.ledger.models import Package, create_tables
from portal.ledger.queries import among

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _packages(db: peewee.Database, count: int) -> list[Package]:
    create_tables()
    with db.atomic():
        rows = [
            {"name": f"p{n:04d}", "price": 10 + n % 7, "duration_seconds": 60, "created_at": NOW} for n in range(count)
        ]
        Package.insert_many(rows).execute()
    return list(Package.select().order_by(Package.id))


def test_among_finds_exactly_the_listed_rows_past_sqlites_old_variable_limit(db: peewee.Database):
    packages = _packages(db, 2500)
    wanted = [package.id for package in packages[::2]]  # 1,250 ids: more than 999 variables
    found = [package.id for package in Package.select().where(among(Package.id, wanted)).order_by(Package.id)]
    assert found == wanted
    names = [packages[3].name, packages[2499].name, "no such package"]
    assert {p.name for p in Package.select().where(among(Package.name, names))} == set(names[:2])


def test_among_nothing_matches_nothing(db: peewee.Database):
    _packages(db, 3)
    assert Package.select().where(among(Package.id, [])).count() == 0
    assert Package.select().where(among(Package.name, iter(()))).count() == 0


def test_among_in_an_update_with_returning_and_other_conditions(db: peewee.Database):
    packages = _packages(db, 1200)
    cheap = [package.id for package in packages if package.price == 10]
    everyone = [package.id for package in packages]
    with db.atomic():
        changed = {
            row.id
            for row in Package.update(price=Package.price + 100)
            .where(among(Package.id, everyone), Package.price == 10)
            .returning(Package.id)
        }
    assert changed == set(cheap)
    assert {p.id for p in Package.select().where(Package.price >= 100)} == set(cheap)
