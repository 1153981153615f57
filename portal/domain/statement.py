"""Statement reconciliation: every shilling on the M-Pesa statement against the ledger.

Importing (``statement_import``) keeps the statement's money-in lines in the ledger, one row
per receipt, so the same file (or an overlapping one) imported twice adds nothing. Matching,
here, is computed when asked, so it always reflects the ledger as it is now (a line granted a minute ago is
matched now). Four lists:

- ``matched``: the receipt is on both sides, same amount, and M-Pesa completed it within
  ``statement_time_tolerance_seconds`` of our prompt (or, for a payment whose receipt we
  never learnt because only STK Query confirmed it, same amount, close in time and a
  compatible phone);
- ``statement_only``: money received, no access given (one click grants it, or records a
  refund made outside: then it is ``resolved``);
- ``ledger_only``: paid in our ledger, inside a period a statement covers, absent from it;
- ``mismatch``: same receipt, different amount or a completion time far from the prompt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import peewee

from portal.config import Settings
from portal.ledger.models import Payment, StatementImport, StatementLine
from portal.mpesa.statement import phone_compatible

KINDS = ("matched", "statement_only", "ledger_only", "mismatch")
CLOCK_SKEW_SECONDS = 120  # M-Pesa's clock against ours: a completion may read a little "before" the prompt


class LineFacts(NamedTuple):
    id: int
    receipt: str
    completed_at: datetime
    paid_in_cents: int
    party: str
    details: str
    resolution: str


class PaymentFacts(NamedTuple):
    id: int
    receipt: str | None
    amount: int
    created_at: datetime
    paid_at: datetime | None
    phone: str
    status: str
    method: str


@dataclass(frozen=True)
class ReconItem:
    kind: str  # one of KINDS, or "resolved" (a refund recorded for a statement-only line)
    line: LineFacts | None
    payment: PaymentFacts | None
    note: str = ""


# -- matching ---------------------------------------------------------------------------

_LINE_COLUMNS = (
    StatementLine.id,
    StatementLine.receipt,
    StatementLine.completed_at,
    StatementLine.paid_in_cents,
    StatementLine.party,
    StatementLine.details,
    StatementLine.resolution,
)
_PAYMENT_COLUMNS = (
    Payment.id,
    Payment.receipt,
    Payment.amount,
    Payment.created_at,
    Payment.paid_at,
    Payment.phone,
    Payment.status,
    Payment.method,
)


def _covered() -> peewee.Expression | None:
    """Paid payments inside some imported statement's period."""
    condition = None
    for start, end in StatementImport.select(StatementImport.period_from, StatementImport.period_to).tuples():
        if start is None or end is None:
            continue
        part = (Payment.paid_at >= start) & (Payment.paid_at <= end + timedelta(seconds=CLOCK_SKEW_SECONDS))
        condition = part if condition is None else (condition | part)
    return condition


def walk(settings: Settings) -> Iterator[ReconItem]:
    """Every line and every covered payment, classified; streamed (memory stays flat)."""
    tolerance = settings.mpesa.statement_time_tolerance_seconds
    both = (
        StatementLine.select(*_LINE_COLUMNS, *_PAYMENT_COLUMNS)
        .join(Payment, on=(Payment.receipt == StatementLine.receipt))
        .order_by(StatementLine.completed_at)
        .tuples()
    )
    for values in both.iterator():
        line, payment = LineFacts(*values[:7]), PaymentFacts(*values[7:])
        yield _compare(line, payment, tolerance)
    covered = _covered()
    unreceipted: dict[int, list[PaymentFacts]] = defaultdict(list)
    if covered is not None:
        for values in _paid(covered).where(Payment.receipt.is_null()).tuples().iterator():
            payment = PaymentFacts(*values)
            unreceipted[payment.amount * 100].append(payment)
    used: set[int] = set()
    lonely = (
        StatementLine.select(*_LINE_COLUMNS)
        .join(Payment, peewee.JOIN.LEFT_OUTER, on=(Payment.receipt == StatementLine.receipt))
        .where(Payment.id.is_null())
        .order_by(StatementLine.completed_at)
        .tuples()
    )
    for values in lonely.iterator():
        line = LineFacts(*values)
        if line.resolution == "refunded":
            yield ReconItem("resolved", line, None, "refund recorded")
            continue
        paired = _pair(line, unreceipted.get(line.paid_in_cents, []), used, tolerance)
        if paired is not None:
            yield ReconItem("matched", line, paired, "same amount and time; the ledger has no receipt (STK Query)")
        else:
            yield ReconItem("statement_only", line, None, "money received, no access given")
    if covered is None:
        return
    missing = (
        _paid(covered)
        .switch(Payment)
        .join(StatementLine, peewee.JOIN.LEFT_OUTER, on=(StatementLine.receipt == Payment.receipt))
        .where(StatementLine.id.is_null(), Payment.receipt.is_null(False))
        .tuples()
    )
    for values in missing.iterator():
        yield ReconItem("ledger_only", None, PaymentFacts(*values), "not on the statement")
    for group in unreceipted.values():
        for payment in group:
            if payment.id not in used:
                yield ReconItem("ledger_only", None, payment, "not on the statement (no receipt in the ledger)")


def _paid(covered: peewee.Expression) -> peewee.SelectQuery:
    return (
        Payment.select(*_PAYMENT_COLUMNS)
        .where(Payment.status == "paid", Payment.method == "mpesa", covered)
        .order_by(Payment.paid_at)
    )


def _compare(line: LineFacts, payment: PaymentFacts, tolerance: int) -> ReconItem:
    if payment.status != "paid":
        return ReconItem("mismatch", line, payment, f"the payment is {payment.status}")
    if line.paid_in_cents != payment.amount * 100:
        return ReconItem(
            "mismatch", line, payment, f"amount: statement {line.paid_in_cents / 100:,.2f}, ledger {payment.amount}"
        )
    if payment.method == "mpesa":
        delay = (line.completed_at - payment.created_at).total_seconds()
        if not -CLOCK_SKEW_SECONDS <= delay <= tolerance:
            return ReconItem("mismatch", line, payment, f"time: completed {int(delay // 60)} min after our prompt")
    return ReconItem("matched", line, payment)


def _pair(line: LineFacts, candidates: list[PaymentFacts], used: set[int], tolerance: int) -> PaymentFacts | None:
    from portal.mpesa.statement import phone_hint

    hint = phone_hint(line.party)
    best: PaymentFacts | None = None
    for payment in candidates:
        delay = (line.completed_at - payment.created_at).total_seconds()
        if payment.id in used or not -CLOCK_SKEW_SECONDS <= delay <= tolerance:
            continue
        if not phone_compatible(hint, payment.phone):
            continue
        if best is None or abs(delay) < abs((line.completed_at - best.created_at).total_seconds()):
            best = payment
    if best is not None:
        used.add(best.id)
    return best


def counts(settings: Settings) -> dict[str, int]:
    totals = dict.fromkeys((*KINDS, "resolved"), 0)
    for item in walk(settings):
        totals[item.kind] += 1
    return totals


def items(settings: Settings, kind: str, *, offset: int = 0, limit: int | None = None) -> tuple[list[ReconItem], int]:
    """One list's items from ``offset`` (at most ``limit``) and how many there are in all."""
    chosen: list[ReconItem] = []
    total = 0
    for item in walk(settings):
        if item.kind != kind:
            continue
        if total >= offset and (limit is None or len(chosen) < limit):
            chosen.append(item)
        total += 1
    return chosen, total
