"""Revenue, totals, the dashboard summary and the money check, over a real SQLite ledger
(no web, no Redis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from portal.domain import reports
from portal.ledger.models import OutboxItem, Package, PaymentEvent, UnmatchedCallback
from tests.domain.ledger_rows import NOW, grant_for, pay

# -- revenue ---------------------------------------------------------------------------------


def test_revenue_by_day_includes_days_without_sales(hour: Package, day_pass: Package) -> None:
    pay(hour, datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    pay(day_pass, datetime(2026, 3, 1, 15, 0, tzinfo=UTC))
    pay(hour, datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    days = reports.revenue_by_day(date(2026, 3, 1), date(2026, 3, 4))
    assert days == [
        (date(2026, 3, 1), 120, 2),
        (date(2026, 3, 2), 0, 0),
        (date(2026, 3, 3), 20, 1),
        (date(2026, 3, 4), 0, 0),
    ]
    assert days[0].amount == 120 and days[0].sales == 2


def test_a_day_is_a_nairobi_day(hour: Package) -> None:
    pay(hour, datetime(2026, 3, 1, 20, 59, 59, tzinfo=UTC))  # 23:59:59 in Nairobi, 1 March
    pay(hour, datetime(2026, 3, 1, 21, 0, 0, tzinfo=UTC))  # 00:00:00 in Nairobi, 2 March
    pay(hour, datetime(2026, 2, 28, 21, 0, 0, tzinfo=UTC))  # 00:00:00 in Nairobi, 1 March
    days = reports.revenue_by_day(date(2026, 3, 1), date(2026, 3, 2))
    assert [(d.day, d.sales) for d in days] == [(date(2026, 3, 1), 2), (date(2026, 3, 2), 1)]
    in_utc = reports.revenue_by_day(date(2026, 3, 1), date(2026, 3, 2), tz=UTC)
    assert [(d.day, d.sales) for d in in_utc] == [(date(2026, 3, 1), 2), (date(2026, 3, 2), 0)]


def test_only_paid_money_in_range_counts(hour: Package) -> None:
    pay(hour, datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    for status in ("failed", "cancelled", "timeout", "pending", "created"):
        pay(hour, datetime(2026, 3, 1, 9, 0, tzinfo=UTC), status=status)
    pay(hour, datetime(2026, 3, 5, 9, 0, tzinfo=UTC))  # outside the range
    assert reports.revenue_by_day(date(2026, 3, 1), date(2026, 3, 1)) == [(date(2026, 3, 1), 20, 1)]
    assert reports.totals(date(2026, 3, 1), date(2026, 3, 1)) == (20, 1)
    assert reports.totals(date(2026, 3, 2), date(2026, 3, 3)) == (0, 0)


def test_dates_the_wrong_way_round_are_refused(ledger: None) -> None:
    with pytest.raises(ValueError, match="before start"):
        reports.revenue_by_day(date(2026, 3, 2), date(2026, 3, 1))


def test_revenue_by_package(hour: Package, day_pass: Package, ledger: None) -> None:
    weekly = Package.create(name="Week", price=500, duration_seconds=7 * 86400, created_at=NOW)
    retired = Package.create(name="Old promo", price=5, duration_seconds=1800, active=False, created_at=NOW)
    Package.create(name="Never sold, disabled", price=1, duration_seconds=600, active=False, created_at=NOW)
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for _ in range(3):
        pay(hour, at)
    pay(hour, at, amount=15)  # sold while the price was lower: the money taken counts
    pay(day_pass, at)
    pay(retired, at)
    pay(day_pass, datetime(2026, 4, 1, 9, 0, tzinfo=UTC))  # outside the range
    rows = reports.revenue_by_package(date(2026, 3, 1), date(2026, 3, 31))
    assert [(r.name, r.amount, r.sales) for r in rows] == [
        ("Day pass", 100, 1),
        ("1 hour", 75, 4),
        ("Old promo", 5, 1),
        ("Week", 0, 0),
    ]
    assert rows[3].package_id == weekly.id


# -- dashboard summary and reconciliation ---------------------------------------------------


def test_summary_counts_money_sessions_pending_and_backlog(hour: Package) -> None:
    today_paid = pay(hour, NOW - timedelta(hours=1))
    grant_for(today_paid, starts=NOW - timedelta(minutes=30))
    pay(hour, NOW - timedelta(days=3))
    pay(hour, NOW - timedelta(days=20))
    pay(hour, NOW - timedelta(days=40))
    pay(hour, None, status="pending")
    stuck = grant_for(pay(hour, NOW - timedelta(minutes=5)), starts=NOW - timedelta(minutes=5), state="pending")
    grant_for(pay(hour, NOW - timedelta(minutes=2)), starts=NOW + timedelta(minutes=20))  # stacked, not started
    OutboxItem.create(
        grant=stuck,
        action="authorize",
        router="main",
        mac=stuck.mac,
        next_attempt_at=NOW,
        created_at=NOW - timedelta(minutes=5),
    )
    OutboxItem.create(
        grant=stuck, action="revoke", router="main", mac=stuck.mac, next_attempt_at=NOW, created_at=NOW, done_at=NOW
    )
    s = reports.summary(NOW)
    assert s.today == (60, 3)
    assert s.last_7_days == (80, 4)
    assert s.last_30_days == (100, 5)
    assert s.active_sessions == 2
    assert s.pending_payments == 1
    assert (s.authorize_backlog, s.revoke_backlog, s.backlog) == (1, 0, 1)
    assert s.oldest_backlog_at == NOW - timedelta(minutes=5)


def test_the_money_check_lists_every_gap(hour: Package) -> None:
    start, end = date(2026, 3, 1), date(2026, 3, 10)
    fine = pay(hour, NOW - timedelta(hours=2))
    grant_for(fine)
    assert reports.money_check(start, end, NOW).clean

    orphan = pay(hour, NOW - timedelta(hours=1))  # money taken, no session
    unpaid = pay(hour, None, status="failed")
    free_ride = grant_for(unpaid)  # a session nobody paid for
    offline = grant_for(pay(hour, NOW - timedelta(minutes=3)), state="failed")
    grant_for(pay(hour, NOW - timedelta(minutes=3), mac="AA:BB:CC:00:00:07"), state="pending", status="expired")
    PaymentEvent.create(payment=fine, at=NOW, kind="duplicate_success_ignored", detail="")
    PaymentEvent.create(payment=fine, at=NOW, kind="success_rejected", detail="")
    PaymentEvent.create(payment=fine, at=NOW, kind="callback", detail="")
    UnmatchedCallback.create(received_at=NOW, reason="forged", body="{}")
    UnmatchedCallback.create(received_at=NOW - timedelta(days=30), reason="old", body="{}")

    check = reports.money_check(start, end, NOW)
    assert not check.clean
    assert check.collected == (80, 4)
    assert [p.id for p in check.paid_without_grant.items] == [orphan.id]
    assert [g.id for g in check.grant_without_payment.items] == [free_ride.id]
    assert [g.id for g in check.not_on_router.items] == [offline.id]  # active; the expired one is not
    assert check.duplicates.total == 2 and {e.kind for e in check.duplicates.items} == set(reports.DUPLICATE_KINDS)
    assert check.rejected_callbacks == 1


def test_the_money_check_samples_but_counts_everything(hour: Package) -> None:
    for i in range(25):
        pay(hour, NOW - timedelta(minutes=i + 1))
    gap = reports.money_check(date(2026, 3, 10), date(2026, 3, 10), NOW).paid_without_grant
    assert gap.total == 25 and len(gap.items) == 20
