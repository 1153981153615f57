"""What the venue owner reads about money: revenue by day and package, totals, the dashboard
summary and the money check (money taken versus access given).

Plain functions over the ledger (no Flask): views parse input and call these. Days are
counted in the venue's time zone (Africa/Nairobi) because that is when the owner's day
starts and ends, whatever the server's clock says. Money is whole KES. The lists behind the
admin pages (payments, sessions, audit) are in ``admin_lists``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Generic, NamedTuple, TypeVar

import peewee

from portal.clock import NAIROBI
from portal.ledger.models import Grant, OutboxItem, Package, Payment, PaymentEvent, UnmatchedCallback
from portal.ledger.queries import active_grants

DUPLICATE_KINDS = ("success_rejected", "duplicate_success_ignored")
# Money by how it came in: M-Pesa (an STK push, or found on the M-Pesa statement) versus
# vouchers (cash at the counter or an agent's float; counted when a voucher is first used).
MPESA_METHODS = ("mpesa", "statement")
VOUCHER_METHODS = ("voucher",)
T = TypeVar("T")


class DayRevenue(NamedTuple):
    day: date
    amount: int
    sales: int  # how many payments


class PackageRevenue(NamedTuple):
    package_id: int
    name: str
    amount: int
    sales: int  # how many payments


class Totals(NamedTuple):
    amount: int
    sales: int  # how many payments


NOTHING = Totals(0, 0)


def day_bounds(start: date, end: date, tz: tzinfo = NAIROBI) -> tuple[datetime, datetime]:
    """UTC instants from local midnight starting ``start`` to local midnight after ``end``."""
    if end < start:
        raise ValueError("end date is before start date")
    lo = datetime.combine(start, time(0), tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return lo, hi


def local_today(now: datetime, tz: tzinfo = NAIROBI) -> date:
    return now.astimezone(tz).date()


def _paid_between(lo: datetime, hi: datetime, methods: tuple[str, ...] | None = None) -> peewee.Expression:
    """Money taken, by the payment methods asked for (all when None).

    A complimentary session (KES 0) is never a sale.
    """
    paid = (
        (Payment.status == "paid")
        & (Payment.paid_at >= lo)
        & (Payment.paid_at < hi)
        & (Payment.method != "complimentary")
    )
    return paid & Payment.method.in_(methods) if methods else paid


def revenue_by_day(
    start: date, end: date, tz: tzinfo = NAIROBI, methods: tuple[str, ...] | None = MPESA_METHODS
) -> list[DayRevenue]:
    """Money taken per local day, ``start`` to ``end`` inclusive; days without sales are 0.

    Bucketed in Python rather than SQL so the time zone rule is the same on SQLite and
    PostgreSQL (neither needs tz data installed).
    """
    lo, hi = day_bounds(start, end, tz)
    buckets = {start + timedelta(days=i): [0, 0] for i in range((end - start).days + 1)}
    rows = Payment.select(Payment.paid_at, Payment.amount).where(_paid_between(lo, hi, methods)).tuples()
    for paid_at, amount in rows:
        bucket = buckets[paid_at.astimezone(tz).date()]
        bucket[0] += amount
        bucket[1] += 1
    return [DayRevenue(day, amount, count) for day, (amount, count) in buckets.items()]


def revenue_by_package(
    start: date, end: date, tz: tzinfo = NAIROBI, methods: tuple[str, ...] | None = MPESA_METHODS
) -> list[PackageRevenue]:
    """Money per package over local days ``start``..``end``, best seller first.

    Active packages that sold nothing are listed with 0 (the owner should see them);
    disabled packages appear only if they sold something in the period.
    """
    lo, hi = day_bounds(start, end, tz)
    sold = {
        pid: (amount, count)
        for pid, amount, count in Payment.select(
            Payment.package, peewee.fn.SUM(Payment.amount), peewee.fn.COUNT(Payment.id)
        )
        .where(_paid_between(lo, hi, methods))
        .group_by(Payment.package)
        .tuples()
    }
    packages = Package.select().where((Package.active == True) | (Package.id.in_(list(sold) or [0])))  # noqa: E712
    result = [
        PackageRevenue(p.id, p.name, int(sold.get(p.id, (0, 0))[0]), int(sold.get(p.id, (0, 0))[1])) for p in packages
    ]
    return sorted(result, key=lambda r: (-r.amount, -r.sales, r.name.lower()))


def totals(start: date, end: date, tz: tzinfo = NAIROBI, methods: tuple[str, ...] | None = MPESA_METHODS) -> Totals:
    """Money taken over local days ``start``..``end`` by ``methods`` (M-Pesa unless told)."""
    lo, hi = day_bounds(start, end, tz)
    amount, count = (
        Payment.select(peewee.fn.COALESCE(peewee.fn.SUM(Payment.amount), 0), peewee.fn.COUNT(Payment.id))
        .where(_paid_between(lo, hi, methods))
        .tuples()
        .get()
    )
    return Totals(int(amount), int(count))


@dataclass(frozen=True)
class Summary:
    """The dashboard's numbers at ``now``."""

    now: datetime
    today: Totals
    last_7_days: Totals
    last_30_days: Totals
    active_sessions: int
    pending_payments: int
    authorize_backlog: int  # paid, router not yet told to let the device in
    revoke_backlog: int  # ended, router not yet told to cut the device off
    oldest_backlog_at: datetime | None
    vouchers_today: Totals = NOTHING  # voucher face value, counted at first use
    vouchers_last_7_days: Totals = NOTHING
    vouchers_last_30_days: Totals = NOTHING

    @property
    def backlog(self) -> int:
        return self.authorize_backlog + self.revoke_backlog


