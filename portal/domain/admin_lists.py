"""The lists behind the admin pages: payments (filters, the query, one payment's story), live
sessions, the audit log, unmatched callbacks and each router's backlog.

Plain functions over the ledger (no Flask): views parse input and call these. Admin days are
local (Africa/Nairobi) days, as in ``reports``. Views read ``PAYMENT_STATES``, ``PER_PAGE`` and
``Page`` from here: they never import the ledger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

import peewee

from portal.clock import NAIROBI
from portal.domain.errors import BadInput
from portal.domain.event_labels import event_label
from portal.domain.reports import day_bounds
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
from portal.ledger.queries import PER_PAGE, Page, active_grants, paginate
from router import Router, RouterError

MAX_PAGE = 100_000
# Days the admin may ask about. Far wider than any ledger, narrow enough that the local
# midnight before and after every day is a valid datetime (0001-01-01 and 9999-12-31 are not).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


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
    return paginate(payments_query(filters, tz), filters.page, per_page)


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
    return paginate(AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc()), page)


def unmatched_page(page: int = 1) -> Page[UnmatchedCallback]:
    query = UnmatchedCallback.select().order_by(UnmatchedCallback.received_at.desc(), UnmatchedCallback.id.desc())
    return paginate(query, page)


def router_backlog(router: str) -> tuple[int, str]:
    """Router operations still waiting for ``router`` and the last error any of them saw."""
    waiting = OutboxItem.select().where(OutboxItem.router == router, OutboxItem.done_at.is_null())
    last = waiting.where(OutboxItem.last_error != "").order_by(OutboxItem.next_attempt_at.desc()).first()
    return waiting.count(), (last.last_error if last else "")


def active_count(router: str, now: datetime) -> int:
    return active_grants(now).where(Grant.router == router).count()


def device_on_router(router: Router | None, mac: str) -> tuple[bool | None, str]:
    """Ask the router now whether ``mac`` is logged in: (True/False, "") or (None, why not)."""
    if router is None:
        return None, "this router is not in the configuration"
    try:
        return any(s.mac == mac for s in router.active_sessions()), ""
    except RouterError as err:
        return None, err.message
