"""The admin lists (payment filters and pages, a payment's story, live sessions, backlog,
audit and unmatched callbacks), over a real SQLite ledger (no web, no Redis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from portal.domain import admin_lists
from portal.domain.errors import BadInput
from portal.ledger.models import OutboxItem, Package, PaymentEvent, UnmatchedCallback
from tests.domain.ledger_rows import NOW, grant_for, pay

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
