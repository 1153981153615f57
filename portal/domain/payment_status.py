"""Where a payment stands, as the customer sees it: one answer for the status page and the API.

Both the HTML status page and ``GET /api/portal/status/...`` render a :class:`PaymentStatus`,
so they can never disagree about whether a customer is waiting, connected or done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.domain.errors import NotFound
from portal.ledger.models import Grant, Payment
from portal.ledger.queries import active_grant_for_device

#: Payment states as the JSON API names them (the contract of the Pay-to-Connect guide).
API_STATUS = {
    "created": "pending",
    "pending": "pending",
    "paid": "success",
    "failed": "failed",
    "cancelled": "cancelled",
    "timeout": "timeout",
}


@dataclass(frozen=True)
class SessionFacts:
    """The session (grant) a paid purchase gave, or the one it was stacked onto."""

    grant_id: int
    package_name: str
    expires_at: datetime  # end of the device's covering grant (a stacked purchase ends later)
    remaining_seconds: int
    router_state: str  # pending | online | removed
    active: bool


@dataclass(frozen=True)
class PaymentStatus:
    """``stage`` is what the customer should read now.

    waiting (prompt sent), confirming (M-Pesa answered without an outcome yet),
    unconfirmed (no answer in time; still being checked), failed, connecting (paid, router
    not done yet), connected, ended (paid, time used up).
    """

    payment: Payment
    stage: str
    api_status: str
    message_key: str | None
    session: SessionFacts | None


def status_of(payment: Payment, now: datetime) -> PaymentStatus:
    """Where ``payment`` stands at ``now``."""
    api_status = API_STATUS[payment.status]
    if payment.status in ("created", "pending"):
        confirming = payment.message_key == "mpesa_still_confirming"
        stage = "confirming" if confirming else "waiting"
        return PaymentStatus(payment, stage, api_status, payment.message_key if confirming else None, None)
    if payment.status != "paid":
        unconfirmed = payment.message_key == "payment_unconfirmed"
        key = payment.message_key or "mpesa_failed"
        return PaymentStatus(payment, "unconfirmed" if unconfirmed else "failed", api_status, key, None)
    grant = Grant.get_or_none(Grant.payment == payment)
    if grant is None:  # paid a moment ago; the grant is written in the same transaction
        return PaymentStatus(payment, "connecting", api_status, None, None)
    session = _session_facts(payment, grant, now)
    if not session.active:
        stage = "ended"
    else:
        stage = "connected" if grant.router_state == "online" else "connecting"
    return PaymentStatus(payment, stage, api_status, None, session)


def _session_facts(payment: Payment, grant: Grant, now: datetime) -> SessionFacts:
    covering = active_grant_for_device(grant.router, grant.mac, now) if grant.status == "active" else None
    expires = covering.expires_at if covering else grant.expires_at
    active = covering is not None
    remaining = max(0, int((expires - now).total_seconds())) if grant.status == "active" else 0
    return SessionFacts(
        grant_id=grant.id,
        package_name=payment.package.name,
        expires_at=expires,
        remaining_seconds=remaining,
        router_state=grant.router_state,
        active=active,
    )


def find_for_status(reference: str, *, requester_ip: str, requester_mac: str) -> tuple[Payment, bool]:
    """The payment named by a ``statusId`` or a CheckoutRequestID, and whether the asker may
    see its session.

    A statusId is unguessable, so whoever holds it may see everything. A CheckoutRequestID
    embeds the phone and a timestamp, so by that the session is shown only to the paying
    device (its IP or MAC). Raises NotFound (``payment_not_found``).
    """
    reference = reference[:100]
    payment = Payment.get_or_none(Payment.public_id == reference)
    if payment is not None:
        return payment, True
    payment = Payment.get_or_none(Payment.checkout_request_id == reference)
    if payment is None:
        raise NotFound("payment_not_found")
    trusted = requester_ip == payment.ip or requester_mac.upper() == payment.mac
    return payment, trusted
