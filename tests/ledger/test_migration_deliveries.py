"""Schema m0007 (deliveries, alert state, the receipt consent) on a ledger that has data."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee
import pytest

from portal.ledger import migrations
from portal.ledger.database import open_database
from portal.ledger.migrations import m0001_baseline

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield database
    database.close()


def test_upgrading_a_version_1_ledger_keeps_its_payments_and_adds_the_queue(db):
    with db.bind_ctx(m0001_baseline.TABLES):
        db.create_tables(m0001_baseline.TABLES)
        package = m0001_baseline.Package.create(name="1h", price=20, duration_seconds=3600, created_at=NOW)
        m0001_baseline.Payment.create(
            public_id="p1",
            package=package,
            router="main",
            mac="AA:BB:CC:00:00:01",
            ip="10.5.50.2",
            phone="254712345678",
            amount=20,
            status="paid",
            receipt="SC12AB34CD",
            created_at=NOW,
            updated_at=NOW,
        )
    assert migrations.current_version(db) == 1
    migrations.upgrade(db)
    migrations.check_current(db)

    from portal.ledger.models import AlertState, Delivery, Payment

    old = Payment.get(Payment.public_id == "p1")
    assert old.receipt == "SC12AB34CD" and old.receipt_consent is False  # nobody consented before
    row = Delivery.create(
        key=f"receipt:{old.id}",
        kind="receipt",
        channel="sms",
        recipient=old.phone,
        payment=old,
        next_attempt_at=NOW,
        created_at=NOW,
    )
    assert row.status == "queued" and row.attempts == 0
    with pytest.raises(peewee.IntegrityError), db.atomic():
        Delivery.create(key=f"receipt:{old.id}", kind="receipt", channel="sms", next_attempt_at=NOW, created_at=NOW)
    AlertState.create(key="router_down:main", updated_at=NOW)
    assert AlertState.get().status == "ok"
    with pytest.raises(peewee.IntegrityError), db.atomic():
        AlertState.create(key="router_down:main", updated_at=NOW)
    indexes = {tuple(i.columns) for i in db.get_indexes("delivery")}
    assert ("status", "next_attempt_at") in indexes and ("key",) in indexes
