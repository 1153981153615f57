"""The router outbox: every router operation is a durable row, retried until it is done.

A grant's router call is written in the same transaction as the grant, then tried at
once; a router that is down or rebooting delays access instead of losing it, and the
worker retries with backoff (:func:`process_outbox`).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from portal.domain.context import Services
from portal.ledger.models import Grant, OutboxItem
from portal.ledger.queries import active_grant_for_device
from portal.ledger.timeline import record
from router import DeviceGrant, RouterError, RouterUnreachable

log = logging.getLogger(__name__)

ROUTER_BACKSTOP_MARGIN_SECONDS = 120  # router's limit-uptime outlives our own expiry a little


def queue(grant: Grant, action: str, now: datetime) -> OutboxItem:
    return OutboxItem.create(
        grant=grant,
        action=action,
        router=grant.router,
        mac=grant.mac,
        next_attempt_at=now,
        created_at=now,
    )


def device_grant(grant: Grant, now: datetime) -> DeviceGrant:
    """What the router needs to know; the router's own limit is a backstop only."""
    package = grant.package
    remaining = math.ceil((grant.expires_at - now).total_seconds())
    return DeviceGrant(
        grant_id=str(grant.id),
        mac=grant.mac,
        ip=grant.ip,
        profile=package.profile_name,
        limit_uptime_seconds=max(remaining, 1) + ROUTER_BACKSTOP_MARGIN_SECONDS,
        rate_limit=package.rate_limit or None,
        shared_users=package.devices,
        limit_bytes_total=package.data_cap_bytes,
    )


def _backoff(services: Services, attempts: int) -> timedelta:
    worker = services.settings.worker
    delay = min(worker.outbox_base_delay_seconds * (2 ** max(attempts - 1, 0)), worker.outbox_max_delay_seconds)
    return timedelta(seconds=delay)


def run_outbox_item(services: Services, item_id: int) -> bool:
    """Try one router operation now. True when it is done (or no longer needed)."""
    with services.live.try_locks([f"outbox:{item_id}"]) as locked:
        return _run_outbox_item(services, item_id) if locked else False


def _run_outbox_item(services: Services, item_id: int) -> bool:
    now = services.clock.now()
    item = OutboxItem.get_or_none((OutboxItem.id == item_id) & OutboxItem.done_at.is_null())
    if item is None:
        return True
    grant = Grant.get_by_id(item.grant_id)
    router = services.router(item.router)
    if item.action == "authorize" and (grant.status != "active" or grant.expires_at <= now):
        _finish(item, now)
        return True
    if item.action == "revoke":
        other = active_grant_for_device(item.router, item.mac, now)
        if other is not None and other.id != grant.id:
            _finish(item, now)  # a newer purchase covers the device: keep it online
            return True
    try:
        if router is None:
            raise RouterError(f"router {item.router!r} is not configured", router=item.router)
        if item.action == "authorize":
            router.authorize(device_grant(grant, now))
            Grant.update(router_state="online").where(Grant.id == grant.id).execute()
            record(grant.payment_id, "router_authorized", services.clock, router=item.router, attempt=item.attempts + 1)
        else:
            router.revoke(item.mac)
            # A grant moved to another device since: its new device stays as it is.
            Grant.update(router_state="removed").where(Grant.id == grant.id, Grant.mac == item.mac).execute()
            record(grant.payment_id, "router_revoked", services.clock, router=item.router, attempt=item.attempts + 1)
    except RouterError as err:
        attempts = item.attempts + 1
        OutboxItem.update(
            attempts=attempts,
            next_attempt_at=now + _backoff(services, attempts),
            last_error=f"{err.key}: {err.message}"[:300],
        ).where(OutboxItem.id == item.id).execute()
        record(
            grant.payment_id,
            "router_error",
            services.clock,
            action=item.action,
            router=item.router,
            error=err.key,
            message=err.message,
            attempt=attempts,
        )
        log.warning("router %s %s failed (attempt %d): %s", item.router, item.action, attempts, err.message)
        return False
    # ``attempts`` counts router calls made, the one that worked included.
    OutboxItem.update(done_at=now, attempts=item.attempts + 1).where(OutboxItem.id == item.id).execute()
    return True


def _finish(item: OutboxItem, now: datetime) -> None:
    OutboxItem.update(done_at=now).where(OutboxItem.id == item.id).execute()


def process_outbox(services: Services, limit: int = 200) -> int:
    """Run every router operation whose time has come. Returns how many completed."""
    now = services.clock.now()
    due = (
        OutboxItem.select(OutboxItem.id, OutboxItem.router)
        .where(OutboxItem.done_at.is_null(), OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.next_attempt_at)
        .limit(limit)
    )
    done = 0
    unreachable: set[str] = set()
    for item in list(due):
        if item.router in unreachable:
            continue  # one timeout per router per pass, not one per waiting customer
        if run_outbox_item(services, item.id):
            done += 1
        elif OutboxItem.get_by_id(item.id).last_error.startswith(RouterUnreachable.key):
            unreachable.add(item.router)
    return done
