"""Stuck payments: ask M-Pesa now (STK Query), one payment or every one stuck for a while.

A customer at the counter says "I paid but I am not online": the owner presses "Check with
M-Pesa now". The answer goes on the payment's timeline; a success grants through the one
door to ``paid`` (:func:`portal.domain.payment_outcomes.mark_paid`), so it can never grant twice.
A bulk re-check is a :class:`~portal.ledger.models.RecheckRun` row holding the payments it
covers and how far it got, so any web process (or the CLI) can show its progress.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from portal.domain.accounts import audit
from portal.domain.context import Services
from portal.domain.errors import BadInput, NotFound
from portal.domain.payment_outcomes import QUERY_STATES, mark_failed, mark_paid
from portal.ledger.models import Payment, RecheckRun
from portal.ledger.timeline import record
from portal.mpesa.errors import DarajaError

STUCK_STATES = ("created", *QUERY_STATES)  # waiting for M-Pesa, or told "not confirmed yet"
MAX_RUN = 1000  # payments in one bulk re-check; run it again for more
MIN_OLDER_THAN = 60
MAX_OLDER_THAN = 30 * 86400


@dataclass(frozen=True)
class CheckResult:
    """What one check found: ``outcome`` is paid, failed, pending, error, already_paid or no_push."""

    payment_id: int
    outcome: str
    detail: str = ""


def check_now(services: Services, payment_id: int, *, actor: str) -> CheckResult:
    """Ask M-Pesa how this payment ended; record the answer; grant if it was paid."""
    payment = Payment.get_or_none(Payment.id == payment_id)
    if payment is None:
        raise NotFound("payment_not_found")
    result = _check(services, payment, actor)
    audit(actor, "payment.check", services.clock, payment=payment.id, outcome=result.outcome, detail=result.detail)
    return result


def _check(services: Services, payment: Payment, actor: str) -> CheckResult:
    if payment.status == "paid":
        return CheckResult(payment.id, "already_paid", "already paid; nothing to ask")
    if payment.method != "mpesa" or not payment.checkout_request_id:
        return CheckResult(payment.id, "no_push", "M-Pesa never accepted a prompt for this payment; nothing to ask")
    try:
        answer = services.gateway.stk_query(payment.checkout_request_id)
    except DarajaError as err:
        record(payment.id, "query_error", services.clock, error=err.key, message=err.message, checked_by=actor)
        return CheckResult(payment.id, "error", f"M-Pesa did not answer: {err.message}")
    record(
        payment.id,
        "query",
        services.clock,
        pending=answer.pending,
        result_code=answer.result_code,
        result_desc=answer.result_desc,
        checked_by=actor,
    )
    if answer.pending:
        return CheckResult(payment.id, "pending", "M-Pesa is still processing it")
    if answer.result_code == "0":
        grant = mark_paid(services, payment.id, receipt=None, source=f"check by {actor}")
        if grant is None and Payment.get_by_id(payment.id).status != "paid":
            return CheckResult(payment.id, "error", "M-Pesa says paid, but the payment could not be credited")
        return CheckResult(payment.id, "paid", "M-Pesa says paid: the session was granted")
    mark_failed(services, payment.id, answer.result_code or "", answer.result_desc or "", source="query")
    return CheckResult(payment.id, "failed", f"M-Pesa says {answer.result_code}: {answer.result_desc or ''}".strip())


def stuck_payment_ids(services: Services, older_than_seconds: int) -> list[int]:
    """Payments still open or unconfirmed that started more than ``older_than_seconds`` ago, oldest first."""
    if not MIN_OLDER_THAN <= older_than_seconds <= MAX_OLDER_THAN:
        raise BadInput("recheck_age", problems=["choose between 1 minute and 30 days"])
    before = services.clock.now() - timedelta(seconds=older_than_seconds)
    query = (
        Payment.select(Payment.id)
        .where(
            Payment.status.in_(STUCK_STATES),
            Payment.method == "mpesa",
            Payment.created_at <= before,
        )
        .order_by(Payment.created_at, Payment.id)
        .limit(MAX_RUN)
        .tuples()
    )
    return [pid for (pid,) in query]


def start_run(services: Services, *, older_than_seconds: int, actor: str) -> RecheckRun:
    """Fix the list of payments to re-check; :func:`run` works through it."""
    ids = stuck_payment_ids(services, older_than_seconds)
    now = services.clock.now()
    run_row = RecheckRun.create(
        started_at=now,
        updated_at=now,
        finished_at=now if not ids else None,
        actor=actor[:40],
        older_than_seconds=older_than_seconds,
        payment_ids=json.dumps(ids),
        total=len(ids),
    )
    audit(
        actor, "payments.recheck", services.clock, run=run_row.id, older_than_seconds=older_than_seconds, total=len(ids)
    )
    return run_row


COUNTERS = {
    "paid": "paid",
    "already_paid": "paid",
    "failed": "failed",
    "pending": "still_pending",
    "error": "errors",
    "no_push": "errors",
}


def run(
    services: Services,
    run_id: int,
    *,
    limit: int | None = None,
    progress: Callable[[int, int, CheckResult], None] | None = None,
) -> RecheckRun:
    """Check the run's payments from where it stopped; ``limit`` bounds this call's share.

    Counts are saved after every payment, so a page polling the run shows real progress.
    """
    row = RecheckRun.get_by_id(run_id)
    ids: list[int] = json.loads(row.payment_ids)
    todo = ids[row.checked :]
    if limit is not None:
        todo = todo[:limit]
    for payment_id in todo:
        payment = Payment.get_or_none(Payment.id == payment_id)
        if payment is None:
            result = CheckResult(payment_id, "error", "payment no longer exists")
        else:
            result = _check(services, payment, row.actor)
        changes = {RecheckRun.checked: RecheckRun.checked + 1, RecheckRun.updated_at: services.clock.now()}
        field = getattr(RecheckRun, COUNTERS[result.outcome])
        changes[field] = field + 1
        RecheckRun.update(changes).where(RecheckRun.id == run_id).execute()
        row = RecheckRun.get_by_id(run_id)
        if progress is not None:
            progress(row.checked, row.total, result)
    if row.checked >= row.total and row.finished_at is None:
        RecheckRun.update(finished_at=services.clock.now()).where(RecheckRun.id == run_id).execute()
        row = RecheckRun.get_by_id(run_id)
    return row


def run_by_id(run_id: int) -> RecheckRun:
    row = RecheckRun.get_or_none(RecheckRun.id == run_id)
    if row is None:
        raise NotFound("recheck_not_found")
    return row
