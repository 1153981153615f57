"""Payments: start an STK push, take in callbacks and query answers, move the state machine.

States: created -> pending -> paid | failed | cancelled | timeout. ``paid`` is terminal and
wins over any later failure; a success that arrives after we said "timed out" still pays.
The move to ``paid`` is one conditional UPDATE, so one purchase gives exactly one grant
however many successes arrive.
"""
from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import peewee

from portal import grants
from portal.config import MpesaSettings
from portal.errors import BadInput, DeviceNotRecognized, NotFound, PaymentPending, PaymentRefused
from portal.errors import TooManyRequests, UpstreamUnavailable
from portal.models import Grant, OutboxItem, Package, Payment, UnmatchedCallback
from portal.mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback
from portal.mpesa.errors import DarajaError
from portal.mpesa.phones import InvalidPhone, mask_phone, normalize_phone
from portal.mpesa.results import classify_result
from portal.services import Services
from portal.timeline import record
from router import RouterError, normalize_mac

log = logging.getLogger(__name__)

OPEN_STATES = ("created", "pending")
QUERY_STATES = ("pending", "timeout")
NO_CALLBACK_URL = "https://callback.invalid/none"  # Daraja insists on a URL; nobody listens


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


def active_package(package_id: object) -> Package:
    text = str(package_id).strip()
    if not text.isdigit() or len(text) > 9:
        raise BadInput("package_invalid")
    pid = int(text)
    package = Package.get_or_none((Package.id == pid) & (Package.active == True))  # noqa: E712
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


def _check_limits(services: Services, phone: str, mac: str, now: datetime) -> None:
    limits = services.settings.limits
    live = services.live
    day = 24 * 3600
    checks = (
        (f"phone:{phone}", limits.phone_cooldown_seconds, limits.phone_daily_cap, "phone"),
        (f"device:{mac}", limits.device_cooldown_seconds, limits.device_daily_cap, "device"),
    )
    for key, cooldown, cap, what in checks:
        age = live.last_hit_age(key, now)
        if age is not None and age < cooldown:
            raise TooManyRequests(f"{what}_cooldown", seconds=int(cooldown - age) + 1)
        if live.count(key, now, day) >= cap:
            raise TooManyRequests(f"{what}_daily_cap")
    if live.count("global", now, 60) >= limits.global_pushes_per_minute:
        raise TooManyRequests("global_busy", seconds=60)


def _count_push(services: Services, phone: str, mac: str, now: datetime) -> None:
    for key, window in ((f"phone:{phone}", 86400), (f"device:{mac}", 86400), ("global", 60)):
        services.live.hit(key, now, window)


def _open_payment(phone: str, mac: str, now: datetime, window: int) -> Payment | None:
    since = now - timedelta(seconds=window)
    return (
        Payment.select()
        .where(
            Payment.status.in_(OPEN_STATES),
            Payment.created_at > since,
            (Payment.phone == phone) | (Payment.mac == mac),
        )
        .first()
    )


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
    locks = [services.live.redis.lock(f"p2c:lock:pay:{k}", timeout=60) for k in (phone, mac)]
    if not all(lock.acquire(blocking=False) for lock in locks):
        if req.idempotency_key:  # the first of two simultaneous taps may have just created it
            earlier = Payment.get_or_none(Payment.idempotency_key == req.idempotency_key)
            if earlier is not None:
                return earlier
        raise PaymentPending()
    try:
        if _open_payment(phone, mac, now, services.settings.mpesa.give_up_after_seconds):
            raise PaymentPending()
        _check_limits(services, phone, mac, now)
        confirm_device(services, router_name, mac, ip)
        payment = Payment.create(
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
            created_at=now,
            updated_at=now,
        )
        _count_push(services, phone, mac, now)
        return _push(services, payment, package, now)
    finally:
        for lock in locks:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - lock already expired
                pass


