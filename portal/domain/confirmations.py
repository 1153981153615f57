"""How a payment gets confirmed: Daraja's callback, or our own STK Query when it is late.

Callbacks are unsigned and the people on the Wi-Fi can post them, so a callback moves a
payment only when it matches a pending push exactly (and, with ``verify_by_query``, after
STK Query agrees). Anything else is kept in the unmatched-callback log and grants nothing.
The worker polls STK Query for payments still open, so a venue with no inbound callback
at all still gets its customers online.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from portal.config import MpesaSettings
from portal.domain.context import Services
from portal.domain.observe import record_callback_delay, record_push_outcome
from portal.domain.payment_outcomes import QUERY_STATES, mark_failed, mark_paid
from portal.ledger.models import FINAL_FAILURES, Payment, UnmatchedCallback
from portal.ledger.prepared import Prepared
from portal.ledger.timeline import record
from portal.mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback
from portal.mpesa.errors import DarajaError

log = logging.getLogger(__name__)


def _unmatched(
    services: Services, source_ip: str, reason: str, body: bytes | str, checkout_id: str | None = None
) -> str:
    """Keep a callback that matched nothing, for the owner to see; grant nothing."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    UnmatchedCallback.create(
        received_at=services.clock.now(),
        source_ip=source_ip[:45],
        reason=reason[:200],
        checkout_request_id=checkout_id[:80] if checkout_id else None,
        body=text[:4000],
    )
    log.info("callback from %s not accepted: %s", source_ip, reason)
    return reason


_BY_CHECKOUT_ID: Prepared[Payment] = Prepared(
    lambda checkout_id: Payment.select().where(Payment.checkout_request_id == checkout_id).limit(1)
)
_RECEIPT_ELSEWHERE: Prepared[Payment] = Prepared(
    lambda receipt, payment_id: (
        Payment.select(Payment.id).where(Payment.receipt == receipt, Payment.id != payment_id).limit(1)
    )
)


def handle_callback(services: Services, body: bytes, source_ip: str) -> str:
    """Take in a Daraja callback. Never raises for bad input; returns what happened."""
    try:
        cb = parse_stk_callback(body, max_bytes=services.settings.portal.max_body_bytes)
    except MalformedCallback as err:
        return _unmatched(services, source_ip, f"malformed: {err.reason}", body)
    payment = _BY_CHECKOUT_ID.first(cb.checkout_request_id)
    if payment is None:
        payment = _adopt(services, cb)
    if payment is None:
        return _unmatched(services, source_ip, "unknown CheckoutRequestID", body, cb.checkout_request_id)
    detail = {
        "result_code": cb.result_code,
        "result_desc": cb.result_desc,
        "receipt": cb.receipt,
        "amount": str(cb.amount) if cb.amount is not None else None,
        "source_ip": source_ip,
    }
    if cb.merchant_request_id != payment.merchant_request_id:
        record(payment.id, "callback_rejected", services.clock, reason="MerchantRequestID does not match", **detail)
        return _unmatched(services, source_ip, "MerchantRequestID does not match", body, cb.checkout_request_id)
    record(payment.id, "callback", services.clock, **detail)
    if payment.status in ("created", "pending"):  # the first answer, not a duplicate
        record_callback_delay(services, payment.id)
    if not cb.succeeded:
        mark_failed(services, payment.id, cb.result_code, cb.result_desc, source="callback")
        return "failure recorded"
    problem = _success_problem(payment, cb)
    if problem:
        record(payment.id, "callback_rejected", services.clock, reason=problem, **detail)
        return _unmatched(services, source_ip, problem, body, cb.checkout_request_id)
    if payment.status == "paid":
        mark_paid(services, payment.id, receipt=cb.receipt, source="callback")
        return "duplicate"
    reason = _why_confirm_by_query(services, payment, cb)
    if reason:
        record(payment.id, "confirming_by_query", services.clock, reason=reason)
        if not _confirmed_by_query(services, payment):
            return "awaiting confirmation by query"
    mark_paid(services, payment.id, receipt=cb.receipt, source="callback")
    return "paid"


