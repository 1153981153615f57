"""Counts read from the ledger at the moment they are asked for (metrics, health).

Read at scrape time rather than counted in memory, so every web process reports the same
truth however many of them run.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from portal.ledger.models import Grant, OutboxItem, Payment


@dataclass(frozen=True)
class LedgerFigures:
    payments_by_status: dict[str, int]
    revenue_kes: int
    active_grants: int
    outbox_waiting: int


def ledger_figures() -> LedgerFigures:
    rows = Payment.select(Payment.status, fn.COUNT(Payment.id)).group_by(Payment.status).tuples()
    paid_total = Payment.select(fn.SUM(Payment.amount)).where(Payment.status == "paid").scalar()
    return LedgerFigures(
        payments_by_status={status: int(count) for status, count in rows},
        revenue_kes=int(paid_total or 0),
        active_grants=Grant.select().where(Grant.status == "active").count(),
        outbox_waiting=OutboxItem.select().where(OutboxItem.done_at.is_null()).count(),
    )
