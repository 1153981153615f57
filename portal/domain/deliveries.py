"""The delivery queue: every alert, receipt and reminder is a ledger row first, sent by the worker.

Queueing is one INSERT (the payment code does nothing more), so a gateway that is slow or down
never holds up a payment or a session. :func:`send_due` sends what is due, retries a message
that failed for a reason that may pass (gateway down, timeout) with backoff, and gives a message
up, recorded with its reason, when it cannot succeed (invalid number, refused key) or after
``worker.delivery_give_up_hours``. ``key`` is unique: a message is never queued twice.
Phone numbers and addresses are masked in every log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from portal.domain.context import Services
from portal.domain.observe import DELIVERIES
from portal.domain.receipt_texts import CUSTOMER_KINDS, compose
from portal.ledger.models import Delivery
from portal.notify import DeliveryFailed, Outgoing, mask_email, mask_phone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """What to queue. ``due_at`` None = now."""

    key: str
    kind: str
    channel: str
    recipient: str = ""
    subject: str = ""
    body: str = ""
    event: str = "message"
    severity: str = "info"
    data: Mapping[str, object] | None = None
    language: str = "en"
    payment_id: int | None = None
    grant_id: int | None = None
    due_at: datetime | None = None


def masked(channel: str, recipient: str) -> str:
    if channel == "sms":
        return mask_phone(recipient)
    if channel == "email":
        return mask_email(recipient)
    return "webhook"


def enqueue(services: Services, message: Message) -> bool:
    """Queue ``message`` unless its key is already queued. True when a row was added.

    Runs in a savepoint, so a duplicate key inside the caller's transaction changes nothing else.
    """
    due = message.due_at or services.clock.now()
    try:
        with services.db.atomic():
            Delivery.create(
                key=message.key[:120],
                kind=message.kind,
                channel=message.channel,
                recipient=message.recipient,
                subject=message.subject[:200],
                body=message.body,
                event=message.event[:40],
                severity=message.severity[:12],
                data=json.dumps(dict(message.data or {}), default=str),
                language=message.language,
                payment=message.payment_id,
                grant=message.grant_id,
                next_attempt_at=due,
                created_at=due,  # when the message became due: a reminder waits until then
            )
    except peewee.IntegrityError:
        return False
    log.info(
        "queued %s %s to %s (%s)",
        message.kind,
        message.channel,
        masked(message.channel, message.recipient),
        message.key,
    )
    return True


def _outgoing(row: Delivery) -> Outgoing:
    data = json.loads(row.data or "{}")
    return Outgoing(
        channel=row.channel,
        to=row.recipient,
        subject=row.subject,
        body=row.body,
        reference=f"{row.kind}-{row.id}",
        data=data if isinstance(data, dict) else {},
        event=row.event,
        severity=row.severity,
    )


def _backoff(services: Services, attempts: int) -> timedelta:
    worker = services.settings.worker
    delay = worker.delivery_base_delay_seconds * 2 ** max(min(attempts, 20) - 1, 0)
    return timedelta(seconds=min(delay, worker.delivery_max_delay_seconds))


def send_due(services: Services, limit: int = 100) -> int:
    """Send every message whose time has come. Returns how many were sent."""
    now = services.clock.now()
    due = list(
        Delivery.select(Delivery.id, Delivery.channel)
        .where(Delivery.status == "queued", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    sent = 0
    down: set[str] = set()
    for row in due:
        if row.channel in down:
            continue
        with services.live.try_locks([f"delivery:{row.id}"]) as locked:
            if not locked:
                continue
            outcome = _send_one(services, row.id)
        if outcome == "sent":
            sent += 1
        elif outcome == "channel_down":
            down.add(row.channel)
    return sent


def _send_one(services: Services, row_id: int) -> str:
    now = services.clock.now()
    row = Delivery.get_or_none((Delivery.id == row_id) & (Delivery.status == "queued"))
    if row is None:
        return "gone"
    channel = services.channels.get(row.channel)
    if channel is None:
        return _finish(services, row, "failed", f"the {row.channel} channel is not configured")
    # Receipts and reminders are written now (the grant may have changed since they were
    # queued): an Outgoing, None to cancel, or a later time to look again.
    customer = row.kind in CUSTOMER_KINDS
    try:
        message = compose(services, row) if customer else _outgoing(row)
    except ValueError as err:  # an unsendable text or recipient: retrying cannot fix it
        return _finish(services, row, "failed", f"not sendable: {err}")
    if message is None:
        return _finish(services, row, "cancelled", "no longer needed")
    if isinstance(message, datetime):
        Delivery.update(next_attempt_at=message).where(Delivery.id == row.id).execute()
        return "later"
    if customer:  # keep what the customer was sent, for the admin and for support calls
        Delivery.update(body=message.body, subject=message.subject).where(Delivery.id == row.id).execute()
    try:
        delivery = channel.send(message)
    except DeliveryFailed as err:
        return _failed(services, row, err, now)
    Delivery.update(
        status="sent", sent_at=now, attempts=row.attempts + 1, provider_id=delivery.provider_id, last_error=""
    ).where(Delivery.id == row.id).execute()
    services.meters.inc(DELIVERIES.name, {"channel": row.channel, "kind": row.kind, "result": "sent"})
    log.info("sent %s %s to %s (%s)", row.kind, row.channel, masked(row.channel, row.recipient), row.key)
    return "sent"


def _failed(services: Services, row: Delivery, err: DeliveryFailed, now: datetime) -> str:
    attempts = row.attempts + 1
    created: datetime = row.created_at
    give_up_at = created + timedelta(hours=services.settings.worker.delivery_give_up_hours)
    reason = f"{err.code or 'error'}: {err.message}"[:300]
    if not err.retryable or now >= give_up_at:
        Delivery.update(attempts=attempts).where(Delivery.id == row.id).execute()
        return _finish(services, row, "failed", reason)
    Delivery.update(attempts=attempts, next_attempt_at=now + _backoff(services, attempts), last_error=reason).where(
        Delivery.id == row.id
    ).execute()
    services.meters.inc(DELIVERIES.name, {"channel": row.channel, "kind": row.kind, "result": "retry"})
    log.warning(
        "%s %s to %s failed (attempt %d), will retry: %s",
        row.kind,
        row.channel,
        masked(row.channel, row.recipient),
        attempts,
        reason,
    )
    # A failure worth retrying usually means the gateway or server is down, not this one
    # message: leave the channel alone for the rest of this pass instead of waiting out one
    # timeout per queued message (the others are tried again on the next pass).
    return "channel_down"


def _finish(services: Services, row: Delivery, status: str, reason: str) -> str:
    Delivery.update(status=status, last_error=reason[:300]).where(Delivery.id == row.id).execute()
    if status == "failed":
        services.meters.inc(DELIVERIES.name, {"channel": row.channel, "kind": row.kind, "result": "gave_up"})
        log.warning("gave up %s %s to %s: %s", row.kind, row.channel, masked(row.channel, row.recipient), reason)
    return status


def queued_count(services: Services) -> int:
    now = services.clock.now()
    return Delivery.select().where(Delivery.status == "queued", Delivery.created_at <= now).count()
