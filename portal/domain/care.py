"""Care for the customer: a complimentary session, or time granted without an STK push.

Such a session is still a :class:`~portal.ledger.models.Payment` (``method`` says how it
was paid for: ``complimentary`` at KES 0, or ``statement`` for money the statement shows
but no prompt was ever credited for) and goes through the one door to ``paid``
(:func:`portal.domain.payment_outcomes.mark_paid`): the same grant, outbox, expiry and router
reconciliation as a purchase, and a timeline the owner can read.
"""

from __future__ import annotations

import secrets

from portal.domain.accounts import audit
from portal.domain.context import Services
from portal.domain.errors import BadInput, DeviceNotRecognized, NotFound, UpstreamUnavailable
from portal.domain.packages import get_package
from portal.domain.payment_outcomes import mark_paid
from portal.domain.payments import clean_device, resolve_router
from portal.ledger.models import Grant, Package, Payment
from portal.ledger.timeline import record
from router import RouterError, normalize_mac

MAX_REASON = 200


def clean_reason(reason: str, *, required: bool = True) -> str:
    text = " ".join(str(reason or "").split())[:MAX_REASON]
    if required and len(text) < 3:
        raise BadInput("reason_required", problems=["say why (at least 3 characters); it goes in the audit log"])
    return text


def device_on_hotspot(services: Services, router_name: str, mac: str) -> tuple[str, str, str]:
    """(router, MAC, IP) of a device the hotspot sees now; the IP is the router's, not typed."""
    router_name = resolve_router(services, router_name)
    try:
        mac = normalize_mac(mac)
    except ValueError:
        raise BadInput("mac_invalid", problems=["that is not a device MAC address (like AA:BB:CC:DD:EE:FF)"]) from None
    try:
        host = services.routers[router_name].host_for_mac(mac)
    except RouterError as err:
        raise UpstreamUnavailable(
            "hotspot_unreachable", problems=[f"the router did not answer: {err.message}"]
        ) from err
    if host is None:
        raise DeviceNotRecognized(
            "device_not_recognized",
            problems=[f"{mac} is not on the {router_name} hotspot now: ask the customer to connect to the Wi-Fi first"],
        )
    _mac, ip = clean_device(host.mac, host.ip)
    return router_name, mac, ip


def grant_without_prompt(
    services: Services,
    *,
    method: str,
    amount: int,
    package: Package,
    router: str,
    mac: str,
    actor: str,
    reason: str,
    receipt: str | None = None,
    phone: str = "",
) -> Grant:
    """Create the payment row for time not bought by an STK push, and grant it."""
    router, mac, ip = device_on_hotspot(services, router, mac)
    now = services.clock.now()
    payment = Payment.create(
        public_id=secrets.token_urlsafe(18),
        package=package,
        router=router,
        mac=mac,
        ip=ip,
        phone=phone[:12],
        amount=amount,
        method=method,
        created_at=now,
        updated_at=now,
    )
    record(
        payment.id,
        "complimentary" if method == "complimentary" else "statement_matched",
        services.clock,
        by=actor,
        reason=reason,
        package=package.name,
        amount=amount,
        mac=mac,
        receipt=receipt,
    )
    grant = mark_paid(services, payment.id, receipt=receipt, source=f"{method} by {actor}")
    if grant is None:  # the receipt was credited meanwhile (two clicks): undo nothing, say so
        raise BadInput("already_granted", problems=["this money was already credited to a session"])
    return grant


def complimentary_session(
    services: Services, *, router: str, mac: str, package_id: object, reason: str, actor: str
) -> Grant:
    """Give a device free time (the owner's goodwill), KES 0, audited with the reason."""
    reason = clean_reason(reason)
    try:
        package = get_package(package_id)
    except NotFound:
        raise BadInput("package_not_found", problems=["choose a package: it sets the time and the speed"]) from None
    grant = grant_without_prompt(
        services,
        method="complimentary",
        amount=0,
        package=package,
        router=router,
        mac=mac,
        actor=actor,
        reason=reason,
    )
    audit(
        actor,
        "session.complimentary",
        services.clock,
        grant=grant.id,
        payment=grant.payment_id,
        router=grant.router,
        mac=grant.mac,
        package=package.name,
        reason=reason,
    )
    return grant
