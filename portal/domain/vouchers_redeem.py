"""Redeeming a voucher: a code typed on the splash page (or sent to the JSON API) becomes
a paid purchase, checked against the local ledger only, so it works with M-Pesa down.

A redemption writes a ``payment`` of method ``voucher`` (status ``paid``, phone empty,
amount = the card's face value for the first device and 0 for any further device the
package allows) and hands it to :func:`portal.domain.grants.create_for_payment`: the grant,
the router outbox, expiry, reconciliation and the payment timeline are those of an M-Pesa
purchase.

Guessing: every well-formed code checked counts against a per-device and a global
sliding window (``[vouchers] max_checks_per_device_per_hour``, ``max_checks_per_hour``),
taken atomically in Redis. Unknown, used up, expired and revoked codes, and a code already
bound to as many devices as it allows, all get the same answer (``voucher_not_valid``).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain import grants, outbox, pause
from portal.domain import vouchers_codes as codes
from portal.domain.context import Services
from portal.domain.errors import NotFound, PortalError, TooManyRequests, UpstreamUnavailable
from portal.domain.payments import clean_device, confirm_device, resolve_router
from portal.domain.vouchers import state_of
from portal.ledger.models import Grant, Payment, Voucher, VoucherUse
from portal.ledger.queries import active_grant_for_device
from portal.ledger.timeline import record
from router import RouterError

log = logging.getLogger(__name__)

CHECK_WINDOW_SECONDS = 3600
# Daraja errors that mean "M-Pesa is not working here right now", not "this customer's problem".
DARAJA_DOWN_KEYS = (
    "mpesa_error",
    "mpesa_auth_failed",
    "mpesa_merchant_config",
    "mpesa_throttled",
    "mpesa_unavailable",
    "mpesa_timeout_unknown",
)
DARAJA_DOWN_AFTER = 3  # failed pushes in a row
DARAJA_DOWN_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class RedeemRequest:
    """What the customer sent (not yet trusted)."""

    code: str
    mac: str
    ip: str
    router: str = ""
    language: str = "en"
    link_orig: str = ""
    link_login_only: str = ""


def redeem(services: Services, req: RedeemRequest) -> Payment:
    """Turn a code into a session for this device; returns the voucher payment.

    Raises BadInput (malformed code or device), DeviceNotRecognized, UpstreamUnavailable,
    TooManyRequests (``voucher_rate_limited``, ``voucher_busy``) or NotFound
    (``voucher_not_valid``: the one answer for every code that does not work).
    """
    mac, ip = clean_device(req.mac, req.ip)
    router_name = resolve_router(services, req.router)
    code = codes.normalize(req.code, services.settings.vouchers.code_length)
    _refuse_when_full(services, mac)  # under a flood, refuse before asking the router anything
    confirm_device(services, router_name, mac, ip)
    _count_check(services, mac)
    voucher = find_voucher(services, code)
    if voucher is None:
        log.info("voucher refused on %s: no such code", mac)
        raise NotFound("voucher_not_valid")
    with services.live.try_locks([f"voucher:{voucher.id}"]) as locked:
        if not locked:  # the same code on another device this very moment
            raise TooManyRequests("too_many_requests", seconds=5)
        return _use(services, voucher.id, req, router_name, mac, ip)


def _refuse_when_full(services: Services, mac: str) -> None:
    limits = services.settings.vouchers
    now = services.clock.now()
    if services.live.count(f"voucher:device:{mac}", now, CHECK_WINDOW_SECONDS) >= limits.max_checks_per_device_per_hour:
        raise TooManyRequests("voucher_rate_limited")
    if services.live.count("voucher:global", now, CHECK_WINDOW_SECONDS) >= limits.max_checks_per_hour:
        raise TooManyRequests("voucher_busy")


def _count_check(services: Services, mac: str) -> None:
    """One check = one slot from this device's window and one from the global window."""
    limits = services.settings.vouchers
    now = services.clock.now()
    if not services.live.take(
        f"voucher:device:{mac}", now, CHECK_WINDOW_SECONDS, limits.max_checks_per_device_per_hour
    ):
        log.info("voucher checks rate-limited for %s", mac)
        raise TooManyRequests("voucher_rate_limited")
    if not services.live.take("voucher:global", now, CHECK_WINDOW_SECONDS, limits.max_checks_per_hour):
        if services.live.take("voucher:global-warned", now, 600, 1):  # one line per 10 minutes, not per guess
            log.warning("voucher checks hit the global limit (%d an hour): guessing?", limits.max_checks_per_hour)
        raise TooManyRequests("voucher_busy")


def find_voucher(services: Services, code: str) -> Voucher | None:
    """The voucher with this (normalized) code under the current or a previous key."""
    hashes = [key.hash(code) for key in codes.lookup_keys(services.settings)]
    if not hashes:
        return None
    return Voucher.select().where(Voucher.code_hash.in_(hashes)).first()


