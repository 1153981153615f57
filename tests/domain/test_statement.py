"""Statement reconciliation over the real stack: customers pay through the Daraja simulator, the
test writes the statement M-Pesa would print (plus planted differences), the owner imports it."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest

from portal.domain import daily_review, statement, statement_actions, statement_import
from portal.domain.errors import BadInput
from portal.domain.reports import local_today
from portal.ledger.models import AuditLog, Grant, Payment, PaymentEvent, StatementImport, StatementLine
from tests.statement_files import Line, from_simulator, org_portal_csv

PHONES = [f"07{21000000 + n:08d}" for n in range(8)]


def buy(portal: Any, package: Any, n: int) -> Payment:
    mac, ip = portal.join(f"AA:BB:CC:00:06:{n:02X}", f"10.5.56.{n + 2}")
    checkout, _status = portal.pay_ids(package.id, phone=PHONES[n], mac=mac, ip=ip)
    return Payment.get(Payment.checkout_request_id == checkout)


@pytest.fixture
def day(portal, package, simulator, services, clock):
    """Five paid customers, one whose prompt timed out although M-Pesa took the money later,
    and the statement for the day with four planted differences."""
    start = clock.now() - timedelta(hours=1)
    paid = []
    for n in range(5):
        paid.append(buy(portal, package, n))
        portal.settle(5)
    simulator.script_outcome(f"2547{PHONES[5][2:]}", "timeout", after_seconds=60)
    stuck = buy(portal, package, 5)
    portal.settle(61)
    assert Payment.get_by_id(stuck.id).status == "timeout"
    lines = {line.receipt: line for line in from_simulator(simulator.transactions())}
    paid = [Payment.get_by_id(p.id) for p in paid]
    omitted = paid[0]  # planted: paid in the ledger, absent from the statement
    del lines[omitted.receipt]
    lines[paid[1].receipt].amount = "25.00"  # planted: amount differs
    lines[paid[2].receipt].completed_at += timedelta(hours=2)  # planted: completed long after our prompt
    late = Line("UC1LATEPAY1", stuck.created_at + timedelta(seconds=70), "20.00", stuck.phone)  # money, no access
    stranger = Line("UC1STRANGE1", clock.now(), "50.00", "254799000111", "PETER OTIENO")  # nobody's payment
    lines[late.receipt], lines[stranger.receipt] = late, stranger
    data = org_portal_csv(sorted(lines.values(), key=lambda x: x.completed_at), start, clock.now() + timedelta(hours=3))
    return {"data": data, "paid": paid, "omitted": omitted, "stuck": stuck, "late": late, "stranger": stranger}


def do_import(services, data: bytes, name: str = "statement.csv") -> statement_import.ImportResult:
    return statement_import.import_statement(
        io.BytesIO(data), filename=name, actor="owner", settings=services.settings, clock=services.clock
    )


def lists(services) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in statement.walk(services.settings):
        receipt = item.line.receipt if item.line else f"payment {item.payment.id}"
        found.setdefault(item.kind, set()).add(receipt)
    return found


def test_each_planted_difference_lands_in_its_list(services, day):
    result = do_import(services, day["data"])
    assert result.counts == {"matched": 2, "statement_only": 2, "ledger_only": 1, "mismatch": 2, "resolved": 0}
    found = lists(services)
    paid = day["paid"]
    assert found["matched"] == {paid[3].receipt, paid[4].receipt}
    assert found["statement_only"] == {"UC1LATEPAY1", "UC1STRANGE1"}
    assert found["ledger_only"] == {f"payment {day['omitted'].id}"}
    assert found["mismatch"] == {paid[1].receipt, paid[2].receipt}
    row = result.statement
    assert (row.lines_added, row.rows_ignored, row.rows_skipped) == (6, 1, 0)  # the settlement is money out


def test_importing_the_same_statement_twice_changes_nothing(services, day):
    first = do_import(services, day["data"])
    tables = (StatementImport, StatementLine, Payment, Grant, PaymentEvent, AuditLog)
    before = {model.__name__: model.select().count() for model in tables}
    second = do_import(services, day["data"], name="same-file-renamed.csv")
    assert second.already_imported and second.statement.id == first.statement.id
    assert {model.__name__: model.select().count() for model in tables} == before
    assert second.counts == first.counts
    # An overlapping file (same lines, one more) adds only the new line.
    extra = day["data"].replace(b"UZ9SETTLE01", b"UC1EXTRA001", 1).replace(b',,"-1,000.00"', b',"10.00",', 1)
    third = do_import(services, extra, name="overlap.csv")
    assert (third.statement.lines_added, third.statement.lines_known) == (1, 6)


def test_one_click_gives_the_timed_out_customer_the_time_they_paid_for(services, day, emulator):
    do_import(services, day["data"])
    line = StatementLine.get(StatementLine.receipt == "UC1LATEPAY1")
    candidates = statement_actions.candidates(services, line)
    assert [p.id for p in candidates] == [day["stuck"].id]
    grant = statement_actions.attach(services, line.id, day["stuck"].id, actor="owner")
    payment = Payment.get_by_id(day["stuck"].id)
    assert payment.status == "paid" and payment.receipt == "UC1LATEPAY1"
    assert grant.status == "active" and emulator.is_online(grant.mac)
    assert "statement_matched" in [e.kind for e in payment.events]
    assert "UC1LATEPAY1" in lists(services)["matched"]
    with pytest.raises(BadInput):  # a second click credits nothing twice
        statement_actions.attach(services, line.id, day["stuck"].id, actor="owner")


def test_money_from_nobody_is_granted_to_a_chosen_device_or_settled_as_refunded(services, day, package, portal):
    do_import(services, day["data"])
    stranger = StatementLine.get(StatementLine.receipt == "UC1STRANGE1")
    assert statement_actions.candidates(services, stranger) == []
    mac, _ip = portal.join("AA:BB:CC:00:06:77", "10.5.56.99")
    with pytest.raises(BadInput):  # an unknown package is refused
        statement_actions.grant_to_device(services, stranger.id, router="main", mac=mac, package_id="999", actor="o")
    grant = statement_actions.grant_to_device(
        services, stranger.id, router="main", mac=mac, package_id=package.id, actor="owner"
    )
    payment = Payment.get_by_id(grant.payment_id)
    assert (payment.method, payment.amount, payment.receipt) == ("statement", 50, "UC1STRANGE1")
    late = StatementLine.get(StatementLine.receipt == "UC1LATEPAY1")
    with pytest.raises(BadInput):
        statement_actions.record_refund(services, late.id, note="", actor="owner")  # a reason is required
    statement_actions.record_refund(services, late.id, note="sent back by M-Pesa", actor="owner")
    counts = statement.counts(services.settings)
    assert counts["statement_only"] == 0 and counts["resolved"] == 1 and counts["matched"] == 3
    assert {a.action for a in AuditLog.select()} >= {"statement.import", "statement.grant", "statement.refund"}


def test_the_daily_review_is_green_only_when_both_sides_agree(services, day, clock):
    do_import(services, day["data"])
    today = local_today(clock.now())
    (row,) = daily_review.review(today, today)
    assert row.covered and not row.agrees  # four planted differences
    assert row.statement_cents == (20 * 3 + 25 + 20 + 50) * 100 and row.ledger_cents == 5 * 20 * 100
    yesterday = today - timedelta(days=1)
    assert not daily_review.review(yesterday, yesterday)[0].covered
