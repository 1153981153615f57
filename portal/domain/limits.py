"""How many M-Pesa prompts may be started: cool-downs, daily caps and fair shares.

Every STK push is a :class:`Payment` row written just before the push, so the limits are
counted from the ledger, not from Redis: a Redis restart or ``FLUSHALL`` cannot hand a
phone three prompts in five seconds (bench/push_limits.py measures what the queries cost).

The global budget protects the shortcode's quota, and it is shared fairly: a device may
have one open prompt and one push per cool-down, and one *source* (the address the request
came from) at most ``source_pushes_per_minute``, less than the global budget. Behind a
hotspot the host table's MAC and IP identify nobody (an attacker with 50 spoofed MACs has
50 hosts), so the request's own address is the share one person cannot multiply by
spoofing. Addresses many customers share (the router masquerading the hotspot, a NAT in
front of a cloud portal) get no per-source share: list them in ``limits.shared_sources``;
the routers' own addresses are always shared.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

import peewee

from portal.config import Settings
from portal.domain.context import Services
from portal.domain.errors import TooManyRequests
from portal.ledger.models import Payment
from portal.ledger.prepared import Prepared

DAY_SECONDS = 24 * 3600
MINUTE_SECONDS = 60


def check_push(services: Services, *, phone: str, mac: str, source: str, now: datetime) -> None:
    """Raise :class:`TooManyRequests` when a push for ``phone`` from ``mac`` must wait.

    Keys, in order: ``phone_cooldown``/``phone_daily_cap``, ``device_cooldown``/
    ``device_daily_cap``, then ``global_busy`` for the source's share or the global budget.
    """
    limits = services.settings.limits
    _check_key(_BY_PHONE, phone, limits.phone_cooldown_seconds, limits.phone_daily_cap, "phone", now)
    _check_key(_BY_DEVICE, mac, limits.device_cooldown_seconds, limits.device_daily_cap, "device", now)
    if limits.source_pushes_per_minute and not is_shared_source(services.settings, source):
        _check_window(Payment.source == source, limits.source_pushes_per_minute, now)
    _check_window(None, limits.global_pushes_per_minute, now)


_ALL_PUSHES: Prepared[Any] = Prepared(
    lambda since: (
        Payment.select(peewee.fn.COUNT(Payment.id))
        .where(Payment.method == "mpesa", Payment.created_at > since)
        .tuples()
    )
)


def is_shared_source(settings: Settings, source: str) -> bool:
    """True when ``source`` does not stand for one person: unknown, a router, or listed as shared."""
    if not source:
        return True
    if any(source == router.host for router in settings.routers):
        return True
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return True  # not an address we could share out fairly: no per-source share
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in settings.limits.shared_sources)


def _pushes(condition: peewee.Expression | None, since: datetime) -> peewee.ModelSelect:
    query = Payment.select().where(Payment.method == "mpesa", Payment.created_at > since)
    return query.where(condition) if condition is not None else query


def _pushes_of(field: peewee.Field) -> Prepared[Any]:
    """How many pushes one phone (or device) had since a moment, and when the newest was."""
    return Prepared(
        lambda key, since: (
            Payment.select(peewee.fn.COUNT(Payment.id), peewee.fn.MAX(Payment.created_at))
            .where(Payment.method == "mpesa", Payment.created_at > since, field == key)
            .tuples()
        )
    )


_BY_PHONE = _pushes_of(Payment.phone)
_BY_DEVICE = _pushes_of(Payment.mac)


def _check_key(pushes: Prepared[Any], key: str, cooldown: int, daily_cap: int, what: str, now: datetime) -> None:
    """One query: how many pushes in the last 24 h and when the newest was."""
    count, newest = pushes.rows(key, now - timedelta(seconds=DAY_SECONDS))[0]
    if not count:
        return
    age = (now - newest).total_seconds()  # peewee hands MAX back through the field: aware UTC
    if age < cooldown:
        raise TooManyRequests(f"{what}_cooldown", seconds=int(cooldown - age) + 1)
    if count >= daily_cap:
        raise TooManyRequests(f"{what}_daily_cap")


def _check_window(condition: peewee.Expression | None, allowed: int, now: datetime) -> None:
    """Refuse when ``allowed`` pushes already fall in the last minute; say when one frees up."""
    since = now - timedelta(seconds=MINUTE_SECONDS)
    recent = _pushes(condition, since)
    count = recent.count() if condition is not None else _ALL_PUSHES.rows(since)[0][0]
    if count < allowed:
        return
    # The push that must leave the window before one more fits: the (count - allowed + 1)th oldest.
    freeing = recent.select(Payment.created_at).order_by(Payment.created_at).offset(count - allowed).limit(1).scalar()
    wait = (freeing - since).total_seconds() if freeing is not None else MINUTE_SECONDS
    raise TooManyRequests("global_busy", seconds=max(1, math.ceil(wait)))
