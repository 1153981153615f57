"""Expiry: ending grants when their paid time is up, and refilling Redis from the ledger."""

from __future__ import annotations

from portal.domain.context import Services
from portal.domain.grants import publish_live
from portal.domain.outbox import queue, run_outbox_item
from portal.ledger.models import Grant
from portal.ledger.timeline import record
from portal.live import LiveGrant


def expire_due(services: Services) -> int:
    """End every grant whose time is up: ledger, Redis, then the router. Returns the count."""
    now = services.clock.now()
    due_ids = set(services.live.due_grant_ids(now))
    due_ids.update(g.id for g in Grant.select(Grant.id).where(Grant.status == "active", Grant.expires_at <= now))
    expired = 0
    for grant_id in sorted(due_ids):
        grant = Grant.get_or_none(Grant.id == grant_id)
        if grant is None:
            continue
        if grant.expires_at > now and grant.status == "active":
            publish_live(services, grant)  # Redis was stale; the ledger wins
            continue
        changed = (
            Grant.update(status="expired", ended_at=now).where(Grant.id == grant.id, Grant.status == "active").execute()
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


def rebuild_live(services: Services) -> int:
    """Refill Redis from the ledger (after a Redis loss or at start)."""
    now = services.clock.now()
    active = Grant.select().where(Grant.status == "active", Grant.expires_at > now)
    # A stacked (future) grant shares the device; publish in expiry order so the
    # device key ends on the grant that lasts longest.
    sessions = [LiveGrant(g.id, g.router, g.mac, g.expires_at) for g in active.order_by(Grant.expires_at)]
    return services.live.rebuild(sessions)
