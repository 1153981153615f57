"""Receipts for the customer: queued when a payment becomes paid, sent by the worker.

Opt-in twice: the venue offers them (``[receipts] enabled`` / ``topup_reminder``) and the
customer ticks the box on the splash page (``payment.receipt_consent``). At most one receipt
per payment and one reminder per session (the queue's unique key, on top of ``mark_paid``
reaching here once per payment), always to the number that paid: the phone the STK push went
to, which M-Pesa confirmed. Vouchers and complimentary time get none (no phone paid).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.domain.deliveries import Message, enqueue
from portal.domain.receipt_texts import RECEIPT, TOPUP
from portal.ledger.models import Grant, Payment

log = logging.getLogger(__name__)


def offered(services: Services) -> bool:
    """Whether the splash page shows the consent box."""
    return services.settings.receipts.offered and "sms" in services.channels


def offer(services: Services) -> str | None:
    """What the consent box offers: ``receipt``, ``reminder``, ``both``, or None (no box)."""
    if not offered(services):
        return None
    r = services.settings.receipts
    return "both" if r.enabled and r.topup_reminder else ("receipt" if r.enabled else "reminder")


def on_paid(services: Services, payment: Payment, grant: Grant) -> None:
    """Queue the receipt and the reminder for a payment that just became paid. Never raises:
    a message must not stand in the way of the customer's session."""
    try:
        _queue(services, payment, grant)
    except Exception:
        log.exception("receipt for payment %s not queued", payment.id)


def _queue(services: Services, payment: Payment, grant: Grant) -> None:
    settings = services.settings.receipts
    if not (payment.receipt_consent and payment.method == "mpesa" and "sms" in services.channels):
        return
    if settings.enabled:
        enqueue(
            services,
            Message(
                key=f"receipt:{payment.id}",
                kind=RECEIPT,
                channel="sms",
                recipient=payment.phone,
                language=payment.language,
                payment_id=payment.id,
                grant_id=grant.id,
            ),
        )
    lead = timedelta(minutes=settings.reminder_minutes)
    ends: datetime = grant.expires_at
    if settings.topup_reminder and timedelta(seconds=payment.package.duration_seconds) > 2 * lead:
        enqueue(
            services,
            Message(
                key=f"topup:{grant.id}",
                kind=TOPUP,
                channel="sms",
                recipient=payment.phone,
                language=payment.language,
                payment_id=payment.id,
                grant_id=grant.id,
                due_at=ends - lead,
            ),
        )