def _use(services: Services, voucher_id: int, req: RedeemRequest, router: str, mac: str, ip: str) -> Payment:
    now = services.clock.now()
    voucher = Voucher.get_by_id(voucher_id)
    batch = voucher.batch
    package = batch.package
    state = state_of(voucher, batch, now)
    here = VoucherUse.get_or_none(VoucherUse.voucher == voucher, VoucherUse.router == router, VoucherUse.mac == mac)
    if state == "in_use" and here is not None:
        grants.resume_device(services, router, mac, ip)  # typed again on the same device: log it in again
        return Payment.get_by_id(here.payment_id)
    if state not in ("unused", "in_use"):
        log.info("voucher %s refused on %s: %s", voucher.id, mac, state)
        raise NotFound("voucher_not_valid")
    first = state == "unused"
    if not first:
        devices = VoucherUse.select().where(VoucherUse.voucher == voucher).count()
        current = active_grant_for_device(router, mac, now)
        if devices >= package.devices or (current is not None and current.expires_at >= voucher.ends_at):
            log.info("voucher %s refused on %s: already on %d device(s)", voucher.id, mac, devices)
            raise NotFound("voucher_not_valid")
    with services.db.atomic():
        if (
            first
            and not Voucher.update(first_used_at=now)
            .where(Voucher.id == voucher.id, Voucher.first_used_at.is_null())
            .execute()
        ):
            raise NotFound("voucher_not_valid")  # another redemption won (lock expired mid-way)
        payment = Payment.create(
            public_id=secrets.token_urlsafe(18),
            package=package,
            router=router,
            mac=mac,
            ip=ip,
            phone="",
            amount=batch.price if first else 0,
            status="paid",
            method="voucher",
            language=req.language if req.language in ("en", "sw") else "en",
            link_orig=(req.link_orig or "")[:500],
            link_login_only=(req.link_login_only or "")[:500],
            created_at=now,
            updated_at=now,
            paid_at=now,
        )
        record(
            payment.id,
            "created",
            services.clock,
            method="voucher",
            package=package.name,
            amount=payment.amount,
            mac=mac,
            ip=ip,
            router=router,
        )
        VoucherUse.create(voucher=voucher, payment=payment, router=router, mac=mac, at=now)
        # A further device shares the voucher's time (what the first device has left); it does
        # not get a fresh package.
        grant, login = grants.create_for_payment(services, payment, now, seconds=None if first else _left(voucher, now))
        if first:
            Voucher.update(ends_at=grant.expires_at).where(Voucher.id == voucher.id).execute()
        record(
            payment.id,
            "voucher_redeemed",
            services.clock,
            batch=batch.id,
            voucher=voucher.id,
            label=batch.label,
            device_number=1 if first else VoucherUse.select().where(VoucherUse.voucher == voucher).count(),
        )
    record(
        payment.id, "paid", services.clock, source="voucher", grant=grant.id, expires_at=grant.expires_at.isoformat()
    )
    grants.publish_live(services, grant)
    outbox.run_outbox_item(services, login)  # the customer is waiting on the page
    if first:  # the clock starts when the router lets the device in: the voucher ends with it
        started = Grant.get_by_id(grant.id)
        Voucher.update(ends_at=started.expires_at).where(Voucher.id == voucher.id).execute()
    return Payment.get_by_id(payment.id)


def _left(voucher: Voucher, now: datetime) -> int:
    """Seconds the voucher's first device has left: what a further device may share."""
    first_use = VoucherUse.select().where(VoucherUse.voucher == voucher).order_by(VoucherUse.id).first()
    first_grant = Grant.get_or_none(Grant.payment == first_use.payment_id) if first_use else None
    end = first_grant.expires_at if first_grant is not None else voucher.ends_at
    return max(int((end - now).total_seconds()), 1) if end is not None else 1


def device_for_address(services: Services, router: str, ip: str) -> str | None:
    """The MAC the router sees at ``ip`` (a QR code opened in the phone's own browser brings
    no ``mac``); the address must be the request's own, never one from the URL."""
    try:
        name = resolve_router(services, router)
        address = str(ipaddress.IPv4Address(str(ip).strip()))
    except (PortalError, ValueError):
        return None
    try:
        host = services.routers[name].host_for_ip(address)
    except RouterError as err:
        raise UpstreamUnavailable("hotspot_unreachable") from err
    return host.mac if host is not None else None


def mpesa_failing(now: datetime) -> bool:
    """True when the last few M-Pesa prompts in the past minutes all failed on Daraja's side:
    the splash then leads with the voucher field (``vouchers_first``)."""
    recent = list(
        Payment.select(Payment.status, Payment.message_key)
        .where(Payment.method == "mpesa", Payment.created_at > now - DARAJA_DOWN_WINDOW)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(DARAJA_DOWN_AFTER)
    )
    return len(recent) >= DARAJA_DOWN_AFTER and all(
        p.status == "failed" and p.message_key in DARAJA_DOWN_KEYS for p in recent
    )


def lead_with_vouchers(services: Services) -> bool:
    """The splash's ``vouchers_first`` flag: M-Pesa paused (by the owner or automatically after
    repeated Daraja failures), or the last pushes all failed on Daraja's side."""
    return pause.state(services).message_key is not None or mpesa_failing(services.clock.now())