def _why_confirm_by_query(services: Services, payment: Payment, cb: StkCallback) -> str | None:
    """Why this success callback may not grant on its own word, or None when it may.

    Callbacks are unsigned: a success is taken alone only when it matches everything we
    can check. A number we cannot compare, or a payment that already ended (cancelled,
    failed, timed out), needs M-Pesa's own answer first.
    """
    if services.settings.mpesa.verify_success_by_query:
        return "verify_by_query is on"
    if cb.phone_uncomparable:
        return "phone number in the callback cannot be compared"
    if payment.status in FINAL_FAILURES:
        return f"payment had ended as {payment.status}"
    return None


ADOPT_WINDOW_SECONDS = 600


def _adopt(services: Services, cb: StkCallback) -> Payment | None:
    """Match a callback whose push answer we never stored (read timeout, or the callback
    raced ahead of the answer) by phone and amount, and only if STK Query confirms the id.
    """
    if not (cb.phone and cb.amount is not None and cb.amount == cb.amount.to_integral_value()):
        return None
    since = services.clock.now() - timedelta(seconds=ADOPT_WINDOW_SECONDS)
    candidate = (
        Payment.select()
        .where(
            Payment.checkout_request_id.is_null(),
            Payment.phone == cb.phone,
            Payment.amount == int(cb.amount),
            Payment.created_at > since,
            (Payment.status == "created") | (Payment.message_key == "mpesa_timeout_unknown"),
        )
        .order_by(Payment.created_at.desc())
        .first()
    )
    if candidate is None:
        return None
    try:
        result = services.gateway.stk_query(cb.checkout_request_id)
    except DarajaError as err:
        record(candidate.id, "adopt_refused", services.clock, error=err.key, checkout_request_id=cb.checkout_request_id)
        return None
    if result.merchant_request_id not in (None, "", cb.merchant_request_id):
        return None
    changed = (
        Payment.update(
            checkout_request_id=cb.checkout_request_id,
            merchant_request_id=cb.merchant_request_id,
            status="pending",
            message_key=None,
            updated_at=services.clock.now(),
        )
        .where(Payment.id == candidate.id, Payment.checkout_request_id.is_null())
        .execute()
    )
    if not changed:
        return None
    record(candidate.id, "adopted_callback", services.clock, checkout_request_id=cb.checkout_request_id)
    return Payment.get_by_id(candidate.id)


def _success_problem(payment: Payment, cb: StkCallback) -> str | None:
    if cb.amount is None or cb.amount != Decimal(payment.amount):
        return f"amount {cb.amount} does not match {payment.amount}"
    if cb.phone and cb.phone != payment.phone:
        return "phone number does not match"
    if cb.receipt and _RECEIPT_ELSEWHERE.first(cb.receipt, payment.id) is not None:
        return "receipt already credited to another payment"
    return None


def _confirmed_by_query(services: Services, payment: Payment) -> bool:
    try:
        result = services.gateway.stk_query(payment.checkout_request_id)
    except DarajaError as err:
        record(payment.id, "query_error", services.clock, error=err.key, message=err.message)
        return False
    record(
        payment.id,
        "query",
        services.clock,
        pending=result.pending,
        result_code=result.result_code,
        purpose="confirm callback",
    )
    return (not result.pending) and result.result_code == "0"


#: The STK Query job's two reads, composed once: the job runs every few seconds (in the soak,
#: twice a tick), and composing them took longer than SQLite took to answer.
_DUE_FOR_QUERY: Prepared[Payment] = Prepared(
    lambda now, limit: (
        Payment.select()
        .where(
            Payment.status.in_(QUERY_STATES), Payment.next_query_at <= now, Payment.checkout_request_id.is_null(False)
        )
        .order_by(Payment.next_query_at)
        .limit(limit)
    )
)
_CREATED_BEFORE: Prepared[Payment] = Prepared(
    lambda before: Payment.select(Payment.id).where(Payment.status == "created", Payment.created_at < before)
)


