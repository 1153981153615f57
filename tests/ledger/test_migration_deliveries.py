"""Schema m0007 (deliveries, alert state, the receipt consent) on a ledger that has data."""

from __future__ import annotations

import peewee
import pytest

from portal.ledger import migrations
from tests.ledger.old_ledger import NOW


def test_upgrading_a_version_1_ledger_keeps_its_payments_and_adds_the_queue(db, first_release):
    first_release.payment(first_release.package(), "p1", status="paid", receipt="SC12AB34CD")
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