def _push(services: Services, payment: Payment, package: Package, now: datetime) -> Payment:
    record(payment.id, "created", services.clock, package=package.name, amount=payment.amount,
           phone=mask_phone(payment.phone), mac=payment.mac, ip=payment.ip, router=payment.router)
    try:
        accepted = services.gateway.stk_push(
            phone=payment.phone,
            amount=payment.amount,
            account_reference=f"WIFI{payment.id}"[:12],
            description="WiFi access",
            callback_url=callback_url(services),
        )
    except DarajaError as err:
        Payment.update(status="failed", message_key=err.key, result_desc=str(err.message)[:200],
                       updated_at=now).where(Payment.id == payment.id, Payment.status == "created").execute()
        record(payment.id, "push_failed", services.clock, error=err.key, code=err.error_code,
               message=err.message, request_id=err.request_id)
        log.warning("STK push for %s refused: %s", mask_phone(payment.phone), err.key)
        raise PaymentRefused(err.key) from err
    first_query = now + timedelta(seconds=services.settings.mpesa.query_after_seconds)
    # Conditional: a callback that raced ahead of this answer may already have adopted it.
    Payment.update(
        status="pending",
        checkout_request_id=accepted.checkout_request_id,
        merchant_request_id=accepted.merchant_request_id,
        next_query_at=first_query,
        updated_at=now,
    ).where(Payment.id == payment.id, Payment.status == "created").execute()
    record(payment.id, "push_accepted", services.clock, checkout_request_id=accepted.checkout_request_id,
           merchant_request_id=accepted.merchant_request_id)
    return Payment.get_by_id(payment.id)


def mark_paid(services: Services, payment_id: int, *, receipt: str | None, source: str) -> Grant | None:
    """The one door to ``paid``: atomic, idempotent, grants exactly once."""
    now = services.clock.now()
    try:
        with services.db.atomic():
            changed = (
                Payment.update(status="paid", receipt=receipt, paid_at=now, updated_at=now,
                               message_key=None, next_query_at=None)
                .where(Payment.id == payment_id, Payment.status != "paid")
                .execute()
            )
            if not changed:
                payment = Payment.get_by_id(payment_id)
                if receipt and payment.receipt is None:
                    Payment.update(receipt=receipt).where(Payment.id == payment_id).execute()
                    record(payment_id, "receipt_backfilled", services.clock, receipt=receipt)
                else:
                    record(payment_id, "duplicate_success_ignored", services.clock, source=source)
                return None
            payment = Payment.get_by_id(payment_id)
            grant = grants.create_for_payment(services, payment, now)
    except peewee.IntegrityError:
        record(payment_id, "success_rejected", services.clock, source=source,
               reason="receipt already credited to another payment", receipt=receipt)
        return None
    record(payment_id, "paid", services.clock, source=source, receipt=receipt,
           grant=grant.id, expires_at=grant.expires_at.isoformat())
    grants.publish_live(services, grant)
    item = grant.outbox.where(OutboxItem.done_at.is_null()).first()
    if item is not None:
        services.dispatch(lambda: grants.run_outbox_item(services, item.id))
    return grant


def mark_failed(services: Services, payment_id: int, result_code: str, result_desc: str, *, source: str) -> bool:
    """Record a final failure; only an open payment moves. True when it moved."""
    status, key = classify_result(str(result_code))
    now = services.clock.now()
    changed = (
        Payment.update(status=status, result_code=str(result_code)[:20], result_desc=(result_desc or "")[:200],
                       message_key=key, next_query_at=None, updated_at=now)
        .where(Payment.id == payment_id, Payment.status.in_(OPEN_STATES))
        .execute()
    )
    if not changed:
        Payment.update(next_query_at=None).where(Payment.id == payment_id, Payment.status == "timeout").execute()
        current = Payment.get_by_id(payment_id).status
        record(payment_id, "failure_ignored", services.clock, source=source, result_code=str(result_code),
               reason=f"payment already {current}")
    else:
        record(payment_id, status, services.clock, source=source, result_code=str(result_code), result_desc=result_desc)
    return bool(changed)


def _unmatched(services: Services, source_ip: str, reason: str, body: bytes | str,
               checkout_id: str | None = None) -> str:
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


def handle_callback(services: Services, body: bytes, source_ip: str) -> str:
    """Take in a Daraja callback. Never raises for bad input; returns what happened."""
    try:
        cb = parse_stk_callback(body, max_bytes=services.settings.portal.max_body_bytes)
    except MalformedCallback as err:
        return _unmatched(services, source_ip, f"malformed: {err.reason}", body)
    payment = Payment.get_or_none(Payment.checkout_request_id == cb.checkout_request_id)
    if payment is None:
        payment = _adopt(services, cb)
    if payment is None:
        return _unmatched(services, source_ip, "unknown CheckoutRequestID", body, cb.checkout_request_id)
    detail = dict(result_code=cb.result_code, result_desc=cb.result_desc, receipt=cb.receipt,
                  amount=str(cb.amount) if cb.amount is not None else None, source_ip=source_ip)
    if cb.merchant_request_id != payment.merchant_request_id:
        record(payment.id, "callback_rejected", services.clock, reason="MerchantRequestID does not match", **detail)
        return _unmatched(services, source_ip, "MerchantRequestID does not match", body, cb.checkout_request_id)
    record(payment.id, "callback", services.clock, **detail)
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
    if services.settings.mpesa.verify_success_by_query and not _confirmed_by_query(services, payment):
        return "awaiting confirmation by query"
    mark_paid(services, payment.id, receipt=cb.receipt, source="callback")
    return "paid"


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
        .where(Payment.checkout_request_id.is_null(), Payment.phone == cb.phone,
               Payment.amount == int(cb.amount), Payment.created_at > since,
               (Payment.status == "created") | (Payment.message_key == "mpesa_timeout_unknown"))
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
        Payment.update(checkout_request_id=cb.checkout_request_id, merchant_request_id=cb.merchant_request_id,
                       status="pending", message_key=None, updated_at=services.clock.now())
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
    if cb.receipt and Payment.select().where(Payment.receipt == cb.receipt, Payment.id != payment.id).exists():
        return "receipt already credited to another payment"
    return None