def poll_open_payments(services: Services, limit: int = 50) -> int:
    """Ask Daraja about payments still open (lost callbacks, no callback URL). Returns count."""
    now = services.clock.now()
    m = services.settings.mpesa
    due = _DUE_FOR_QUERY.rows(now, limit)
    for payment in due:
        _poll_one(services, payment, now, m)
    return len(due) + _fail_stale_created(services, now)


def _fail_stale_created(services: Services, now: datetime) -> int:
    """A push that never got an answer (crash, cut link) must not block the phone forever."""
    stale = _CREATED_BEFORE.rows(now - timedelta(seconds=ADOPT_WINDOW_SECONDS))
    for payment in stale:
        if (
            Payment.update(status="failed", message_key="mpesa_timeout_unknown", updated_at=now)
            .where(Payment.id == payment.id, Payment.status == "created")
            .execute()
        ):
            record(payment.id, "push_unanswered", services.clock)
            record_push_outcome(services.meters, "failed", "unanswered")
    return len(stale)


def _poll_one(services: Services, payment: Payment, now: datetime, m: MpesaSettings) -> None:
    attempts = payment.query_attempts + 1
    age = (now - payment.created_at).total_seconds()
    try:
        result = services.gateway.stk_query(payment.checkout_request_id)
    except DarajaError as err:  # throttled or down: back off whatever the age
        delay = min(m.query_every_seconds * 2 ** min(attempts, 6), m.query_max_interval_seconds)
        _query_again(payment, attempts, now, delay)
        record(payment.id, "query_error", services.clock, error=err.key, message=err.message)
        return
    record(
        payment.id,
        "query",
        services.clock,
        pending=result.pending,
        result_code=result.result_code,
        result_desc=result.result_desc,
    )
    if not result.pending and result.result_code == "0":
        mark_paid(services, payment.id, receipt=None, source="query")
        return
    if not result.pending:
        mark_failed(services, payment.id, result.result_code or "", result.result_desc or "", source="query")
        return
    if result.result_code is not None and payment.status == "pending":
        # M-Pesa answered, but not with an outcome (4999 "still under processing"): tell
        # the customer we are still confirming, never "failed".
        Payment.update(message_key="mpesa_still_confirming").where(
            Payment.id == payment.id, Payment.status == "pending"
        ).execute()
    if payment.status == "pending" and age >= m.give_up_after_seconds:
        Payment.update(status="timeout", message_key="payment_unconfirmed", updated_at=now).where(
            Payment.id == payment.id, Payment.status == "pending"
        ).execute()
        record(payment.id, "timeout", services.clock, after_seconds=int(age))
        record_push_outcome(services.meters, "timeout", "unconfirmed")
    if age >= m.query_for_hours * 3600:
        Payment.update(next_query_at=None).where(Payment.id == payment.id).execute()
        record(payment.id, "query_stopped", services.clock, after_hours=m.query_for_hours)
        return
    _query_again(payment, attempts, now, _backoff(m, attempts, age))


def _backoff(m: MpesaSettings, attempts: int, age: float) -> float:
    """Seconds until the next STK Query: steady while the prompt can still be answered,
    then doubling up to ``query_max_interval_seconds`` for the rest of ``query_for_hours``."""
    if age < m.give_up_after_seconds:
        return m.query_every_seconds
    late_attempts = max(attempts - int(m.give_up_after_seconds / m.query_every_seconds), 0)
    return min(max(m.query_every_seconds, 60) * 2 ** min(late_attempts, 10), m.query_max_interval_seconds)


def _query_again(payment: Payment, attempts: int, now: datetime, delay: float) -> None:
    Payment.update(query_attempts=attempts, next_query_at=now + timedelta(seconds=delay)).where(
        Payment.id == payment.id
    ).execute()
