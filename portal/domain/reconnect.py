"""Getting a paying customer back online: a returning device, or "I already paid".

Phones randomise their MAC per network and can rotate it, and the captive sheet can
vanish mid-payment, so a purchase must be recoverable without the old MAC: the M-Pesa
receipt code plus the phone number that paid moves the live grant to the device in hand,
a bounded number of times. Wrong code and wrong phone get the same answer, and guessing
is rate-limited so this cannot be used to probe receipts.

The limits are keyed on what the person trying controls, so an attacker spends only their
own budget: tries per device, tries per source address (not for addresses many customers
share, see :func:`portal.domain.limits.is_shared_source`), and wrong tries per receipt code
typed. Never per phone number: anyone can type a victim's number, and ten wrong codes with
it must not lock the victim's right code out.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from portal.domain import grants, outbox
from portal.domain.context import Services
from portal.domain.errors import BadInput, DeviceNotRecognized, NotFound, TooManyRequests
from portal.domain.limits import is_shared_source
from portal.domain.payments import clean_device, confirm_device, resolve_router
from portal.ledger.models import Grant, OutboxItem, Payment
from portal.ledger.queries import active_grant_for_device
from portal.ledger.timeline import record
from portal.mpesa.phones import InvalidPhone, mask_phone, normalize_phone

log = logging.getLogger(__name__)

RECEIPT_PATTERN = re.compile(r"^[A-Z0-9]{10}$")
ATTEMPT_WINDOW_SECONDS = 3600


def normalize_receipt(raw: str) -> str:
    """``qjk 3abc d12`` -> ``QJK3ABCD12``; a pasted SMS gives its first word, the code.

    Raises :class:`BadInput` (``receipt_invalid``) for anything else.
    """
    text = str(raw or "").upper()[:400]
    words = text.split()
    if words and RECEIPT_PATTERN.match(words[0]):
        return words[0]  # "QJK3ABCD12 Confirmed. Ksh20.00 paid to ..."
    joined = "".join(text.split())
    if not RECEIPT_PATTERN.match(joined):
        raise BadInput("receipt_invalid")
    return joined


def welcome_back(services: Services, *, router: str, mac: str, ip: str) -> Grant | None:
    """A device with time left opened the splash page again: log it back in.

    Returns the grant covering the device, or None when it has no time left or the
    router does not know this MAC at this IP (the URL's mac/ip are the visitor's to edit).
    Raises UpstreamUnavailable when the router cannot be asked.
    """
    now = services.clock.now()
    if active_grant_for_device(router, mac, now) is None:
        return None
    try:
        confirm_device(services, router, mac, ip)
    except DeviceNotRecognized:
        return None
    return grants.resume_device(services, router, mac, ip)


def move_purchase(
    services: Services, *, receipt: str, phone: str, router: str, mac: str, ip: str, source: str = ""
) -> Grant:
    """Move the live grant bought with ``receipt`` from ``phone`` to this device.

    Raises BadInput (malformed code, phone or device), DeviceNotRecognized,
    UpstreamUnavailable, TooManyRequests (``reconnect_rate_limited`` for guessing,
    ``reconnect_limit`` when the purchase has moved too often) or NotFound
    (``reconnect_not_found``, the same for a wrong code and a wrong phone).
    """
    mac, ip = clean_device(mac, ip)
    router_name = resolve_router(services, router)
    code = normalize_receipt(receipt)
    try:
        msisdn = normalize_phone(phone or "")
    except InvalidPhone as err:
        raise BadInput(err.key) from None
    confirm_device(services, router_name, mac, ip)
    _count_attempt(services, mac, source, code)

    now = services.clock.now()
    grant = _live_grant(code, msisdn, now)
    if grant is None:
        services.live.hit(f"reconnect:receipt:{code}", now, ATTEMPT_WINDOW_SECONDS)
        log.info("reconnect refused for %s on %s: no live purchase matches", mask_phone(msisdn), mac)
        raise NotFound("reconnect_not_found")
    if grant.router == router_name and grant.mac == mac:
        return _relogin(services, grant, ip)
    limits = services.settings.limits
    if grant.moves >= limits.reconnect_max_moves:
        record(grant.payment_id, "move_refused", services.clock, to_mac=mac, moves=grant.moves)
        raise TooManyRequests("reconnect_limit")
    return _move(services, grant, router_name, mac, ip)


def _count_attempt(services: Services, mac: str, source: str, code: str) -> None:
    """Every well-formed try from a real device counts against the device and its address,
    whether it works or not; a code that has been tried wrongly too often is refused."""
    now = services.clock.now()
    limits = services.settings.limits
    budgets = [(f"reconnect:device:{mac}", limits.reconnect_attempts_per_hour)]
    if not is_shared_source(services.settings, source):
        budgets.append((f"reconnect:source:{source}", limits.reconnect_source_attempts_per_hour))
    spent = [key for key, allowed in budgets if services.live.count(key, now, ATTEMPT_WINDOW_SECONDS) >= allowed]
    wrong = services.live.count(f"reconnect:receipt:{code}", now, ATTEMPT_WINDOW_SECONDS)
    if wrong >= limits.reconnect_receipt_failures_per_hour:
        spent.append(f"reconnect:receipt:{code}")
    if spent:
        log.info("reconnect rate-limited on %s from %s (%s)", mac, source or "?", spent[0].split(":")[1])
        raise TooManyRequests("reconnect_rate_limited")
    for key, _allowed in budgets:
        services.live.hit(key, now, ATTEMPT_WINDOW_SECONDS)


def _live_grant(receipt: str, msisdn: str, now: datetime) -> Grant | None:
    payment = Payment.get_or_none((Payment.receipt == receipt) & (Payment.phone == msisdn) & (Payment.status == "paid"))
    if payment is None:
        return None
    grant = Grant.get_or_none(Grant.payment == payment)
    if grant is None or grant.status != "active" or grant.expires_at <= now:
        return None
    return grant


def _relogin(services: Services, grant: Grant, ip: str) -> Grant:
    """Already on this device: log it in again (a new IP is fine), no move counted."""
    now = services.clock.now()
    if grant.ip != ip:
        Grant.update(ip=ip).where(Grant.id == grant.id).execute()
        grant = Grant.get_by_id(grant.id)
    item = outbox.queue(grant, "authorize", now)
    outbox.run_outbox_item(services, item)
    return Grant.get_by_id(grant.id)


def _move(services: Services, grant: Grant, router_name: str, mac: str, ip: str) -> Grant:
    now = services.clock.now()
    old_router, old_mac = grant.router, grant.mac
    # Queued while the grant still names the old device, so the revoke targets it.
    revoke = outbox.queue(grant, "revoke", now)
    moved = (
        Grant.update(mac=mac, ip=ip, router=router_name, moves=Grant.moves + 1, router_state="pending")
        .where(Grant.id == grant.id, Grant.mac == old_mac, Grant.router == old_router, Grant.moves == grant.moves)
        .execute()
    )
    if not moved:  # a second move of the same purchase won the race
        OutboxItem.update(done_at=now).where(OutboxItem.id == revoke.id).execute()
        raise TooManyRequests("too_many_requests")
    outbox.run_outbox_item(services, revoke)
    services.live.drop_session(grant.id, old_router, old_mac)
    grant = Grant.get_by_id(grant.id)
    grants.publish_live(services, grant)
    authorize = outbox.queue(grant, "authorize", now)
    outbox.run_outbox_item(services, authorize)
    record(
        grant.payment_id,
        "moved",
        services.clock,
        from_mac=old_mac,
        to_mac=mac,
        from_router=old_router,
        to_router=router_name,
        moves=grant.moves,
    )
    log.info("grant %s moved from %s to %s (move %d)", grant.id, old_mac, mac, grant.moves)
    return Grant.get_by_id(grant.id)