def _confirmed_by_query(services: Services, payment: Payment) -> bool:
    try:
        result = services.gateway.stk_query(payment.checkout_request_id)
    except DarajaError as err:
        record(payment.id, "query_error", services.clock, error=err.key, message=err.message)
        return False
    record(payment.id, "query", services.clock, pending=result.pending, result_code=result.result_code,
           purpose="confirm callback")
    return (not result.pending) and result.result_code == "0"


def poll_pending(services: Services, limit: int = 50) -> int:
    """Ask Daraja about payments still open (lost callbacks, no callback URL). Returns count."""
    now = services.clock.now()
    m = services.settings.mpesa
    due = list(
        Payment.select()
        .where(Payment.status.in_(QUERY_STATES), Payment.next_query_at <= now,
               Payment.checkout_request_id.is_null(False))
        .order_by(Payment.next_query_at)
        .limit(limit)
    )
    for payment in due:
        _poll_one(services, payment, now, m)
    return len(due) + _fail_stale_created(services, now)


def _fail_stale_created(services: Services, now: datetime) -> int:
    """A push that never got an answer (crash, cut link) must not block the phone forever."""
    stale = list(Payment.select(Payment.id).where(
        Payment.status == "created", Payment.created_at < now - timedelta(seconds=ADOPT_WINDOW_SECONDS)))
    for payment in stale:
        if Payment.update(status="failed", message_key="mpesa_timeout_unknown", updated_at=now).where(
                Payment.id == payment.id, Payment.status == "created").execute():
            record(payment.id, "push_unanswered", services.clock)
    return len(stale)


def _poll_one(services: Services, payment: Payment, now: datetime, m: MpesaSettings) -> None:
    attempts = payment.query_attempts + 1
    age = (now - payment.created_at).total_seconds()
    try:
        result = services.gateway.stk_query(payment.checkout_request_id)
    except DarajaError as err:
        delay = min(m.query_every_seconds * 2 ** min(attempts, 6), 600)
        Payment.update(query_attempts=attempts, next_query_at=now + timedelta(seconds=delay)).where(
            Payment.id == payment.id).execute()
        record(payment.id, "query_error", services.clock, error=err.key, message=err.message)
        return
    record(payment.id, "query", services.clock, pending=result.pending, result_code=result.result_code)
    if not result.pending and result.result_code == "0":
        mark_paid(services, payment.id, receipt=None, source="query")
        return
    if not result.pending:
        mark_failed(services, payment.id, result.result_code or "", result.result_desc or "", source="query")
        return
    if payment.status == "pending" and age >= m.give_up_after_seconds:
        Payment.update(status="timeout", message_key="payment_unconfirmed", updated_at=now).where(
            Payment.id == payment.id, Payment.status == "pending").execute()
        record(payment.id, "timeout", services.clock, after_seconds=int(age))
    if age >= m.reconcile_for_hours * 3600:
        Payment.update(next_query_at=None).where(Payment.id == payment.id).execute()
        record(payment.id, "query_stopped", services.clock, after_hours=m.reconcile_for_hours)
        return
    delay = m.query_every_seconds if age < m.give_up_after_seconds else max(m.query_every_seconds, 60)
    Payment.update(query_attempts=attempts, next_query_at=now + timedelta(seconds=delay)).where(
        Payment.id == payment.id).execute()


def payment_by_public_id(public_id: str) -> Payment:
    payment = Payment.get_or_none(Payment.public_id == str(public_id)[:40])
    if payment is None:
        raise NotFound("payment_not_found")
    return payment
