"""Payments: check what the customer asked for, start the STK push, and find payments again.

States: created -> pending -> paid | failed | cancelled | timeout. This module takes a payment
to ``pending`` (or ``failed`` when Daraja refuses the push); how it ends, ``paid`` or a final
failure, is :mod:`portal.domain.payment_outcomes`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain import limits, pause, receipts
from portal.domain.context import Services
from portal.domain.errors import (
    BadInput,
    DeviceNotRecognized,
    NotFound,
    PaymentPending,
    PaymentRefused,
    UpstreamUnavailable,
)
from portal.domain.observe import record_push_outcome
from portal.ledger.database import write_transaction
from portal.ledger.models import Package, Payment
from portal.ledger.prepared import Prepared, create
from portal.ledger.timeline import batched, record
from portal.mpesa.errors import DarajaError
from portal.mpesa.phones import InvalidPhone, mask_phone, normalize_phone
from portal.mpesa.request_fields import NO_CALLBACK_URL
from router import RouterError, normalize_mac

log = logging.getLogger(__name__)

OPEN_STATES = ("created", "pending")


@dataclass(frozen=True)
class PayRequest:
    """What a customer asked for, straight from a form or JSON body (not yet trusted)."""

    phone: str
    package_id: object
    mac: str
    ip: str
    router: str = ""
    language: str = "en"
    link_orig: str = ""
    link_login_only: str = ""
    idempotency_key: str | None = None
    source: str = ""  # the address the request came from (after trusted proxies); "" if unknown
    receipt_sms: bool = False  # ticked "send me an SMS receipt" (honoured only where offered)


_ACTIVE_PACKAGE: Prepared[Package] = Prepared(
    lambda package_id: Package.select().where(Package.id == package_id, Package.active == True).limit(1)  # noqa: E712
)
_OPEN_PAYMENT: Prepared[Payment] = Prepared(
    lambda phone, mac, since: (
        Payment.select()
        .where(
            Payment.status.in_(OPEN_STATES), Payment.created_at > since, (Payment.phone == phone) | (Payment.mac == mac)
        )
        .limit(1)
    )
)


#: The push accepted: the payment waits for its callback (conditional: a callback that raced
#: ahead of this answer may already have settled it).
_PUSH_ACCEPTED: Prepared[Payment] = Prepared(
    lambda checkout_request_id, merchant_request_id, next_query_at, now, payment_id: Payment.update(
        status="pending",
        checkout_request_id=checkout_request_id,
        merchant_request_id=merchant_request_id,
        next_query_at=next_query_at,
        updated_at=now,
    ).where(Payment.id == payment_id, Payment.status == "created")
)


def active_package(package_id: object) -> Package:
    text = str(package_id).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadInput("package_invalid")
    pid = int(text)
    package = _ACTIVE_PACKAGE.first(pid)
    if package is None:
        raise NotFound("package_not_found")
    return package


def resolve_router(services: Services, name: str) -> str:
    """The router the customer came from; with one router configured it may be omitted."""
    name = (name or "").strip()
    if not name and len(services.routers) == 1:
        return next(iter(services.routers))
    if name not in services.routers:
        raise BadInput("router_unknown")
    return name


def clean_device(mac: str, ip: str) -> tuple[str, str]:
    try:
        mac = normalize_mac(mac)
    except ValueError:
        raise BadInput("mac_invalid") from None
    try:
        ip = str(ipaddress.IPv4Address(str(ip).strip()))
    except ValueError:
        raise BadInput("ip_invalid") from None
    return mac, ip


def confirm_device(services: Services, router_name: str, mac: str, ip: str) -> None:
    """The URL's mac/ip are the customer's to edit: check them against the host table."""
    router = services.routers[router_name]
    try:
        host = router.host_for_ip(ip)
    except RouterError as err:
        log.warning("cannot confirm device on %s: %s", router_name, err.message)
        raise UpstreamUnavailable("hotspot_unreachable") from err
    if host is None or host.mac != mac:
        raise DeviceNotRecognized()


def _open_payment(phone: str, mac: str, now: datetime, window: int) -> Payment | None:
    return _OPEN_PAYMENT.first(phone, mac, now - timedelta(seconds=window))


def callback_url(services: Services) -> str:
    m = services.settings.mpesa
    if not m.callback_url:
        return NO_CALLBACK_URL
    url = m.callback_url.rstrip("/")
    if m.callback_token and not url.endswith("/" + m.callback_token):
        url = f"{url}/{m.callback_token}"
    return url


def start_payment(services: Services, req: PayRequest) -> Payment:
    """Validate, rate-limit, confirm the device, then send the STK push.

    Raises a PortalError subclass for anything the customer must be told; the amount
    always comes from the package on the server.
    """
    now = services.clock.now()
    package = active_package(req.package_id)
    try:
        phone = normalize_phone(req.phone or "")
    except InvalidPhone as err:
        raise BadInput(err.key) from None
    mac, ip = clean_device(req.mac, req.ip)
    router_name = resolve_router(services, req.router)
    if req.idempotency_key:
        earlier = Payment.get_or_none(Payment.idempotency_key == req.idempotency_key)
        if earlier is not None:
            return earlier  # a double tap on a slow link: same payment, no second prompt
    sent_in = pause.check_can_push(services)  # the owner's switch or the automatic pause: no prompt at all
    with services.live.try_locks([f"pay:{phone}", f"pay:{mac}"]) as locked:
        if not locked:
            if req.idempotency_key:  # the first of two simultaneous taps may have just created it
                earlier = Payment.get_or_none(Payment.idempotency_key == req.idempotency_key)
                if earlier is not None:
                    return earlier
            raise PaymentPending()
        if _open_payment(phone, mac, now, services.settings.mpesa.give_up_after_seconds):
            raise PaymentPending()
        limits.check_push(services, phone=phone, mac=mac, source=req.source, now=now)
        confirm_device(services, router_name, mac, ip)
        with write_transaction(services.db), batched():  # the row and its first event: one write
            payment = _create(services, req, package, router_name, phone, mac, ip, now)
        return _push(services, payment, now, sent_in)


def _create(
    services: Services,
    req: PayRequest,
    package: Package,
    router_name: str,
    phone: str,
    mac: str,
    ip: str,
    now: datetime,
) -> Payment:
    """The payment row and its "created" event (call inside a write transaction)."""
    payment = create(
        Payment,
        public_id=secrets.token_urlsafe(18),
        package=package,
        router=router_name,
        mac=mac,
        ip=ip,
        phone=phone,
        amount=package.price,
        language=req.language if req.language in ("en", "sw") else "en",
        link_orig=(req.link_orig or "")[:500],
        link_login_only=(req.link_login_only or "")[:500],
        idempotency_key=req.idempotency_key,
        source=req.source[:45],
        receipt_consent=bool(req.receipt_sms) and receipts.offered(services),
        created_at=now,
        updated_at=now,
    )
    record(
        payment.id,
        "created",
        services.clock,
        package=package.name,
        amount=payment.amount,
        phone=mask_phone(payment.phone),
        mac=payment.mac,
        ip=payment.ip,
        router=payment.router,
    )
    return payment


def _push(services: Services, payment: Payment, now: datetime, sent_in: pause.PauseState) -> Payment:
    try:
        accepted = services.gateway.stk_push(
            phone=payment.phone,
            amount=payment.amount,
            account_reference=f"WIFI{payment.id}"[:12],
            description="WiFi access",
            callback_url=callback_url(services),
        )
    except DarajaError as err:
        Payment.update(status="failed", message_key=err.key, result_desc=str(err.message)[:200], updated_at=now).where(
            Payment.id == payment.id, Payment.status == "created"
        ).execute()
        record(
            payment.id,
            "push_failed",
            services.clock,
            error=err.key,
            code=err.error_code,
            message=err.message,
            request_id=err.request_id,
        )
        log.warning("STK push for %s refused: %s", mask_phone(payment.phone), err.key)
        if pause.note_push_failure(services, err) and err.key != "mpesa_timeout_unknown":
            # This one failed like the ones before it; say what the next customers will read.
            raise pause.PaymentsPaused("payments_slow") from err
        record_push_outcome(services.meters, "refused", err.error_code or err.key)
        raise PaymentRefused(err.key) from err
    pause.note_push_success(services, sent_in)
    first_query = now + timedelta(seconds=services.settings.mpesa.query_after_seconds)
    pending = {
        "status": "pending",
        "checkout_request_id": accepted.checkout_request_id,
        "merchant_request_id": accepted.merchant_request_id,
        "next_query_at": first_query,
        "updated_at": now,
    }
    with write_transaction(services.db), batched():  # the answer and its event: one write
        moved = _PUSH_ACCEPTED.run(
            accepted.checkout_request_id, accepted.merchant_request_id, first_query, now, payment.id
        )
        record(
            payment.id,
            "push_accepted",
            services.clock,
            checkout_request_id=accepted.checkout_request_id,
            merchant_request_id=accepted.merchant_request_id,
        )
    if not moved:
        return Payment.get_by_id(payment.id)  # as the callback left it
    for field, value in pending.items():
        setattr(payment, field, value)
    return payment


def payment_by_idempotency_key(key: str) -> Payment | None:
    """The payment a double tap already created, if any."""
    return Payment.get_or_none(Payment.idempotency_key == key)


def payment_by_public_id(public_id: str) -> Payment:
    payment = Payment.get_or_none(Payment.public_id == str(public_id)[:40])
    if payment is None:
        raise NotFound("payment_not_found")
    return payment
