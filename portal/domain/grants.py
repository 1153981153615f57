"""Grants: paid time for one device, on the router, in Redis and in the ledger.

The ledger row is written first (inside the payment's transaction); the router call goes
through a durable outbox so a router that is down delays access instead of losing it.
Expiry is wall clock and ours: the sweep logs the device out on time.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from portal.live.store import LiveSession
from portal.ledger.models import Grant, OutboxItem, Payment
from portal.wiring import Services
from portal.ledger.timeline import record
from router import DeviceGrant, RouterError, RouterUnreachable

log = logging.getLogger(__name__)

ROUTER_BACKSTOP_MARGIN_SECONDS = 120  # router's limit-uptime outlives our own expiry a little


def active_grant_for_device(router: str, mac: str, now: datetime) -> Grant | None:
    """The grant that currently covers this device (the one ending last), if any."""
    return (
        Grant.select()
        .where(
            (Grant.router == router),
            (Grant.mac == mac),
            (Grant.status == "active"),
            (Grant.expires_at > now),
        )
        .order_by(Grant.expires_at.desc())
        .first()
    )


def create_for_payment(services: Services, payment: Payment, now: datetime) -> Grant:
    """Create the grant for a payment that just became paid (call inside its transaction).

    A second purchase for a device that still has time is stacked after the current
    grant, so a double payment extends the session instead of being lost.
    """
    package = payment.package
    current = active_grant_for_device(payment.router, payment.mac, now)
    starts_at = max(now, current.expires_at) if current else now
    grant = Grant.create(
        payment=payment,
        package=package,
        router=payment.router,
        mac=payment.mac,
        ip=payment.ip,
        starts_at=starts_at,
        expires_at=starts_at + timedelta(seconds=package.duration_seconds),
    )
    if current is not None:
        record(
            payment.id,
            "extended",
            services.clock,
            previous_grant=current.id,
            previous_payment=current.payment_id,
            new_expiry=grant.expires_at.isoformat(),
        )
    queue(grant, "authorize", now)
    return grant


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


def publish_live(services: Services, grant: Grant) -> None:
    services.live.put_session(grant.id, grant.router, grant.mac, grant.expires_at)


def _backoff(services: Services, attempts: int) -> timedelta:
    worker = services.settings.worker
    delay = min(worker.outbox_base_delay_seconds * (2 ** max(attempts - 1, 0)), worker.outbox_max_delay_seconds)
    return timedelta(seconds=delay)


def run_outbox_item(services: Services, item_id: int) -> bool:
    """Try one router operation now. True when it is done (or no longer needed)."""
    lock = services.live.redis.lock(f"p2c:lock:outbox:{item_id}", timeout=60, blocking=False)
    if not lock.acquire(blocking=False):
        return False
    try:
        return _run_outbox_item(services, item_id)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - lock expired; nothing to undo
            pass


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
    _finish(item, now)
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


def expire_due(services: Services) -> int:
    """End every grant whose time is up: ledger, Redis, then the router. Returns the count."""
    now = services.clock.now()
    due_ids = set(services.live.due_grant_ids(now))
    due_ids.update(
        g.id for g in Grant.select(Grant.id).where(Grant.status == "active", Grant.expires_at <= now)
    )
    expired = 0
    for grant_id in sorted(due_ids):
        grant = Grant.get_or_none(Grant.id == grant_id)
        if grant is None:
            continue
        if grant.expires_at > now and grant.status == "active":
            publish_live(services, grant)  # Redis was stale; the ledger wins
            continue
        changed = (
            Grant.update(status="expired", ended_at=now)
            .where(Grant.id == grant.id, Grant.status == "active")
            .execute()
        )
        services.live.drop_session(grant.id, grant.router, grant.mac)
        if not changed:
            continue
        expired += 1
        lateness = (now - grant.expires_at).total_seconds()
        record(grant.payment_id, "expired", services.clock, late_seconds=round(lateness, 3))
        item = queue(grant, "revoke", now)
        run_outbox_item(services, item.id)
    return expired


def end_grant(services: Services, grant: Grant, *, reason: str) -> bool:
    """End a grant before its time (admin kick). True if it was active."""
    now = services.clock.now()
    changed = (
        Grant.update(status="revoked", ended_at=now)
        .where(Grant.id == grant.id, Grant.status == "active")
        .execute()
    )
    services.live.drop_session(grant.id, grant.router, grant.mac)
    if changed:
        record(grant.payment_id, "revoked", services.clock, reason=reason)
        item = queue(grant, "revoke", now)
        run_outbox_item(services, item.id)
    return bool(changed)


def extend_grant(services: Services, grant: Grant, seconds: int, *, reason: str) -> Grant:
    """Give an active grant more time (admin goodwill) and refresh the router backstop."""
    now = services.clock.now()
    new_expiry = max(grant.expires_at, now) + timedelta(seconds=seconds)
    Grant.update(expires_at=new_expiry).where(Grant.id == grant.id).execute()
    grant = Grant.get_by_id(grant.id)
    publish_live(services, grant)
    record(grant.payment_id, "extended_by_admin", services.clock, seconds=seconds, reason=reason)
    item = queue(grant, "authorize", now)
    run_outbox_item(services, item.id)
    return grant


def resume_device(services: Services, router: str, mac: str, ip: str) -> Grant | None:
    """A device with time left came back to the splash page: log it in again."""
    now = services.clock.now()
    grant = active_grant_for_device(router, mac, now)
    if grant is None:
        return None
    if grant.ip != ip:
        Grant.update(ip=ip).where(Grant.id == grant.id).execute()
        grant = Grant.get_by_id(grant.id)
    pending = (
        OutboxItem.select()
        .where(OutboxItem.grant == grant, OutboxItem.action == "authorize", OutboxItem.done_at.is_null())
        .first()
    )
    item = pending or queue(grant, "authorize", now)
    run_outbox_item(services, item.id)
    return grant


def rebuild_live(services: Services) -> int:
    """Refill Redis from the ledger (after a Redis loss or at start)."""
    now = services.clock.now()
    active = Grant.select().where(Grant.status == "active", Grant.expires_at > now)
    # A stacked (future) grant shares the device; publish in expiry order so the
    # device key ends on the grant that lasts longest.
    sessions = [
        LiveSession(g.id, g.router, g.mac, g.expires_at)
        for g in active.order_by(Grant.expires_at)
    ]
    return services.live.rebuild(sessions)


def reconcile_router(services: Services, name: str) -> dict[str, int]:
    """Make one router match the ledger in both directions. Raises RouterError if unreachable."""
    router = services.router(name)
    if router is None:
        return {}
    now = services.clock.now()
    active = {
        g.mac: g
        for g in Grant.select()
        .where(Grant.router == name, Grant.status == "active", Grant.expires_at > now)
        .order_by(Grant.expires_at)
    }
    removed = restored = 0
    for user in router.managed_users():
        if user.mac and user.mac not in active:
            router.revoke(user.mac)
            removed += 1
    online = {s.mac for s in router.active_sessions()}
    for mac, grant in active.items():
        if mac in online:
            continue
        host = router.host_for_mac(mac)
        if host is None:
            continue  # device is away; it gets logged in when it comes back to the splash page
        if host.ip != grant.ip:
            Grant.update(ip=host.ip).where(Grant.id == grant.id).execute()
        item = queue(Grant.get_by_id(grant.id), "authorize", now)
        if run_outbox_item(services, item.id):
            restored += 1
    return {"removed": removed, "restored": restored}
