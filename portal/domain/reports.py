"""What the venue owner reads: revenue, reconciliation, and the ledger lists behind the admin.

Plain functions over the ledger (no Flask): views parse input and call these. Days are
counted in the venue's time zone (Africa/Nairobi) because that is when the owner's day
starts and ends, whatever the server's clock says. Money is whole KES.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Generic, NamedTuple, TypeVar

import peewee

from portal.clock import NAIROBI
from portal.domain.errors import BadInput
from portal.domain.event_labels import event_label
from portal.ledger.models import (
    PAYMENT_STATES,
    AuditLog,
    Grant,
    OutboxItem,
    Package,
    Payment,
    PaymentEvent,
    UnmatchedCallback,
)
from router import Router, RouterError

PER_PAGE = 50
MAX_PAGE = 100_000
# Days the admin may ask about. Far wider than any ledger, narrow enough that the local
# midnight before and after every day is a valid datetime (0001-01-01 and 9999-12-31 are not).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
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
        active_sessions=_active_grants(now).where(Grant.starts_at <= now).count(),
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
class Reconciliation:
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


def reconciliation(start: date, end: date, now: datetime, tz: tzinfo = NAIROBI) -> Reconciliation:
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
    not_online = _active_grants(now).where(Grant.router_state != "online").order_by(Grant.starts_at)
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
    return Reconciliation(
        collected=totals(start, end, tz),
        paid_without_grant=_sample(no_grant),
        grant_without_payment=_sample(unpaid_grants),
        not_on_router=_sample(not_online),
        duplicates=_sample(duplicates),
        rejected_callbacks=rejected,
    )


# -- lists behind the admin pages --------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    total: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _paginate(query: peewee.SelectQuery, page: int, per_page: int = PER_PAGE) -> Page[Any]:
    return Page(items=list(query.paginate(page, per_page)), page=page, total=query.count(), per_page=per_page)


@dataclass(frozen=True)
class PaymentFilters:
    status: str = ""
    phone: str = ""  # digits, matched anywhere in the stored 2547... number
    receipt: str = ""
    mac: str = ""
    date_from: date | None = None  # local (Nairobi) days, inclusive
    date_to: date | None = None
    page: int = 1

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filters as query-string values (for paging links), empty ones left out."""
        values = {
            "status": self.status,
            "phone": self.phone,
            "receipt": self.receipt,
            "mac": self.mac,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def parse_payment_filters(raw: Mapping[str, str]) -> PaymentFilters:
    """Turn query-string text into filters; BadInput("payment_filters", problems=[...])."""
    problems: list[str] = []
    get = lambda key: str(raw.get(key) or "").strip()  # noqa: E731 - every field is bounded below
    status = get("status").lower()
    if status and status not in PAYMENT_STATES:
        problems.append(f"status must be one of: {', '.join(PAYMENT_STATES)}")
    phone = re.sub(r"[\s\-()]", "", get("phone"))
    if phone.startswith("+"):
        phone = phone[1:]
    if phone and not re.fullmatch(r"[0-9]+", phone):
        problems.append("phone may only contain digits")
    elif len(phone) > 12:
        problems.append("phone may have at most 12 digits")
    elif phone.startswith("0"):
        phone = "254" + phone[1:]  # people type 0712..., the ledger holds 254712...
    receipt = get("receipt").upper()
    if receipt and not re.fullmatch(r"[A-Z0-9]{1,20}", receipt):
        problems.append("receipt may only contain letters and digits")
    mac = get("mac").upper().replace("-", ":")
    if mac and not re.fullmatch(r"[0-9A-F:]{1,17}", mac):
        problems.append("device MAC may only contain hex digits and colons")
    dates: dict[str, date | None] = {}
    for key, name in (("from", "from date"), ("to", "to date")):
        dates[key] = None
        try:
            dates[key] = parse_day(get(key), name)
        except BadInput as err:
            problems.extend(err.params["problems"])
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        problems.append("from date is after to date")
    page_text = get("page") or "1"
    if not (re.fullmatch(r"[0-9]{1,6}", page_text) and 1 <= int(page_text) <= MAX_PAGE):
        problems.append("page must be a whole number from 1")
    if problems:
        raise BadInput("payment_filters", problems=problems)
    return PaymentFilters(status, phone, receipt, mac, dates["from"], dates["to"], int(page_text))


def parse_day(text: str, name: str) -> date | None:
    """A day typed by the admin (``2026-03-01``), None when empty; bounded to FIRST_DAY..LAST_DAY."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        day = None
    if day is None:
        raise BadInput("bad_day", problems=[f"{name} must be a date like 2026-03-01"])
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput("bad_day", problems=[f"{name} must be between {FIRST_DAY} and {LAST_DAY}"])
    return day


def find_payments(filters: PaymentFilters, tz: tzinfo = NAIROBI, per_page: int = PER_PAGE) -> Page[Payment]:
    """Payments matching ``filters``, newest first, one page of them."""
    return _paginate(payments_query(filters, tz), filters.page, per_page)


def payments_query(filters: PaymentFilters, tz: tzinfo = NAIROBI) -> peewee.SelectQuery:
    """Every payment matching ``filters`` (all pages), newest first: the list and its export."""
    query = Payment.select(Payment, Package).join(Package)
    if filters.status:
        query = query.where(Payment.status == filters.status)
    if filters.phone:
        query = query.where(Payment.phone.contains(filters.phone))
    if filters.receipt:
        query = query.where(Payment.receipt.contains(filters.receipt))
    if filters.mac:
        query = query.where(Payment.mac.contains(filters.mac))
    if filters.date_from:
        query = query.where(Payment.created_at >= day_bounds(filters.date_from, filters.date_from, tz)[0])
    if filters.date_to:
        query = query.where(Payment.created_at < day_bounds(filters.date_to, filters.date_to, tz)[1])
    return query.order_by(Payment.created_at.desc(), Payment.id.desc())


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    label: str
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class PaymentStory:
    """Everything about one payment, for the owner on the phone with a customer."""

    payment: Payment
    timeline: list[TimelineEntry]
    grant: Grant | None
    outbox: list[OutboxItem] = field(default_factory=list)


def readable_detail(data: Mapping[str, Any], tz: tzinfo = NAIROBI) -> list[tuple[str, str]]:
    """An event's JSON detail as sorted (name, text) pairs; timestamps shown in local time."""
    pairs = []
    for key in sorted(data):
        value = data[key]
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            text = json.dumps(value, sort_keys=True, default=str)
        else:
            text = str(value)
            try:
                moment = datetime.fromisoformat(text) if "T" in text else None
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                text = moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        pairs.append((str(key).replace("_", " "), text if len(text) <= 300 else text[:299] + "…"))
    return pairs


def payment_story(payment_id: int, tz: tzinfo = NAIROBI) -> PaymentStory | None:
    payment = Payment.select(Payment, Package).join(Package).where(Payment.id == payment_id).first()
    if payment is None:
        return None
    events = PaymentEvent.select().where(PaymentEvent.payment == payment).order_by(PaymentEvent.at, PaymentEvent.id)
    timeline = [TimelineEntry(e.at, e.kind, event_label(e.kind), readable_detail(e.detail_data, tz)) for e in events]
    grant = Grant.get_or_none(Grant.payment == payment)
    outbox = list(OutboxItem.select().where(OutboxItem.grant == grant).order_by(OutboxItem.id)) if grant else []
    return PaymentStory(payment, timeline, grant, outbox)


def _active_grants(now: datetime) -> peewee.SelectQuery:
    return Grant.select().where(Grant.status == "active", Grant.expires_at > now)


@dataclass(frozen=True)
class LiveSessionRow:
    grant: Grant
    seconds_left: int
    starts_in: int  # > 0 for a purchase stacked after the device's current one


def live_sessions(now: datetime) -> list[LiveSessionRow]:
    """Active grants (including those already due but not yet swept), soonest end first."""
    query = (
        Grant.select(Grant, Package, Payment)
        .join(Package, on=(Grant.package == Package.id))
        .switch(Grant)
        .join(Payment, on=(Grant.payment == Payment.id))
        .where(Grant.status == "active")
        .order_by(Grant.expires_at, Grant.id)
    )
    return [
        LiveSessionRow(
            g, max(0, int((g.expires_at - now).total_seconds())), max(0, int((g.starts_at - now).total_seconds()))
        )
        for g in query
    ]


def audit_page(page: int = 1) -> Page[AuditLog]:
    return _paginate(AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc()), page)


def unmatched_page(page: int = 1) -> Page[UnmatchedCallback]:
    query = UnmatchedCallback.select().order_by(UnmatchedCallback.received_at.desc(), UnmatchedCallback.id.desc())
    return _paginate(query, page)


def router_backlog(router: str) -> tuple[int, str]:
    """Router operations still waiting for ``router`` and the last error any of them saw."""
    waiting = OutboxItem.select().where(OutboxItem.router == router, OutboxItem.done_at.is_null())
    last = waiting.where(OutboxItem.last_error != "").order_by(OutboxItem.next_attempt_at.desc()).first()
    return waiting.count(), (last.last_error if last else "")


def active_count(router: str, now: datetime) -> int:
    return _active_grants(now).where(Grant.router == router).count()


def device_on_router(router: Router | None, mac: str) -> tuple[bool | None, str]:
    """Ask the router now whether ``mac`` is logged in: (True/False, "") or (None, why not)."""
    if router is None:
        return None, "this router is not in the configuration"
    try:
        return any(s.mac == mac for s in router.active_sessions()), ""
    except RouterError as err:
        return None, err.message
