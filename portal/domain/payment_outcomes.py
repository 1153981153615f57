"""How a payment ends: :func:`mark_paid`, the one door to ``paid``, and :func:`mark_failed`.

Whoever learns the outcome (a callback, an STK Query answer, the owner's re-check, a
statement line, a complimentary session) comes through here. ``paid`` is terminal and wins
over any later failure; the move to it is one conditional UPDATE, so one purchase gives
exactly one grant however many successes arrive. Starting the push is in ``payments``.
"""

from __future__ import annotations

from datetime import timedelta

import peewee

from portal.domain import grants, outbox, receipts
from portal.domain.context import Services
from portal.domain.observe import record_push_outcome
from portal.domain.payments import OPEN_STATES
from portal.ledger.models import Grant, Payment
from portal.ledger.prepared import Prepared, get_by_id
from portal.ledger.timeline import record
from portal.mpesa.results import classify_result

#: Payments STK Query still asks about: waiting, or told "timed out" (not M-Pesa's last word).
QUERY_STATES = ("pending", "timeout")


_MARK_PAID: Prepared[Payment] = Prepared(
    lambda receipt, now, payment_id: Payment.update(
        status="paid", receipt=receipt, paid_at=now, updated_at=now, message_key=None, next_query_at=None
    ).where(Payment.id == payment_id, Payment.status != "paid")
)


def mark_paid(services: Services, payment_id: int, *, receipt: str | None, source: str) -> Grant | None:
    """The one door to ``paid``: atomic, idempotent, grants exactly once."""
    now = services.clock.now()
    try:
        with services.db.atomic():
            changed = _MARK_PAID.run(receipt, now, payment_id)
            if not changed:
                payment = get_by_id(Payment, payment_id)
                if receipt and payment.receipt is None:
                    Payment.update(receipt=receipt).where(Payment.id == payment_id).execute()
                    record(payment_id, "receipt_backfilled", services.clock, receipt=receipt)
                else:
                    record(payment_id, "duplicate_success_ignored", services.clock, source=source)
                return None
            payment = get_by_id(Payment, payment_id)
            grant, login = grants.create_for_payment(services, payment, now)
            record(  # in the same write as the grant
                payment_id,
                "paid",
                services.clock,
                source=source,
                receipt=receipt,
                grant=grant.id,
                expires_at=grant.expires_at.isoformat(),
            )
    except peewee.IntegrityError:
        record(
            payment_id,
            "success_rejected",
            services.clock,
            source=source,
            reason="receipt already credited to another payment",
            receipt=receipt,
        )
        return None
    grants.publish_live(services, grant)
    if payment.method == "mpesa":
        record_push_outcome(services.meters, "paid", "0")
    receipts.on_paid(services, payment, grant)  # only queues a row: sending is the worker's
    services.dispatch(lambda: outbox.run_outbox_item(services, login))
    return grant


def mark_failed(services: Services, payment_id: int, result_code: str, result_desc: str, *, source: str) -> bool:
    """Record a final failure; only an open payment moves. True when it moved."""
    status, key = classify_result(str(result_code))
    now = services.clock.now()
    # A callback saying "timed out" is not M-Pesa's last word (the customer may still have
    # paid): keep asking STK Query. A query's own final answer ends the asking.
    next_query = None
    if status == "timeout" and source == "callback" and payment_checkout_id(payment_id):
        next_query = now + timedelta(seconds=services.settings.mpesa.query_every_seconds)
    changed = (
        Payment.update(
            status=status,
            result_code=str(result_code)[:20],
            result_desc=(result_desc or "")[:200],
            message_key=key,
            next_query_at=next_query,
            updated_at=now,
        )
        .where(Payment.id == payment_id, Payment.status.in_(OPEN_STATES))
        .execute()
    )
    if not changed:
        if source == "query":
            Payment.update(next_query_at=None).where(Payment.id == payment_id, Payment.status == "timeout").execute()
        current = Payment.get_by_id(payment_id).status
        record(
            payment_id,
            "failure_ignored",
            services.clock,
            source=source,
            result_code=str(result_code),
            reason=f"payment already {current}",
        )
    else:
        record(payment_id, status, services.clock, source=source, result_code=str(result_code), result_desc=result_desc)
        record_push_outcome(services.meters, status, str(result_code))
    return bool(changed)


def payment_checkout_id(payment_id: int) -> str | None:
    return Payment.select(Payment.checkout_request_id).where(Payment.id == payment_id).scalar()