def summary(now: datetime, tz: tzinfo = NAIROBI) -> Summary:
    today = local_today(now, tz)
    open_items = OutboxItem.select().where(OutboxItem.done_at.is_null())
    oldest = open_items.order_by(OutboxItem.created_at).first()
    return Summary(
        now=now,
        today=totals(today, today, tz),
        last_7_days=totals(today - timedelta(days=6), today, tz),
        last_30_days=totals(today - timedelta(days=29), today, tz),
        active_sessions=active_grants(now).where(Grant.starts_at <= now).count(),
        pending_payments=Payment.select().where(Payment.status.in_(("created", "pending"))).count(),
        authorize_backlog=open_items.where(OutboxItem.action == "authorize").count(),
        revoke_backlog=open_items.where(OutboxItem.action == "revoke").count(),
        oldest_backlog_at=oldest.created_at if oldest else None,
        vouchers_today=totals(today, today, tz, VOUCHER_METHODS),
        vouchers_last_7_days=totals(today - timedelta(days=6), today, tz, VOUCHER_METHODS),
        vouchers_last_30_days=totals(today - timedelta(days=29), today, tz, VOUCHER_METHODS),
    )


@dataclass(frozen=True)
class Sample(Generic[T]):
    """How many rows match, and the first few of them (enough to click through)."""

    total: int
    items: list[T]


def _sample(query: peewee.SelectQuery, size: int = 20) -> Sample[Any]:
    return Sample(total=query.count(), items=list(query.limit(size)))


@dataclass(frozen=True)
class MoneyCheck:
    """Money taken versus access given, over a period: every gap listed, not hidden.

    ``paid_without_grant``: money taken, no session created (should never happen).
    ``grant_without_payment``: a session whose payment is not paid (free access).
    ``not_on_router``: live sessions the router has not confirmed ("I paid, no internet").
    ``duplicates``: second successes refused, so nobody was credited twice.
    """

    collected: Totals
    paid_without_grant: Sample[Payment]
    grant_without_payment: Sample[Grant]
    not_on_router: Sample[Grant]
    duplicates: Sample[PaymentEvent]
    rejected_callbacks: int

    @property
    def clean(self) -> bool:
        gaps = (self.paid_without_grant, self.grant_without_payment, self.not_on_router)
        return not any(gap.total for gap in gaps)


def money_check(start: date, end: date, now: datetime, tz: tzinfo = NAIROBI) -> MoneyCheck:
    lo, hi = day_bounds(start, end, tz)
    no_grant = (
        Payment.select()
        .join(Grant, peewee.JOIN.LEFT_OUTER, on=(Grant.payment == Payment.id))
        .where(_paid_between(lo, hi), Grant.id.is_null())
        .order_by(Payment.paid_at.desc())
    )
    unpaid_grants = (
        Grant.select(Grant, Payment)
        .join(Payment)
        .where(Payment.status != "paid", Grant.starts_at >= lo, Grant.starts_at < hi)
        .order_by(Grant.starts_at.desc())
    )
    not_online = active_grants(now).where(Grant.router_state != "online").order_by(Grant.starts_at)
    duplicates = (
        PaymentEvent.select()
        .where(PaymentEvent.kind.in_(DUPLICATE_KINDS), PaymentEvent.at >= lo, PaymentEvent.at < hi)
        .order_by(PaymentEvent.at.desc())
    )
    rejected = (
        UnmatchedCallback.select()
        .where(UnmatchedCallback.received_at >= lo, UnmatchedCallback.received_at < hi)
        .count()
    )
    return MoneyCheck(
        collected=totals(start, end, tz),
        paid_without_grant=_sample(no_grant),
        grant_without_payment=_sample(unpaid_grants),
        not_on_router=_sample(not_online),
        duplicates=_sample(duplicates),
        rejected_callbacks=rejected,
    )
