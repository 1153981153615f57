"""Many rows written with one composed statement (portal/ledger/bulk.py)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from portal.ledger.bulk import insert_each, insert_for_each, update_each
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


def test_insert_each_writes_every_row_in_order_with_its_values(db: peewee.Database):
    create_tables()
    rows = [(f"p{n}", 10 + n, 60 * n, NOW + timedelta(minutes=n)) for n in range(5)]
    with db.atomic():
        update_each(Package, (Package.price,), [])  # nothing to change: nothing written
        insert_each(Package, (Package.name, Package.price, Package.duration_seconds, Package.created_at), rows)
    stored = [(p.name, p.price, p.duration_seconds, p.created_at) for p in Package.select().order_by(Package.id)]
    assert stored == rows
    assert all(package.active for package in Package.select()), "the columns not given take their defaults"


def test_insert_for_each_writes_a_row_per_key_with_the_same_other_values(db: peewee.Database):
    create_tables()
    names = [f"p{n}" for n in range(40)]
    with db.atomic():
        fields = (Package.price, Package.duration_seconds, Package.created_at)
        insert_for_each(Package, Package.name, names, fields, (25, 600, NOW))
        insert_for_each(Package, Package.name, [], fields, (1, 60, NOW))  # no keys: nothing written
    stored = [(p.name, p.price, p.duration_seconds, p.created_at) for p in Package.select().order_by(Package.id)]
    assert stored == [(name, 25, 600, NOW) for name in names]
    assert all(package.active and package.name_sw == "" for package in Package.select()), "the model's defaults"


def test_insert_for_each_refuses_a_default_made_by_a_call(db: peewee.Database):
    """One statement would give every row the one value the call made."""

    class Ticket(peewee.Model):
        name = peewee.CharField()
        token = peewee.CharField(default=lambda: secrets.token_hex(4))

        class Meta:
            database = db

    with pytest.raises(ValueError, match="token"):
        insert_for_each(Ticket, Ticket.name, ["a", "b"], (), ())
