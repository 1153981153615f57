"""The daily review: each day's M-Pesa money in the ledger beside the statement's, day by day.

Days are the venue's (Africa/Nairobi). The ledger side is M-Pesa money credited that day
(STK pushes and statement lines granted later count on the day they were credited); the
statement side is the money-in lines that completed that day. Green when both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from portal.clock import NAIROBI
from portal.domain.reports import day_bounds
from portal.ledger.models import Payment, StatementImport, StatementLine

MAX_DAYS = 366


@dataclass(frozen=True)
class DayReview:
    day: date
    ledger_cents: int
    ledger_count: int
    statement_cents: int
    statement_count: int
    covered: bool  # some imported statement covers this day

    @property
    def agrees(self) -> bool:
        return self.covered and self.ledger_cents == self.statement_cents and self.ledger_count == self.statement_count

    @property
    def difference_cents(self) -> int:
        return self.statement_cents - self.ledger_cents


def default_range(today: date) -> tuple[date, date]:
    """The days the imported statements cover, else the last 14 days."""
    row = StatementImport.select(StatementImport.period_from, StatementImport.period_to).order_by(
        StatementImport.period_to.desc()
    )
    spans = [(a, b) for a, b in row.tuples() if a and b]
    if not spans:
        return today - timedelta(days=13), today
    start = min(a for a, _ in spans).astimezone(NAIROBI).date()
    end = max(b for _, b in spans).astimezone(NAIROBI).date()
    return max(start, end - timedelta(days=MAX_DAYS - 1)), end


def review(start: date, end: date) -> list[DayReview]:
    if (end - start).days >= MAX_DAYS:
        start = end - timedelta(days=MAX_DAYS - 1)
    lo, hi = day_bounds(start, end)
    days: dict[date, list[int]] = {start + timedelta(days=i): [0, 0, 0, 0] for i in range((end - start).days + 1)}
    paid = Payment.select(Payment.paid_at, Payment.amount).where(
        Payment.status == "paid",
        Payment.method.in_(("mpesa", "statement")),
        Payment.amount > 0,
        Payment.paid_at >= lo,
        Payment.paid_at < hi,
    )
    for paid_at, amount in paid.tuples().iterator():
        bucket = days[paid_at.astimezone(NAIROBI).date()]
        bucket[0] += amount * 100
        bucket[1] += 1
    lines = StatementLine.select(StatementLine.completed_at, StatementLine.paid_in_cents).where(
        StatementLine.completed_at >= lo, StatementLine.completed_at < hi, StatementLine.resolution != "refunded"
    )
    for completed_at, cents in lines.tuples().iterator():
        bucket = days[completed_at.astimezone(NAIROBI).date()]
        bucket[2] += cents
        bucket[3] += 1
    spans = [
        (a.astimezone(NAIROBI).date(), b.astimezone(NAIROBI).date())
        for a, b in StatementImport.select(StatementImport.period_from, StatementImport.period_to).tuples()
        if a and b
    ]
    return [DayReview(day, v[0], v[1], v[2], v[3], any(a <= day <= b for a, b in spans)) for day, v in days.items()]


def as_rows(days: list[DayReview]) -> list[dict[str, Any]]:
    return [
        {
            "day": d.day.isoformat(),
            "ledger_ksh": f"{d.ledger_cents / 100:.2f}",
            "ledger_payments": d.ledger_count,
            "statement_ksh": f"{d.statement_cents / 100:.2f}",
            "statement_lines": d.statement_count,
            "agrees": "yes" if d.agrees else ("no statement" if not d.covered else "no"),
        }
        for d in days
    ]
