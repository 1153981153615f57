"""Payments and grants written straight into the ledger for the report and admin-list tests
(no M-Pesa round trip: not what those tests are about)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from portal.ledger.models import Grant, Package, Payment

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi
_ids = itertools.count(1)


def pay(
    package: Package,
    paid_at: datetime | None,
    *,
    status: str = "paid",
    amount: int | None = None,
    phone: str = "254712345678",
    receipt: str | None = None,
    mac: str = "AA:BB:CC:00:00:01",
) -> Payment:
    n = next(_ids)
    created = (paid_at or NOW) - timedelta(seconds=10)
    return Payment.create(
        public_id=f"pub{n}",
        package=package,
        router="main",
        mac=mac,
        ip="10.5.50.10",
        phone=phone,
        amount=package.price if amount is None else amount,
        status=status,
        created_at=created,
        updated_at=created,
        paid_at=paid_at if status == "paid" else None,
        receipt=receipt or (f"RCP{n:07d}" if status == "paid" else None),
    )


def grant_for(payment: Payment, *, starts: datetime = NOW, state: str = "online", status: str = "active") -> Grant:
    return Grant.create(
        payment=payment,
        package=payment.package,
        router="main",
        mac=payment.mac,
        ip=payment.ip,
        starts_at=starts,
        expires_at=starts + timedelta(seconds=payment.package.duration_seconds),
        status=status,
        router_state=state,
    )
