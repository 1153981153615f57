"""The figures the owner's alerts judge by, read from the ledger and the shared meters.

:mod:`portal.domain.alerts` (the worker) and :mod:`portal.domain.metrics` (``/metrics``)
both call these, so an alert in the admin and the same rule in Prometheus see the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import fn

from portal.config.notify_settings import AlertSettings
from portal.domain.context import Services
from portal.domain.observe import DARAJA_SERIES
from portal.ledger.models import FINAL_FAILURES, Delivery, Grant, OutboxItem, Payment, PaymentEvent

FINISHED = ("paid", *FINAL_FAILURES)


@dataclass(frozen=True)
class Share:
    """``part`` of ``total``; ``ratio`` is None when there is nothing to judge."""

    part: int
    total: int

    @property
    def ratio(self) -> float | None:
        return self.part / self.total if self.total else None

    @property
    def percent(self) -> float:
        return 100.0 * (self.ratio or 0.0)


def payment_success(window: int) -> Share:
    """Paid out of the last ``window`` M-Pesa pushes that have ended (refused ones included)."""
    statuses = [
        status
        for (status,) in Payment.select(Payment.status)
        .where(Payment.method == "mpesa", Payment.status.in_(FINISHED))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(window)
        .tuples()
    ]
    return Share(sum(1 for status in statuses if status == "paid"), len(statuses))


@dataclass(frozen=True)
class DarajaCalls:
    ok: int
    slow: int
    errors: int

    @property
    def total(self) -> int:
        return self.ok + self.slow + self.errors


def daraja_calls(services: Services, window_minutes: int) -> DarajaCalls:
    """Daraja pushes and queries of the last ``window_minutes``, from every process."""
    since = services.clock.now() - timedelta(minutes=window_minutes)
    seen = services.meters.recent(DARAJA_SERIES, since)
    return DarajaCalls(ok=seen["ok"], slow=seen["slow"], errors=seen["error"])


def pushes_without_callback(services: Services, settings: AlertSettings) -> Share:
    """Of the last ``callback_window`` pushes that STK Query settled, how many never got a
    callback. All of them means the callback URL is broken while Daraja itself answers."""
    grace = timedelta(seconds=services.settings.mpesa.give_up_after_seconds)
    old_enough = services.clock.now() - grace
    candidates = list(
        Payment.select(Payment.id)
        .where(
            Payment.method == "mpesa",
            Payment.checkout_request_id.is_null(False),
            Payment.created_at <= old_enough,
        )
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(settings.callback_window * 4)
        .tuples()
    )
    ids = [pid for (pid,) in candidates]
    if not ids:
        return Share(0, 0)
    events = (
        PaymentEvent.select(PaymentEvent.payment, PaymentEvent.kind, PaymentEvent.detail)
        .where(PaymentEvent.payment.in_(ids), PaymentEvent.kind.in_(("callback", "query")))
        .tuples()
    )
    called_back: set[int] = set()
    settled: set[int] = set()
    for payment_id, kind, detail in events:
        if kind == "callback":
            called_back.add(payment_id)
        elif _query_settled(detail):
            settled.add(payment_id)
    judged = [pid for pid in ids if pid in settled or pid in called_back][: settings.callback_window]
    return Share(sum(1 for pid in judged if pid not in called_back), len(judged))


def _query_settled(detail: str) -> bool:
    try:
        data = json.loads(detail or "{}")
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("pending") is False


@dataclass(frozen=True)
class Backlog:
    waiting: int
    oldest_age_seconds: float


def router_outbox(now: datetime) -> Backlog:
    waiting, oldest = (
        OutboxItem.select(fn.COUNT(OutboxItem.id), fn.MIN(OutboxItem.created_at))
        .where(OutboxItem.done_at.is_null())
        .tuples()
        .get()
    )
    return Backlog(int(waiting or 0), _age(now, oldest))


def delivery_queue(now: datetime) -> Backlog:
    """Messages due and not yet sent (a reminder counts from the moment it is due)."""
    waiting, oldest = (
        Delivery.select(fn.COUNT(Delivery.id), fn.MIN(Delivery.created_at))
        .where(Delivery.status == "queued", Delivery.created_at <= now)
        .tuples()
        .get()
    )
    return Backlog(int(waiting or 0), _age(now, oldest))


def _age(now: datetime, oldest: object) -> float:
    if oldest is None:
        return 0.0
    moment = Delivery.created_at.python_value(oldest)
    return max((now - moment).total_seconds(), 0.0) if isinstance(moment, datetime) else 0.0


def live_sessions(now: datetime) -> dict[str, int]:
    rows = (
        Grant.select(Grant.router, fn.COUNT(Grant.id))
        .where(Grant.status == "active", Grant.expires_at > now)
        .group_by(Grant.router)
        .tuples()
    )
    return {router: int(count) for router, count in rows}
