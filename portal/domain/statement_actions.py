"""What the owner does about money the statement shows and the ledger never credited.

Three one-click answers for a statement-only line:

- **attach** it to the failed or timed-out payment it paid for (same amount, prompt sent
  shortly before, compatible phone): that payment becomes ``paid`` with the statement's
  receipt and its device gets the time, through the normal grant path;
- **grant** it to a device the owner picks (a ``statement`` payment with that receipt);
- **record a refund** made outside (the owner sent the money back): nothing is granted.
"""

from __future__ import annotations

from datetime import timedelta

from portal.domain.accounts import audit
from portal.domain.care import clean_reason, grant_without_prompt
from portal.domain.context import Services
from portal.domain.errors import BadInput, NotFound
from portal.domain.packages import get_package
from portal.domain.payment_outcomes import mark_paid
from portal.domain.statement import CLOCK_SKEW_SECONDS
from portal.ledger.models import Grant, Package, Payment, StatementLine
from portal.ledger.timeline import record
from portal.mpesa.statement import phone_compatible, phone_hint

UNPAID = ("created", "pending", "failed", "cancelled", "timeout")


def line_by_id(line_id: int) -> StatementLine | None:
    return StatementLine.get_or_none(StatementLine.id == line_id)


def open_line(line_id: int) -> StatementLine:
    """A statement line that no payment holds yet and no refund settled; else BadInput/NotFound."""
    line = StatementLine.get_or_none(StatementLine.id == line_id)
    if line is None:
        raise NotFound("statement_line_not_found")
    if line.resolution == "refunded":
        raise BadInput("line_resolved", problems=[f"{line.receipt} was already settled as refunded"])
    if Payment.select().where(Payment.receipt == line.receipt).exists():
        raise BadInput("line_resolved", problems=[f"{line.receipt} is already credited to a payment"])
    return line


def candidates(services: Services, line: StatementLine) -> list[Payment]:
    """Unpaid M-Pesa payments this line may have paid for, closest first."""
    window = services.settings.mpesa.statement_attach_window_seconds
    if line.paid_in_cents % 100:
        return []
    hint = phone_hint(line.party)
    query = Payment.select().where(
        Payment.status.in_(UNPAID),
        Payment.method == "mpesa",
        Payment.amount == line.paid_in_cents // 100,
        Payment.receipt.is_null(),
        Payment.created_at >= line.completed_at - timedelta(seconds=window),
        Payment.created_at <= line.completed_at + timedelta(seconds=CLOCK_SKEW_SECONDS),
    )
    found = [p for p in query if phone_compatible(hint, p.phone)]
    return sorted(found, key=lambda p: abs((line.completed_at - p.created_at).total_seconds()))


def _settle(
    line: StatementLine, services: Services, actor: str, resolution: str, note: str, payment_id: int | None
) -> None:
    StatementLine.update(
        resolution=resolution,
        resolution_note=note[:200],
        resolved_by=actor[:40],
        resolved_at=services.clock.now(),
        resolved_payment=payment_id,
    ).where(StatementLine.id == line.id).execute()


def attach(services: Services, line_id: int, payment_id: int, *, actor: str) -> Grant:
    """Credit the line to the unpaid payment it paid for; that payment's device gets the time."""
    line = open_line(line_id)
    if payment_id not in {p.id for p in candidates(services, line)}:
        raise BadInput("not_a_candidate", problems=["that payment does not fit this line (amount, time or phone)"])
    record(payment_id, "statement_matched", services.clock, receipt=line.receipt, by=actor)
    grant = mark_paid(services, payment_id, receipt=line.receipt, source=f"statement, by {actor}")
    if grant is None:
        raise BadInput("already_granted", problems=["this payment or receipt was credited meanwhile"])
    _settle(line, services, actor, "granted", f"attached to payment {payment_id}", payment_id)
    audit(actor, "statement.attach", services.clock, receipt=line.receipt, payment=payment_id, grant=grant.id)
    return grant


def grant_to_device(
    services: Services, line_id: int, *, router: str, mac: str, package_id: object, actor: str
) -> Grant:
    """Give the time the line paid for to a device the owner picks."""
    line = open_line(line_id)
    if line.paid_in_cents % 100:
        raise BadInput("amount_not_whole", problems=["this line is not whole shillings; record a refund instead"])
    try:
        package: Package = get_package(package_id)
    except NotFound:
        raise BadInput("package_not_found", problems=["choose the package the customer paid for"]) from None
    hint = phone_hint(line.party)
    grant = grant_without_prompt(
        services,
        method="statement",
        amount=line.paid_in_cents // 100,
        package=package,
        router=router,
        mac=mac,
        actor=actor,
        reason=f"statement line {line.receipt}",
        receipt=line.receipt,
        phone=hint if "*" not in hint else "",
    )
    _settle(line, services, actor, "granted", f"granted to {grant.mac}", grant.payment_id)
    audit(actor, "statement.grant", services.clock, receipt=line.receipt, grant=grant.id, mac=grant.mac)
    return grant


def record_refund(services: Services, line_id: int, *, note: str, actor: str) -> StatementLine:
    """The owner sent this money back outside the portal: settle the line, grant nothing."""
    line = open_line(line_id)
    note = clean_reason(note)
    _settle(line, services, actor, "refunded", note, None)
    audit(actor, "statement.refund", services.clock, receipt=line.receipt, amount_cents=line.paid_in_cents, note=note)
    return StatementLine.get_by_id(line.id)


def package_for_amount(amount_cents: int) -> Package | None:
    """The active package this amount buys, when exactly one does."""
    if amount_cents % 100:
        return None
    found = list(Package.select().where(Package.active == True, Package.price == amount_cents // 100))  # noqa: E712
    return found[0] if len(found) == 1 else None
