"""Revenue, reconciliation and the admin lists, over a real SQLite ledger (no web, no Redis)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from portal.domain import admin_lists, reports
from portal.domain.errors import BadInput
from portal.ledger.database import open_database
from portal.ledger.models import Grant, OutboxItem, Package, Payment, PaymentEvent, UnmatchedCallback, create_tables

UTC = UTC
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Nairobi
_ids = itertools.count(1)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[None]:
    db = open_database(ledger_url)
    create_tables()
    yield
    db.close()


@pytest.fixture
def hour(ledger: None) -> Package:
    return Package.create(name="1 hour", price=20, duration_seconds=3600, created_at=NOW)


@pytest.fixture
def day_pass(ledger: None) -> Package:
    return Package.create(name="Day pass", price=100, duration_seconds=86400, created_at=NOW)


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


def test_reconciliation_lists_every_gap(hour: Package) -> None:
    start, end = date(2026, 3, 1), date(2026, 3, 10)
    fine = pay(hour, NOW - timedelta(hours=2))
    grant_for(fine)
    assert reports.reconciliation(start, end, NOW).clean

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

    recon = reports.reconciliation(start, end, NOW)
    assert not recon.clean
    assert recon.collected == (80, 4)
    assert [p.id for p in recon.paid_without_grant.items] == [orphan.id]
    assert [g.id for g in recon.grant_without_payment.items] == [free_ride.id]
    assert [g.id for g in recon.not_on_router.items] == [offline.id]  # active; the expired one is not
    assert recon.duplicates.total == 2 and {e.kind for e in recon.duplicates.items} == set(reports.DUPLICATE_KINDS)
    assert recon.rejected_callbacks == 1


def test_reconciliation_samples_but_counts_everything(hour: Package) -> None:
    for i in range(25):
        pay(hour, NOW - timedelta(minutes=i + 1))
    gap = reports.reconciliation(date(2026, 3, 10), date(2026, 3, 10), NOW).paid_without_grant
    assert gap.total == 25 and len(gap.items) == 20


# -- payments list ---------------------------------------------------------------------------


def test_filters_are_parsed_and_normalised() -> None:
    f = admin_lists.parse_payment_filters(
        {
            "status": "PAID",
            "phone": "0712 345",
            "receipt": " ucl2k ",
            "mac": "aa-bb",
            "from": "2026-03-01",
            "to": "2026-03-02",
            "page": "3",
        }
    )
    assert f == admin_lists.PaymentFilters("paid", "254712345", "UCL2K", "AA:BB", date(2026, 3, 1), date(2026, 3, 2), 3)
    assert admin_lists.parse_payment_filters({"phone": "+254 712"}).phone == "254712"
    assert admin_lists.parse_payment_filters({}) == admin_lists.PaymentFilters()
    assert f.query_args(page=4)["page"] == "4" and f.query_args()["from"] == "2026-03-01"


def test_bad_filters_name_every_problem() -> None:
    with pytest.raises(BadInput) as caught:
        admin_lists.parse_payment_filters(
            {
                "status": "won",
                "phone": "07x",
                "from": "2026-02-30",
                "to": "tomorrow",
                "page": "-1",
                "receipt": "<b>",
                "mac": "zz",
            }
        )
    problems: list[Any] = caught.value.params["problems"]
    assert len(problems) == 7
    assert caught.value.http_status == 400
    with pytest.raises(BadInput, match="from date is after to date"):
        admin_lists.parse_payment_filters({"from": "2026-03-05", "to": "2026-03-01"})


def test_find_payments_filters_pages_and_orders_newest_first(hour: Package) -> None:
    # created 21:00:00 UTC on 1 March = midnight starting 2 March in Nairobi
    first = pay(hour, datetime(2026, 3, 1, 21, 0, 10, tzinfo=UTC), phone="254799000111")
    for i in range(51):
        pay(hour, datetime(2026, 3, 5, 9, 0, tzinfo=UTC) + timedelta(minutes=i))
    failed = pay(hour, datetime(2026, 3, 6, 9, 0, tzinfo=UTC), status="failed")

    page1 = admin_lists.find_payments(admin_lists.PaymentFilters())
    assert (page1.total, page1.pages, len(page1.items), page1.has_next, page1.has_prev) == (53, 2, 50, True, False)
    assert page1.items[0].id == failed.id
    page2 = admin_lists.find_payments(admin_lists.PaymentFilters(page=2))
    assert len(page2.items) == 3 and page2.items[-1].id == first.id

    def ids(**kwargs: Any) -> list[int]:
        return [p.id for p in admin_lists.find_payments(admin_lists.PaymentFilters(**kwargs)).items]

    assert ids(status="failed") == [failed.id]
    assert ids(phone="799000") == [first.id]
    assert ids(receipt=first.receipt) == [first.id]
    assert ids(date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)) == [first.id]
    assert ids(date_to=date(2026, 3, 1)) == []
    assert ids(date_from=date(2026, 3, 6)) == [failed.id]


# -- timeline and the other lists ----------------------------------------------------------


def test_payment_story_orders_events_and_reads_their_details(hour: Package) -> None:
    payment = pay(hour, NOW)
    grant = grant_for(payment)
    PaymentEvent.create(
        payment=payment,
        at=NOW,
        kind="paid",
        detail='{"receipt": "RCP1", "expires_at": "2026-03-10T10:00:00+00:00", "grant": 1}',
    )
    PaymentEvent.create(payment=payment, at=NOW - timedelta(seconds=5), kind="push_accepted", detail="")
    PaymentEvent.create(payment=payment, at=NOW, kind="something_new", detail="not json")
    story = admin_lists.payment_story(payment.id)
    assert story is not None and story.grant is not None and story.grant.id == grant.id
    assert [e.kind for e in story.timeline] == ["push_accepted", "paid", "something_new"]
    assert story.timeline[0].label == "M-Pesa prompt sent to the phone"
    assert story.timeline[2].label == "something new"
    assert ("expires at", "2026-03-10 13:00:00") in story.timeline[1].details  # shown in Nairobi time
    assert ("text", "not json") in story.timeline[2].details
    assert admin_lists.payment_story(99999) is None


def test_readable_detail_keeps_it_short_and_plain() -> None:
    pairs = admin_lists.readable_detail({"b": None, "a": {"x": 1}, "long": "y" * 500, "when": "not-a-dateT"})
    assert pairs[0] == ("a", '{"x": 1}')
    assert dict(pairs)["long"].endswith("…") and len(dict(pairs)["long"]) == 300
    assert dict(pairs)["when"] == "not-a-dateT"
    assert "b" not in dict(pairs)


def test_live_sessions_show_time_left_and_stacked_starts(hour: Package) -> None:
    now_grant = grant_for(pay(hour, NOW), starts=NOW - timedelta(minutes=10))
    later = grant_for(pay(hour, NOW, mac="AA:BB:CC:00:00:02"), starts=NOW + timedelta(minutes=50))
    grant_for(pay(hour, NOW, mac="AA:BB:CC:00:00:03"), status="revoked")
    rows = admin_lists.live_sessions(NOW)
    assert [(r.grant.id, r.seconds_left, r.starts_in) for r in rows] == [
        (now_grant.id, 50 * 60, 0),
        (later.id, 110 * 60, 50 * 60),
    ]
    assert rows[0].grant.payment.phone == "254712345678" and rows[0].grant.package.name == "1 hour"


def test_router_backlog_and_counts(hour: Package) -> None:
    grant = grant_for(pay(hour, NOW), state="pending")
    OutboxItem.create(
        grant=grant,
        action="authorize",
        router="main",
        mac=grant.mac,
        next_attempt_at=NOW,
        created_at=NOW,
        attempts=2,
        last_error="router_unreachable: connection refused",
    )
    assert admin_lists.router_backlog("main") == (1, "router_unreachable: connection refused")
    assert admin_lists.router_backlog("other") == (0, "")
    assert admin_lists.active_count("main", NOW) == 1
    assert admin_lists.active_count("main", NOW + timedelta(hours=2)) == 0


def test_lists_are_paged_newest_first(ledger: None) -> None:
    for i in range(3):
        UnmatchedCallback.create(received_at=NOW + timedelta(minutes=i), reason=f"r{i}", body="{}")
    page = admin_lists.unmatched_page(1)
    assert [c.reason for c in page.items] == ["r2", "r1", "r0"] and page.pages == 1
    assert admin_lists.unmatched_page(2).items == []
    assert admin_lists.audit_page(1).total == 0
